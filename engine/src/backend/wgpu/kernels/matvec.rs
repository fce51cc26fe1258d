//! The decode kernel of real GPUs (`matvec.wgsl`): y = f(x) W^T for a few
//! rows, 16-byte weight loads, the input row staged in workgroup memory
//! through a prologue f that fuses the operation before the layer into it.

use super::{dispatch, MatmulShape};
use crate::backend::wgpu::gpu::{Access, Gpu, Kernel};
use crate::backend::wgpu::recorder::{Kind, Recorder};

/// What the kernel does to its input row before the product.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(in crate::backend::wgpu) enum Prologue {
    /// The row as it is.
    Plain,
    /// Layer norm with this epsilon; gamma and beta are bound last.
    LayerNorm { eps: f64 },
    /// The attention output, combined from the split partials of `heads`
    /// heads in up to `splits` splits (x is the partials buffer).
    Combine { heads: usize, splits: usize },
}

/// Groups of 32 lanes per workgroup.
const GROUPS: u32 = 8;

/// Outputs per group: 8 where there are so many outputs (the logits: 786
/// workgroups for GPT-2's vocabulary) that workgroups are plenty even so;
/// one elsewhere, so that c_proj's few outputs (768 for gpt2) still spread
/// over ~100 workgroups.
fn rows_per_group(n: usize) -> u32 {
    if n >= 8192 {
        8
    } else {
        1
    }
}

pub(in crate::backend::wgpu) struct Matvec {
    kernel: Kernel,
    shape: MatmulShape,
    f16: bool,
    kind: Kind,
    /// Outputs per workgroup.
    outs: u32,
}

impl Matvec {
    pub fn new(gpu: &Gpu, shape: MatmulShape, prologue: Prologue, f16: bool, kind: Kind) -> Self {
        let rpg = rows_per_group(shape.n);
        let mut constants = shape.constants();
        constants.push(("RPG", rpg as f64));
        let mut bindings = shape.bindings();
        let first_extra = bindings.len();
        let prologue_source = match prologue {
            Prologue::Plain => include_str!("prologue_plain.wgsl").to_string(),
            Prologue::LayerNorm { eps } => {
                constants.push(("EPS", eps));
                bindings.extend([Access::Read, Access::Read]);
                include_str!("prologue_layer_norm.wgsl")
                    .replace("LN_B0", &first_extra.to_string())
                    .replace("LN_B1", &(first_extra + 1).to_string())
            }
            Prologue::Combine { heads, splits } => {
                constants.push(("H", heads as f64));
                constants.push(("D", (shape.k / heads) as f64));
                constants.push(("SPLITS", splits as f64));
                include_str!("prologue_combine.wgsl").to_string()
            }
        };
        // 16-byte loads where every weight row starts on a 4-value boundary.
        let weights = if shape.k.is_multiple_of(4) {
            "@group(0) @binding(2) var<storage, read> w: array<vec4<W>>;\n\
             fn w4(n: u32, q: u32) -> vec4<f32> {\n\
                 return vec4<f32>(w[n * (K / 4u) + q]);\n\
             }\n"
        } else {
            "@group(0) @binding(2) var<storage, read> w: array<W>;\n\
             fn w4(n: u32, q: u32) -> vec4<f32> {\n\
                 var v = vec4<f32>();\n\
                 for (var j = 0u; j < 4u; j++) {\n\
                     let k = 4u * q + j;\n\
                     if (k < K) {\n\
                         v[j] = f32(w[n * K + k]);\n\
                     }\n\
                 }\n\
                 return v;\n\
             }\n"
        };
        let body = format!(
            "{}\n{weights}\n{prologue_source}",
            include_str!("matvec.wgsl")
        );
        let kernel = gpu
            .kernel(
                "matvec",
                &shape.source(&body, f16),
                &["main"],
                &bindings,
                &constants,
            )
            .built();
        Matvec {
            kernel,
            shape,
            f16,
            kind,
            outs: GROUPS * rpg,
        }
    }

    /// Binds dims, x, w, b, y, then the keys and values (c_attn), then gamma
    /// and beta (a layer-norm prologue).
    pub fn bind(&self, gpu: &Gpu, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        gpu.bind(&self.kernel, buffers)
    }

    /// Records the product for `rows` rows (at most [`super::MATVEC_ROWS`]).
    pub fn encode(&self, rec: &mut Recorder<'_>, group: &wgpu::BindGroup, rows: u32) {
        let n = self.shape.n as u32;
        let bytes = self.shape.bytes(rows, self.f16);
        let pipeline = self.kernel.pipeline(0);
        dispatch(
            rec,
            self.kind,
            pipeline,
            group,
            (n.div_ceil(self.outs), rows),
            bytes,
        );
    }
}
