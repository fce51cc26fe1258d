//! Recording a forward pass's GPU work: every dispatch, copy and submission
//! goes through a [`Recorder`], which counts them ([`WorkCounters`]) and,
//! when profiling, brackets each dispatch with timestamp queries
//! ([`Profiler`]) so that time and bytes can be summed per kernel kind.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::gpu::Gpu;
use crate::backend::{DeviceWork, KernelTime};
use crate::Result;

/// What a dispatch computes, for the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Embeddings,
    LayerNorm,
    /// A linear layer of a block (c_attn, c_proj, c_fc), with what is fused
    /// into it.
    Linear,
    Attention,
    /// The final layer norm's rows times the token embeddings.
    Logits,
    /// The top candidates and log-sum-exp of logits rows.
    Summary,
    /// Copying KV-cache rows (growth, beam reorder).
    KvCopy,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Embeddings => "embeddings",
            Kind::LayerNorm => "layer_norm",
            Kind::Linear => "linear",
            Kind::Attention => "attention",
            Kind::Logits => "logits",
            Kind::Summary => "summary",
            Kind::KvCopy => "kv_copy",
        }
    }
}

/// Running totals of the GPU work a device did since it was opened.
#[derive(Debug, Default)]
pub(super) struct WorkCounters {
    pub dispatches: AtomicU64,
    pub submissions: AtomicU64,
    pub readback_bytes: AtomicU64,
    pub buffers_created: AtomicU64,
    pub bind_groups_created: AtomicU64,
    /// Shared with the kernels, which build pipelines when first asked.
    pub pipelines_built: Arc<AtomicU64>,
}

impl WorkCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> DeviceWork {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DeviceWork {
            dispatches: get(&self.dispatches),
            submissions: get(&self.submissions),
            readback_bytes: get(&self.readback_bytes),
            buffers_created: get(&self.buffers_created),
            bind_groups_created: get(&self.bind_groups_created),
            pipelines_built: get(&self.pipelines_built),
        }
    }
}

/// Queries per profiled submission run: two timestamps per dispatch.
const MAX_QUERIES: u32 = 4096;

/// Timestamp queries around every dispatch of a forward pass, read back with
/// the logits and summed per [`Kind`].
pub(super) struct Profiler {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    staging: wgpu::Buffer,
    /// Nanoseconds per timestamp tick.
    period: f64,
    /// The dispatches of the pass being recorded: kind and bytes moved.
    pending: RefCell<Vec<(Kind, u64)>>,
    /// Per kind: seconds, bytes and dispatches, since the last take.
    totals: RefCell<Vec<KernelTime>>,
}

impl Profiler {
    /// A profiler, or `None` where the adapter has no timestamp queries.
    pub fn new(gpu: &Gpu) -> Option<Profiler> {
        if !gpu.timestamps {
            return None;
        }
        let queries = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count: MAX_QUERIES,
        });
        let bytes = MAX_QUERIES as u64 * 8;
        let resolved = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = gpu.staging(bytes);
        Some(Profiler {
            queries,
            resolved,
            staging,
            period: gpu.queue.get_timestamp_period() as f64,
            pending: RefCell::new(Vec::new()),
            totals: RefCell::new(Vec::new()),
        })
    }

    /// Reads the timestamps of the pass just submitted and adds them to the totals.
    pub async fn collect(&self, gpu: &Gpu) -> Result<()> {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if pending.is_empty() {
            return Ok(());
        }
        let words = gpu.read::<u32>(&self.staging, pending.len() * 4).await?;
        let mut totals = self.totals.borrow_mut();
        for (i, (kind, bytes)) in pending.iter().enumerate() {
            let stamp = |j: usize| words[j * 2] as u64 | (words[j * 2 + 1] as u64) << 32;
            let ticks = stamp(2 * i + 1).saturating_sub(stamp(2 * i));
            let seconds = ticks as f64 * self.period * 1e-9;
            match totals.iter_mut().find(|t| t.kind == kind.name()) {
                Some(t) => {
                    t.seconds += seconds;
                    t.bytes += bytes;
                    t.dispatches += 1;
                }
                None => totals.push(KernelTime {
                    kind: kind.name(),
                    seconds,
                    bytes: *bytes,
                    dispatches: 1,
                }),
            }
        }
        Ok(())
    }

    /// The totals per kind since the last call, leaving none.
    pub fn take(&self) -> Vec<KernelTime> {
        std::mem::take(&mut *self.totals.borrow_mut())
    }
}

