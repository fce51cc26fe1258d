//! Token + position embeddings (`embed.wgsl`), one slice of `wte` at a time.

use super::{dispatch, source, Kind, Recorder};
use crate::backend::wgpu::gpu::{Access, Gpu, Kernel};

pub(in crate::backend::wgpu) struct Embed {
    kernel: Kernel,
    c: u32,
}

impl Embed {
    /// For embeddings of width `c` and the vocabulary slice `v0 .. v0 + vn`.
    pub fn new(gpu: &Gpu, c: usize, v0: usize, vn: usize, f16: bool) -> Self {
        use Access::*;
        let kernel = gpu
            .kernel(
                "embed",
                &source(include_str!("embed.wgsl"), f16),
                &["main"],
                &[Uniform, Read, Read, Read, ReadWrite],
                &[("C", c as f64), ("V0", v0 as f64), ("VN", vn as f64)],
            )
            .built();
        Embed {
            kernel,
            c: c as u32,
        }
    }

    /// Binds dims, ids, this slice of wte, wpe and the output x.
    pub fn bind(&self, gpu: &Gpu, buffers: [&wgpu::Buffer; 5]) -> wgpu::BindGroup {
        gpu.bind(&self.kernel, &buffers)
    }

    pub fn encode(&self, rec: &mut Recorder<'_>, group: &wgpu::BindGroup, tokens: u32) {
        let p = self.kernel.pipeline(0);
        dispatch(
            rec,
            Kind::Embeddings,
            p,
            group,
            (self.c.div_ceil(64), tokens),
            (tokens as u64) * self.c as u64 * 12,
        );
    }
}
