//! Causal multi-head attention over the cache (`attention.wgsl`).

use super::{dispatch, source};
use crate::backend::wgpu::gpu::{Access, Gpu, Kernel};

/// Largest head size the kernel handles (64 threads x 4 values each).
pub(in crate::backend::wgpu) const MAX_HEAD_DIM: usize = 256;

pub(in crate::backend::wgpu) struct Attention {
    kernel: Kernel,
    heads: u32,
}

impl Attention {
    pub fn new(gpu: &Gpu, c: usize, heads: usize) -> Self {
        use Access::*;
        let kernel = gpu.kernel(
            "attention",
            &source(include_str!("attention.wgsl"), false),
            &["main"],
            &[Uniform, Read, Read, Read, ReadWrite],
            &[
                ("C", c as f64),
                ("H", heads as f64),
                ("D", (c / heads) as f64),
            ],
        );
        Attention {
            kernel,
            heads: heads as u32,
        }
    }

    /// Binds dims, qkv, the key and value caches, and the output.
    pub fn bind(&self, gpu: &Gpu, buffers: [&wgpu::Buffer; 5]) -> wgpu::BindGroup {
        gpu.bind(&self.kernel, &buffers)
    }

    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, group: &wgpu::BindGroup, tokens: u32) {
        dispatch(pass, &self.kernel.pipelines[0], group, tokens, self.heads);
    }
}
