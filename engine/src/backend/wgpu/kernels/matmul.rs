//! y = x W^T with a fused epilogue (`matmul.wgsl`): the tiled kernel for
//! many rows, the matrix-vector kernel for decoding.

use super::{dispatch, source};
use crate::backend::wgpu::gpu::{Access, Gpu, Kernel};

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
}

/// The entry points of `matmul.wgsl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::backend::wgpu) enum Path {
    Tiled,
    Matvec,
    RowDot,
}

/// Rows up to which the matrix-vector kernels are used.
const MATVEC_ROWS: u32 = 8;

pub(in crate::backend::wgpu) struct Matmul {
    kernel: Kernel,
    n: u32,
    /// The GPU is emulated on a CPU: barrier-free kernels are faster there.
    emulated: bool,
}

impl Matmul {
    pub fn new(gpu: &Gpu, shape: MatmulShape, f16: bool) -> Self {
        use Access::*;
        let kernel = gpu.kernel(
            "matmul",
            &source(include_str!("matmul.wgsl"), f16),
            &["tiled", "matvec", "rowdot"],
            &[Uniform, Read, Read, Read, ReadWrite],
            &[
                ("K", shape.k as f64),
                ("N", shape.n as f64),
                ("LDY", shape.ldy as f64),
                ("COL0", shape.col0 as f64),
                ("EPILOGUE", shape.epilogue as u32 as f64),
                ("OUT_ROWS", if shape.out_rows { 1.0 } else { 0.0 }),
            ],
        );
        Matmul {
            kernel,
            n: shape.n as u32,
            emulated: gpu.emulated,
        }
    }

    /// Binds dims, x, w, b and y.
    pub fn bind(&self, gpu: &Gpu, buffers: [&wgpu::Buffer; 5]) -> wgpu::BindGroup {
        gpu.bind(&self.kernel, &buffers)
    }

    /// Records the product for `rows` rows (the same count the kernel reads
    /// from dims), with the kernel that suits the GPU and the row count.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, group: &wgpu::BindGroup, rows: u32) {
        let path = match (rows <= MATVEC_ROWS, self.emulated) {
            (false, _) => Path::Tiled,
            (true, false) => Path::Matvec,
            (true, true) => Path::RowDot,
        };
        self.encode_path(pass, group, rows, path);
    }

    /// Records the product with the given kernel.
    pub fn encode_path(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        group: &wgpu::BindGroup,
        rows: u32,
        path: Path,
    ) {
        let p = &self.kernel.pipelines;
        match path {
            Path::Tiled => dispatch(pass, &p[0], group, self.n.div_ceil(64), rows.div_ceil(64)),
            Path::Matvec => dispatch(pass, &p[1], group, self.n.div_ceil(8), rows),
            Path::RowDot => dispatch(pass, &p[2], group, self.n.div_ceil(256), rows),
        }
    }
}
