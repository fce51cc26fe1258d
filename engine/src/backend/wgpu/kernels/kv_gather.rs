//! Copies cache rows into a new cache (`kv_gather.wgsl`): reorder and growth.

use super::{dispatch, source, Kind, Recorder};
use crate::backend::wgpu::gpu::{Access, Gpu, Kernel};

/// What one gather copies: the uniform `Gather` of `kv_gather.wgsl`, field for
/// field (`tests_layout.rs` checks the offsets).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(in crate::backend::wgpu) struct Gather {
    pub len: u32,
    pub out_rows: u32,
    pub src_cap: u32,
    pub dst_cap: u32,
}

impl Gather {
    /// Size of the uniform buffer.
    pub const BYTES: u64 = std::mem::size_of::<Gather>() as u64;
}

pub(in crate::backend::wgpu) struct KvGather {
    kernel: Kernel,
    c: u32,
}

impl KvGather {
    pub fn new(gpu: &Gpu, c: usize) -> Self {
        use Access::*;
        let kernel = gpu
            .kernel(
                "kv_gather",
                &source(include_str!("kv_gather.wgsl"), false),
                &["main"],
                &[Uniform, Read, Read, Read, ReadWrite, ReadWrite],
                &[("C", c as f64)],
            )
            .built();
        KvGather {
            kernel,
            c: c as u32,
        }
    }

    /// Binds the gather's parameters, the row map, source keys and values,
    /// destination keys and values.
    pub fn bind(&self, gpu: &Gpu, buffers: [&wgpu::Buffer; 6]) -> wgpu::BindGroup {
        gpu.bind(&self.kernel, &buffers)
    }

    pub fn encode(&self, rec: &mut Recorder<'_>, group: &wgpu::BindGroup, g: Gather) {
        let x = (g.len * self.c).div_ceil(64);
        dispatch(
            rec,
            Kind::KvCopy,
            self.kernel.pipeline(0),
            group,
            (x, g.out_rows),
            (g.out_rows as u64) * (g.len as u64) * self.c as u64 * 16,
        );
    }
}