/// One command encoder's worth of GPU work.
pub(super) struct Recorder<'a> {
    gpu: &'a Gpu,
    encoder: wgpu::CommandEncoder,
    pass: Option<wgpu::ComputePass<'static>>,
    profiler: Option<&'a Profiler>,
}

impl<'a> Recorder<'a> {
    pub fn new(gpu: &'a Gpu) -> Self {
        Recorder::profiled(gpu, None)
    }

    /// A recorder whose dispatches are timed by `profiler`, if given.
    pub fn profiled(gpu: &'a Gpu, profiler: Option<&'a Profiler>) -> Self {
        let encoder = gpu.device.create_command_encoder(&Default::default());
        Recorder {
            gpu,
            encoder,
            pass: None,
            profiler,
        }
    }

    /// Records one dispatch of `workgroups` (none when any is 0), which
    /// moves about `bytes` to or from memory.
    pub fn dispatch(
        &mut self,
        kind: Kind,
        pipeline: &wgpu::ComputePipeline,
        group: &wgpu::BindGroup,
        workgroups: [u32; 3],
        bytes: u64,
    ) {
        if workgroups.contains(&0) {
            return;
        }
        WorkCounters::add(&self.gpu.work.dispatches, 1);
        let timed = self.profiler.and_then(|p| {
            let mut pending = p.pending.borrow_mut();
            let index = pending.len() as u32;
            (2 * index + 2 <= MAX_QUERIES).then(|| {
                pending.push((kind, bytes));
                (p, index)
            })
        });
        // A timed dispatch gets a pass of its own, bracketed by timestamps.
        if let Some((p, index)) = timed {
            self.pass = None;
            let pass = self
                .encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(kind.name()),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: &p.queries,
                        beginning_of_pass_write_index: Some(2 * index),
                        end_of_pass_write_index: Some(2 * index + 1),
                    }),
                });
            self.pass = Some(pass.forget_lifetime());
        }
        let pass = self.pass.get_or_insert_with(|| {
            self.encoder
                .begin_compute_pass(&Default::default())
                .forget_lifetime()
        });
        let [x, y, z] = workgroups;
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, group, &[]);
        pass.dispatch_workgroups(x, y, z);
        if timed.is_some() {
            self.pass = None;
        }
    }

    /// Copies `bytes` from `src` at `from` to `dst` at `to`.
    pub fn copy(&mut self, src: &wgpu::Buffer, from: u64, dst: &wgpu::Buffer, to: u64, bytes: u64) {
        self.pass = None;
        self.encoder
            .copy_buffer_to_buffer(src, from, dst, to, bytes);
    }

    /// Submits everything recorded (and, when profiling, the resolve of the
    /// timestamps written so far into the profiler's staging buffer).
    pub fn submit(mut self) {
        self.pass = None;
        if let Some(p) = self.profiler {
            let queries = 2 * p.pending.borrow().len() as u32;
            if queries > 0 {
                self.encoder
                    .resolve_query_set(&p.queries, 0..queries, &p.resolved, 0);
                self.encoder.copy_buffer_to_buffer(
                    &p.resolved,
                    0,
                    &p.staging,
                    0,
                    queries as u64 * 8,
                );
            }
        }
        WorkCounters::add(&self.gpu.work.submissions, 1);
        self.gpu.queue.submit([self.encoder.finish()]);
    }
}
