//! Causal multi-head attention over the cache: every new position walking
//! its whole context (`attention.wgsl`, the prompt and emulated GPUs), or,
//! for decoding on real GPUs, the context split into spans whose partial
//! softmaxes c_proj's prologue combines (`attention_split.wgsl`).

use super::{source, Recorder};
use crate::backend::wgpu::gpu::{Access, Gpu, Kernel};
use crate::backend::wgpu::recorder::Kind;

/// Largest head size the kernels handle.
pub(in crate::backend::wgpu) const MAX_HEAD_DIM: usize = 256;

/// Context positions per split of decode attention.
pub(in crate::backend::wgpu) const SPAN: usize = 256;

pub(in crate::backend::wgpu) struct Attention {
    whole: Kernel,
    split: Kernel,
    heads: u32,
    c: u64,
}

impl Attention {
    /// For `heads` heads of width `c / heads`, and decode attention in up to
    /// `splits` spans of [`SPAN`] positions.
    pub fn new(gpu: &Gpu, c: usize, heads: usize, splits: usize) -> Self {
        use Access::*;
        let bindings = [Uniform, Read, Read, Read, ReadWrite];
        let constants = [
            ("C", c as f64),
            ("H", heads as f64),
            ("D", (c / heads) as f64),
        ];
        let whole = gpu
            .kernel(
                "attention",
                &source(include_str!("attention.wgsl"), false),
                &["main"],
                &bindings,
                &constants,
            )
            .built();
        let mut split_constants = constants.to_vec();
        split_constants.push(("SPLITS", splits as f64));
        // Only real GPUs' decode runs the split kernel; on GPUs emulated on
        // a CPU, where building it takes half a second, it is never built.
        let split = gpu.kernel(
            "attention_split",
            &source(include_str!("attention_split.wgsl"), false),
            &["main"],
            &bindings,
            &split_constants,
        );
        if !gpu.emulated_kernels {
            split.pipeline(0);
        }
        Attention {
            whole,
            split,
            heads: heads as u32,
            c: c as u64,
        }
    }

    /// Binds dims, qkv, the key and value caches, and the output `[tokens, C]`.
    pub fn bind(&self, gpu: &Gpu, buffers: [&wgpu::Buffer; 5]) -> wgpu::BindGroup {
        gpu.bind(&self.whole, &buffers)
    }

    /// Binds dims, qkv, the key and value caches, and the partials
    /// `[tokens, H, splits, D + 2]`.
    pub fn bind_split(&self, gpu: &Gpu, buffers: [&wgpu::Buffer; 5]) -> wgpu::BindGroup {
        gpu.bind(&self.split, &buffers)
    }

    /// Bytes read for `tokens` new positions over up to `context` positions.
    fn bytes(&self, tokens: u32, context: u32) -> u64 {
        tokens as u64 * self.c * 4 * (2 * context as u64 + 2)
    }

    /// Every new position over its whole context.
    pub fn encode(
        &self,
        rec: &mut Recorder<'_>,
        group: &wgpu::BindGroup,
        tokens: u32,
        context: u32,
    ) {
        let bytes = self.bytes(tokens, context);
        let pipeline = self.whole.pipeline(0);
        rec.dispatch(
            Kind::Attention,
            pipeline,
            group,
            [tokens, self.heads, 1],
            bytes,
        );
    }

    /// Every new position over its context in `splits` spans.
    pub fn encode_split(
        &self,
        rec: &mut Recorder<'_>,
        group: &wgpu::BindGroup,
        tokens: u32,
        context: u32,
        splits: u32,
    ) {
        let bytes = self.bytes(tokens, context);
        let pipeline = self.split.pipeline(0);
        let workgroups = [splits, self.heads, tokens];
        rec.dispatch(Kind::Attention, pipeline, group, workgroups, bytes);
    }
}
