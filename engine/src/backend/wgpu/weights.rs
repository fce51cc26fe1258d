//! GPT-2's weights on the GPU: linear weights transposed to `[out, in]`, the
//! token embeddings split into slices that each fit one storage binding, and
//! f16 kept as f16 where the GPU computes with it (widened in the shader, so
//! the arithmetic is the same as on f32 weights). `--dtype f16` rounds f32
//! checkpoints to f16 here: half the bytes to read per token, the arithmetic
//! still in f32.

use super::gpu::Gpu;
use crate::config::Gpt2Config;
use crate::weights::{transpose, Dtype, Gpt2Checkpoint, TensorView};
use crate::{Error, Result};

/// One slice of the token embeddings: rows `v0 .. v0 + vn`.
pub(super) struct WteSlice {
    pub v0: usize,
    pub vn: usize,
    pub buffer: wgpu::Buffer,
}

/// The weights of one transformer block.
pub(super) struct BlockWeights {
    pub ln_1: [wgpu::Buffer; 2],
    pub c_attn: [wgpu::Buffer; 2],
    pub attn_proj: [wgpu::Buffer; 2],
    pub ln_2: [wgpu::Buffer; 2],
    pub c_fc: [wgpu::Buffer; 2],
    pub mlp_proj: [wgpu::Buffer; 2],
}

pub(super) struct Weights {
    /// Whether the matrices (wte, wpe, linear weights) are f16.
    pub f16: bool,
    pub wte: Vec<WteSlice>,
    pub wpe: wgpu::Buffer,
    pub blocks: Vec<BlockWeights>,
    pub ln_f: [wgpu::Buffer; 2],
}

/// The matrices that may stay in f16.
fn matrices(config: &Gpt2Config) -> Vec<String> {
    let mut names = vec!["wte.weight".to_string(), "wpe.weight".to_string()];
    for i in 0..config.n_layer {
        for kind in ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"] {
            names.push(format!("h.{i}.{kind}.weight"));
        }
    }
    names
}

impl Weights {
    /// The checkpoint's weights, the matrices in f16 when `half` is asked
    /// (the GPU must have `shader-f16`) or already f16 in the checkpoint.
    pub fn load(
        gpu: &Gpu,
        ckpt: &Gpt2Checkpoint,
        config: &Gpt2Config,
        half: bool,
    ) -> Result<Weights> {
        let mut all_f16 = true;
        for name in matrices(config) {
            all_f16 &= ckpt.tensor(&name)?.dtype == Dtype::F16;
        }
        let f16 = (all_f16 || half) && gpu.shader_f16;
        let (c, v, inner) = (config.n_embd, config.vocab_size, config.n_inner());
        let elem = if f16 { 2 } else { 4 };
        let row_bytes = (c * elem) as u64;
        if row_bytes > gpu.max_binding {
            return Err(Error::Backend(format!(
                "one embedding row ({row_bytes} bytes) does not fit a GPU binding of {} bytes",
                gpu.max_binding
            )));
        }
        let per_slice = ((gpu.max_binding / row_bytes) as usize).min(v);
        let wte_view = ckpt.tensor("wte.weight")?;
        let wte_matrix = matrix(&wte_view, f16, None);
        let wte_bytes = wte_matrix.bytes();
        let wte = (0..v)
            .step_by(per_slice)
            .map(|v0| {
                let vn = per_slice.min(v - v0);
                let bytes = &wte_bytes[v0 * c * elem..(v0 + vn) * c * elem];
                WteSlice {
                    v0,
                    vn,
                    buffer: gpu.upload("wte", bytes),
                }
            })
            .collect();
        drop(wte_matrix);
        let wpe = gpu.upload(
            "wpe",
            matrix(&ckpt.tensor("wpe.weight")?, f16, None).bytes(),
        );
        let vector =
            |name: &str| -> Result<wgpu::Buffer> { Ok(gpu.upload(name, &ckpt.f32(name)?)) };
        // Conv1D weights are [in, out]; the kernels want [out, in].
        let linear = |name: &str, d_in: usize, d_out: usize| -> Result<[wgpu::Buffer; 2]> {
            let w = matrix(
                &ckpt.tensor(&format!("{name}.weight"))?,
                f16,
                Some((d_in, d_out)),
            );
            Ok([
                gpu.upload(name, w.bytes()),
                vector(&format!("{name}.bias"))?,
            ])
        };
        let norm = |name: &str| -> Result<[wgpu::Buffer; 2]> {
            Ok([
                vector(&format!("{name}.weight"))?,
                vector(&format!("{name}.bias"))?,
            ])
        };
        let mut blocks = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let p = |n: &str| format!("h.{i}.{n}");
            blocks.push(BlockWeights {
                ln_1: norm(&p("ln_1"))?,
                c_attn: linear(&p("attn.c_attn"), c, 3 * c)?,
                attn_proj: linear(&p("attn.c_proj"), c, c)?,
                ln_2: norm(&p("ln_2"))?,
                c_fc: linear(&p("mlp.c_fc"), c, inner)?,
                mlp_proj: linear(&p("mlp.c_proj"), inner, c)?,
            });
        }
        Ok(Weights {
            f16,
            wte,
            wpe,
            blocks,
            ln_f: norm("ln_f")?,
        })
    }
}

/// A matrix as the GPU keeps it.
enum Matrix {
    F16(Vec<half::f16>),
    F32(Vec<f32>),
}

impl Matrix {
    fn bytes(&self) -> &[u8] {
        match self {
            Matrix::F16(v) => bytemuck::cast_slice(v),
            Matrix::F32(v) => bytemuck::cast_slice(v),
        }
    }
}

/// A matrix as the GPU keeps it (f16 as it is when `f16`, else f32),
/// transposed from `[rows, cols]` to `[cols, rows]` when asked.
fn matrix(view: &TensorView<'_>, f16: bool, transpose_from: Option<(usize, usize)>) -> Matrix {
    fn maybe_transposed<T: Copy + Default>(v: Vec<T>, from: Option<(usize, usize)>) -> Vec<T> {
        match from {
            Some((rows, cols)) => transposed(&v, rows, cols),
            None => v,
        }
    }
    if f16 {
        let halves: Vec<half::f16> = if view.dtype == Dtype::F16 {
            // The file's bytes need not be 2-byte aligned: copied out.
            bytemuck::pod_collect_to_vec(view.bytes)
        } else {
            view.to_f32().into_iter().map(half::f16::from_f32).collect()
        };
        Matrix::F16(maybe_transposed(halves, transpose_from))
    } else {
        Matrix::F32(maybe_transposed(view.to_f32(), transpose_from))
    }
}

/// `src (rows, cols)ᵀ` as a new vector.
fn transposed<T: Copy + Default>(src: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut dst = vec![T::default(); src.len()];
    transpose(src, rows, cols, &mut dst);
    dst
}
