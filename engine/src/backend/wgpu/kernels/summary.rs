//! The top logits, log-sum-exp and named logits of each logits row
//! (`summary.wgsl`): what greedy decoding reads back instead of the row.

use super::{dispatch, source, Kind, Recorder};
use crate::backend::wgpu::gpu::{Access, Gpu, Kernel};

pub(in crate::backend::wgpu) struct Summary {
    kernel: Kernel,
    v: u64,
}

impl Summary {
    pub fn new(gpu: &Gpu, vocab: usize) -> Self {
        use Access::*;
        let kernel = gpu.kernel(
            "summary",
            &source(include_str!("summary.wgsl"), false),
            &["main"],
            &[Uniform, Read, Read, ReadWrite],
            &[("V", vocab as f64)],
        );
        Summary {
            kernel,
            v: vocab as u64,
        }
    }

    /// u32s per row of output for `k` candidates and `extra` ids.
    pub fn stride(k: usize, extra: usize) -> usize {
        1 + 2 * k + extra
    }

    /// Binds dims, the logits block, the extra ids and the output.
    pub fn bind(&self, gpu: &Gpu, buffers: [&wgpu::Buffer; 4]) -> wgpu::BindGroup {
        gpu.bind(&self.kernel, &buffers)
    }

    pub fn encode(&self, rec: &mut Recorder<'_>, group: &wgpu::BindGroup, rows: u32) {
        let bytes = rows as u64 * self.v * 4;
        let pipeline = &self.kernel.pipelines[0];
        dispatch(rec, Kind::Summary, pipeline, group, (rows, 1), bytes);
    }
}
