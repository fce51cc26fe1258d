//! Layer norm (`layer_norm.wgsl`).

use super::{dispatch, source, Kind, Recorder};
use crate::backend::wgpu::gpu::{Access, Gpu, Kernel};

pub(in crate::backend::wgpu) struct LayerNorm {
    kernel: Kernel,
    c: u64,
}

impl LayerNorm {
    /// Over rows of width `c`; `select` normalises only the rows whose logits
    /// are computed (the final layer norm).
    pub fn new(gpu: &Gpu, c: usize, eps: f64, select: bool) -> Self {
        use Access::*;
        let kernel = gpu
            .kernel(
                "layer_norm",
                &source(include_str!("layer_norm.wgsl"), false),
                &["main"],
                &[Uniform, Read, Read, Read, ReadWrite],
                &[
                    ("C", c as f64),
                    ("EPS", eps),
                    ("SELECT", if select { 1.0 } else { 0.0 }),
                ],
            )
            .built();
        LayerNorm {
            kernel,
            c: c as u64,
        }
    }

    /// Binds dims, x, gamma, beta and the output y.
    pub fn bind(&self, gpu: &Gpu, buffers: [&wgpu::Buffer; 5]) -> wgpu::BindGroup {
        gpu.bind(&self.kernel, &buffers)
    }

    pub fn encode(&self, rec: &mut Recorder<'_>, group: &wgpu::BindGroup, rows: u32) {
        dispatch(
            rec,
            Kind::LayerNorm,
            self.kernel.pipeline(0),
            group,
            (rows, 1),
            (rows as u64) * self.c * 12,
        );
    }
}
