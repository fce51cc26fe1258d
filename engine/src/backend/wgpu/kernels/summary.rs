//! The top logits, log-sum-exp and named logits of each logits row
//! (`summary.wgsl`): what greedy decoding reads back instead of the row.

use super::{dispatch, source, Kind, Recorder};
use crate::backend::wgpu::gpu::{Access, Gpu, Kernel};
use crate::backend::TopLogits;

pub(in crate::backend::wgpu) struct Summary {
    kernel: Kernel,
    v: u64,
}

impl Summary {
    pub fn new(gpu: &Gpu, vocab: usize) -> Self {
        use Access::*;
        let kernel = gpu
            .kernel(
                "summary",
                &source(include_str!("summary.wgsl"), false),
                &["main"],
                &[Uniform, Read, Read, ReadWrite],
                &[("V", vocab as f64)],
            )
            .built();
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
        let pipeline = self.kernel.pipeline(0);
        dispatch(rec, Kind::Summary, pipeline, group, (rows, 1), bytes);
    }

    /// The kernel's output, `[rows * last, 1 + 2k + extra]` u32s, as a summary.
    pub fn decode(words: &[u32], rows: usize, last: usize, k: usize, extra: &[u32]) -> TopLogits {
        let stride = Summary::stride(k, extra.len());
        let mut top = TopLogits {
            rows,
            positions: last,
            k,
            ids: Vec::with_capacity(rows * last * k),
            logits: Vec::with_capacity(rows * last * k),
            log_sum_exp: Vec::with_capacity(rows * last),
            extra: Vec::with_capacity(rows * last * extra.len()),
            extra_ids: extra.to_vec(),
        };
        for row in words.chunks(stride) {
            top.log_sum_exp.push(f32::from_bits(row[0]));
            top.ids.extend_from_slice(&row[1..1 + k]);
            top.logits
                .extend(row[1 + k..1 + 2 * k].iter().map(|&w| f32::from_bits(w)));
            top.extra
                .extend(row[1 + 2 * k..].iter().map(|&w| f32::from_bits(w)));
        }
        top
    }
}
