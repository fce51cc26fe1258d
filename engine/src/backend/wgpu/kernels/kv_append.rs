//! Writes the new keys and values into the cache (`kv_append.wgsl`).

use super::{dispatch, source};
use crate::backend::wgpu::gpu::{Access, Gpu, Kernel};

pub(in crate::backend::wgpu) struct KvAppend {
    kernel: Kernel,
    c: u32,
}

impl KvAppend {
    pub fn new(gpu: &Gpu, c: usize) -> Self {
        use Access::*;
        let kernel = gpu.kernel(
            "kv_append",
            &source(include_str!("kv_append.wgsl"), false),
            &["main"],
            &[Uniform, Read, ReadWrite, ReadWrite],
            &[("C", c as f64)],
        );
        KvAppend {
            kernel,
            c: c as u32,
        }
    }

    /// Binds dims, qkv, and the key and value caches.
    pub fn bind(&self, gpu: &Gpu, buffers: [&wgpu::Buffer; 4]) -> wgpu::BindGroup {
        gpu.bind(&self.kernel, &buffers)
    }

    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, group: &wgpu::BindGroup, tokens: u32) {
        dispatch(
            pass,
            &self.kernel.pipelines[0],
            group,
            self.c.div_ceil(64),
            tokens,
        );
    }
}
