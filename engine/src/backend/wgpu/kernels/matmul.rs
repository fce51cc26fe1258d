//! y = x W^T with a fused epilogue (`matmul.wgsl`, `epilogue.wgsl`): the
//! tiled kernel for many rows, and the barrier-free row-dot kernel for few
//! rows on emulated GPUs. Real GPUs decode through [`super::Matvec`].

use super::{dispatch, source};
use crate::backend::wgpu::gpu::{Access, Gpu, Kernel};
use crate::backend::wgpu::recorder::{Kind, Recorder};

/// What happens to each output after the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::backend::wgpu) enum Epilogue {
    /// y = xW^T
    None = 0,
    /// y = xW^T + b
    Bias = 1,
    /// y = gelu(xW^T + b)
    Gelu = 2,
    /// y += xW^T + b
    Residual = 3,
}

/// The fixed shape of one linear layer.
#[derive(Debug, Clone, Copy)]
pub(in crate::backend::wgpu) struct MatmulShape {
    /// Inputs per row.
    pub k: usize,
    /// Outputs per row computed by this kernel.
    pub n: usize,
    /// Row stride of y.
    pub ldy: usize,
    /// First column of y written.
    pub col0: usize,
    pub epilogue: Epilogue,
    /// Rows are the logits rows of this pass (`out_n`), not every token.
    pub out_rows: bool,
    /// The outputs are c_attn's q, k, v: k and v also go into the KV cache
    /// (bound after y).
    pub kv: bool,
}

impl MatmulShape {
    /// A layer of `k` inputs and `n` outputs writing whole rows of y.
    pub fn linear(k: usize, n: usize, epilogue: Epilogue) -> Self {
        MatmulShape {
            k,
            n,
            ldy: n,
            col0: 0,
            epilogue,
            out_rows: false,
            kv: false,
        }
    }

    /// The pipeline constants every linear kernel reads.
    pub(super) fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("K", self.k as f64),
            ("N", self.n as f64),
            ("LDY", self.ldy as f64),
            ("COL0", self.col0 as f64),
            ("EPILOGUE", self.epilogue as u32 as f64),
            ("OUT_ROWS", if self.out_rows { 1.0 } else { 0.0 }),
        ]
    }

    /// Bindings: dims, x, w, b, y, then keys and values when `kv`.
    pub(super) fn bindings(&self) -> Vec<Access> {
        use Access::*;
        let mut b = vec![Uniform, Read, Read, Read, ReadWrite];
        if self.kv {
            b.extend([ReadWrite, ReadWrite]);
        }
        b
    }

    /// `body` with the epilogue and, for c_attn, the cache's store.
    pub(super) fn source(&self, body: &str, f16: bool) -> String {
        let store_kv = if self.kv {
            include_str!("store_kv.wgsl")
                .replace("KV_B0", "5")
                .replace("KV_B1", "6")
        } else {
            "fn store_kv(t: u32, n: u32, v: f32) {}\n".to_string()
        };
        source(
            &format!(
                "{}\n{body}\n{store_kv}\n{}",
                include_str!("linear.wgsl"),
                include_str!("epilogue.wgsl")
            ),
            f16,
        )
    }

    /// Bytes a pass over `rows` rows moves: the weights once, x and y.
    pub(super) fn bytes(&self, rows: u32, f16: bool) -> u64 {
        let w = (self.n * self.k * if f16 { 2 } else { 4 }) as u64;
        let kv = if self.kv { 2 * self.n / 3 } else { 0 };
        w + rows as u64 * 4 * (self.k + self.n + kv) as u64
    }
}

/// The entry points of `matmul.wgsl`, in the kernel's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::backend::wgpu) enum Path {
    Tiled = 0,
    RowDot = 1,
}

/// Rows up to which the matrix-vector kernels are used.
pub(in crate::backend::wgpu) const MATVEC_ROWS: u32 = 8;

pub(in crate::backend::wgpu) struct Matmul {
    kernel: Kernel,
    shape: MatmulShape,
    f16: bool,
    kind: Kind,
}

impl Matmul {
    pub fn new(gpu: &Gpu, shape: MatmulShape, f16: bool, kind: Kind) -> Self {
        let kernel = gpu.kernel(
            "matmul",
            &shape.source(include_str!("matmul.wgsl"), f16),
            &["tiled", "rowdot"],
            &shape.bindings(),
            &shape.constants(),
        );
        kernel.pipeline(Path::RowDot as usize);
        // Building the tiled kernel on a GPU emulated on a CPU takes half a
        // second (SwiftShader), five times a model, and only prompts of more
        // than MATVEC_ROWS tokens run it: there it is built when first used.
        // It pays for itself there too: on lavapipe, a 64-token prompt of
        // distilgpt2's shape reads at 52 tokens/s tiled, 17 with row dots.
        if !gpu.emulated_kernels {
            kernel.pipeline(Path::Tiled as usize);
        }
        Matmul {
            kernel,
            shape,
            f16,
            kind,
        }
    }

    /// Binds dims, x, w, b and y (and the keys and values for c_attn).
    pub fn bind(&self, gpu: &Gpu, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        gpu.bind(&self.kernel, buffers)
    }

    /// Records the product for `rows` rows (the same count the kernel reads
    /// from dims): tiled for many rows, row dots for few.
    pub fn encode(&self, rec: &mut Recorder<'_>, group: &wgpu::BindGroup, rows: u32) {
        let path = if rows > MATVEC_ROWS {
            Path::Tiled
        } else {
            Path::RowDot
        };
        self.encode_path(rec, group, rows, path);
    }

    /// Records the product with the given kernel.
    pub fn encode_path(
        &self,
        rec: &mut Recorder<'_>,
        group: &wgpu::BindGroup,
        rows: u32,
        path: Path,
    ) {
        let n = self.shape.n as u32;
        let bytes = self.shape.bytes(rows, self.f16);
        let pipeline = self.kernel.pipeline(path as usize);
        let workgroups = match path {
            Path::Tiled => (n.div_ceil(64), rows.div_ceil(64)),
            Path::RowDot => (n.div_ceil(256), rows),
        };
        dispatch(rec, self.kind, pipeline, group, workgroups, bytes);
    }
}
