//! GPT-2 as hand-written WGSL compute shaders driven by `wgpu`: WebGPU in the
//! browser, Vulkan, Metal or DX12 natively.
//!
//! Everything is created once: pipelines at load, buffers and bind groups
//! when a pass needs more room than the last one (then reused). A forward
//! pass is one command submission (embeddings, every block, the final layer
//! norm, the logits and their copy for reading), and only the logits that
//! were asked for are read back.

mod cache;
mod gpu;
mod kernels;
mod model_kernels;
mod recorder;
mod weights;
mod workspace;

use std::cell::{Cell, OnceCell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use cache::WgpuCache;
pub use gpu::{Gpu, GpuOptions, KernelSet};

use crate::backend::{
    check_forward, check_top, DeviceWork, KernelTime, LanguageModel, Logits, Precision, TopLogits,
    MAX_TOP,
};
use crate::config::Gpt2Config;
use crate::weights::Gpt2Checkpoint;
use crate::{Error, Misuse, Result};
use kernels::{Dims, Summary, MATVEC_ROWS, SPAN};
use model_kernels::ModelKernels;
use recorder::{Profiler, Recorder};
use weights::Weights;
use workspace::Workspace;

/// The GPU and the model's kernels, shared with its caches.
struct Shared {
    gpu: Gpu,
    config: Gpt2Config,
    /// Tells this model's caches from other models'.
    id: u64,
    k: ModelKernels,
    weights: Weights,
}

/// What a pass reads back.
#[derive(Clone, Copy)]
enum Want<'a> {
    /// Every logits row.
    Rows,
    /// Per row the top `k` logits, the log-sum-exp and the logits of `extra`.
    Top { k: usize, extra: &'a [u32] },
}

enum PassOutput {
    Rows(Logits),
    Top(TopLogits),
}

/// GPT-2 with its weights on a WebGPU device.
pub struct WgpuModel {
    shared: Arc<Shared>,
    dims: wgpu::Buffer,
    workspace: RefCell<Option<Workspace>>,
    profiler: OnceCell<Option<Profiler>>,
    profiling: Cell<bool>,
}

/// Passes with more new tokens than this are refused (a dispatch dimension).
const MAX_TOKENS: usize = 65535;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl WgpuModel {
    /// Opens the GPU and loads the model onto it.
    pub async fn load(
        ckpt: &Gpt2Checkpoint,
        config: &Gpt2Config,
        options: &GpuOptions,
    ) -> Result<WgpuModel> {
        let gpu = Gpu::new(options).await?;
        Self::load_on(gpu, ckpt, config, Precision::F32).await
    }

    /// Loads the model onto a GPU already opened, its weight matrices in
    /// `precision` (f32, or f16 where the GPU has `shader-f16`; activations
    /// and arithmetic stay f32).
    pub async fn load_on(
        gpu: Gpu,
        ckpt: &Gpt2Checkpoint,
        config: &Gpt2Config,
        precision: Precision,
    ) -> Result<WgpuModel> {
        match precision {
            Precision::F32 => {}
            Precision::F16 if gpu.shader_f16 => {}
            Precision::F16 => {
                return Err(Error::input(format!(
                    "--dtype f16 on wgpu needs the GPU's shader-f16 feature, which {} lacks: \
                     leave out --dtype (f32)",
                    gpu.info
                )))
            }
            Precision::Bf16 => {
                return Err(Error::input(
                    "the wgpu backend has no bf16 (WebGPU shaders have no bf16 type): \
                     use --dtype f16 or f32, or --device cuda for bf16",
                ))
            }
        }
        if config.head_dim() > kernels::MAX_HEAD_DIM {
            return Err(Error::input(format!(
                "the wgpu backend handles heads of up to {} values; this model's are {}: \
                 use --device cpu",
                kernels::MAX_HEAD_DIM,
                config.head_dim()
            )));
        }
        let weights = gpu
            .scoped("loading the weights", || {
                Weights::load(&gpu, ckpt, config, precision == Precision::F16)
            })
            .await??;
        let k = gpu
            .scoped("building the shaders", || {
                ModelKernels::new(&gpu, config, &weights)
            })
            .await?;
        let dims = gpu.uniform("dims", Dims::BYTES);
        let shared = Shared {
            gpu,
            config: config.clone(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            k,
            weights,
        };
        Ok(WgpuModel {
            shared: Arc::new(shared),
            dims,
            workspace: RefCell::new(None),
            profiler: OnceCell::new(),
            profiling: Cell::new(false),
        })
    }

    /// The GPU's name and backend.
    pub fn device_info(&self) -> &str {
        &self.shared.gpu.info
    }

    /// Whether the adapter is a GPU emulated on the CPU (lavapipe, SwiftShader).
    pub fn emulated_adapter(&self) -> bool {
        self.shared.gpu.emulated
    }

    /// The kernel set in use: `gpu` or `emulated` (see [`KernelSet`]).
    pub fn kernel_set(&self) -> &'static str {
        if self.shared.k.fused.is_some() {
            "gpu"
        } else {
            "emulated"
        }
    }

    /// Frees the model's GPU memory at once by destroying its device; every
    /// later call on the model or its caches returns an error.
    pub fn release(&self) {
        self.shared.gpu.device.destroy();
    }

    /// Whether the weights are kept in f16 on the GPU.
    pub fn f16_weights(&self) -> bool {
        self.shared.weights.f16
    }

    /// Times every dispatch of the passes to come with timestamp queries;
    /// false where the adapter has none.
    pub fn start_profiling(&self) -> bool {
        let available = self
            .profiler
            .get_or_init(|| Profiler::new(&self.shared.gpu))
            .is_some();
        self.profiling.set(available);
        available
    }

    /// Stops timing dispatches (the totals not yet taken are kept).
    pub fn stop_profiling(&self) {
        self.profiling.set(false);
    }

    /// GPU time per kernel kind since the last call (empty unless profiling).
    pub fn take_profile(&self) -> Vec<KernelTime> {
        match self.profiler.get() {
            Some(Some(p)) => p.take(),
            _ => Vec::new(),
        }
    }

    fn active_profiler(&self) -> Option<&Profiler> {
        if !self.profiling.get() {
            return None;
        }
        self.profiler.get().and_then(Option::as_ref)
    }

    /// Embeddings and every transformer block, into the residual stream `x`:
    /// five fused dispatches a block when decoding on a real GPU.
    fn encode_blocks(
        &self,
        rec: &mut Recorder<'_>,
        ws: &Workspace,
        cache: &WgpuCache,
        d: &Dims,
    ) -> Result<()> {
        let s = &*self.shared;
        let t = d.tokens;
        let context = d.past + d.fresh;
        for (e, g) in s.k.embed.iter().zip(&ws.groups.embed) {
            e.encode(rec, g, t);
        }
        let cg = cache.groups()?;
        let fused = s.k.fused.as_ref().filter(|_| t <= MATVEC_ROWS);
        for (layer, g) in ws.groups.blocks.iter().enumerate() {
            match (fused, &ws.groups.fused, &cg.fused) {
                (Some(f), Some(fg), Some(fc)) => {
                    let fg = &fg[layer];
                    f.c_attn.encode(rec, &fc.c_attn[layer], t);
                    s.k.attention
                        .encode_split(rec, &fc.attention[layer], t, context, d.splits);
                    f.attn_proj.encode(rec, &fg.attn_proj, t);
                    f.c_fc.encode(rec, &fg.c_fc, t);
                    f.mlp_proj.encode(rec, &fg.mlp_proj, t);
                }
                _ => {
                    s.k.ln.encode(rec, &g.ln_1, t);
                    s.k.c_attn.encode(rec, &cg.c_attn[layer], t);
                    s.k.attention.encode(rec, &cg.attention[layer], t, context);
                    s.k.attn_proj.encode(rec, &g.attn_proj, t);
                    s.k.ln.encode(rec, &g.ln_2, t);
                    s.k.c_fc.encode(rec, &g.c_fc, t);
                    s.k.mlp_proj.encode(rec, &g.mlp_proj, t);
                }
            }
        }
        Ok(())
    }

    // The workspace's borrow is held across the readback on purpose: a second
    // pass started meanwhile (in the browser) gets an error instead.
    #[allow(clippy::await_holding_refcell_ref)]
    async fn pass(
        &self,
        cache: &mut WgpuCache,
        tokens: &[&[u32]],
        last: usize,
        want: Want<'_>,
    ) -> Result<PassOutput> {
        let s = &*self.shared;
        let cfg = &s.config;
        let n = check_forward(cfg, cache.len, cache.rows, tokens, last)?;
        if cache.model != s.id {
            return Err(Misuse::ForeignCache.into());
        }
        let (top_k, extra) = match want {
            Want::Rows => (0, &[][..]),
            Want::Top { k, extra } => (k.clamp(1, MAX_TOP.min(cfg.vocab_size)), extra),
        };
        check_top(cfg, extra)?;
        s.gpu.check()?;
        let rows = tokens.len();
        let t = rows * n;
        if t > MAX_TOKENS {
            return Err(Error::input(format!(
                "{t} new positions in one pass is more than the wgpu backend's {MAX_TOKENS}: \
                 use fewer rows or a shorter prompt"
            )));
        }
        let (v, out_total) = (cfg.vocab_size, rows * last);
        // Logits rows per pass: as many as fit one binding.
        let block = ((s.gpu.max_binding / (v as u64 * 4)) as usize).clamp(1, out_total);
        let mut slot = self
            .workspace
            .try_borrow_mut()
            .map_err(|_| Misuse::PassInFlight)?;
        let ws = Workspace::ensure(&mut slot, s, &self.dims, t, block, out_total)?;
        let past = cache.len;
        cache.grow(past + n)?;
        cache.bind(s, ws, &self.dims)?;
        let ids: Vec<u32> = tokens.iter().flat_map(|r| r.iter().copied()).collect();
        s.gpu
            .queue
            .write_buffer(&ws.ids, 0, bytemuck::cast_slice(&ids));
        if !extra.is_empty() {
            s.gpu
                .queue
                .write_buffer(&ws.extra_ids, 0, bytemuck::cast_slice(extra));
        }
        let stride = Summary::stride(top_k, extra.len());
        let pass_dims = Dims {
            tokens: t as u32,
            fresh: n as u32,
            past: past as u32,
            cap: cache.cap() as u32,
            last: last as u32,
            splits: (past + n).div_ceil(SPAN) as u32,
            top_k: top_k as u32,
            extra_n: extra.len() as u32,
            ..Default::default()
        };
        let profiler = self.active_profiler();
        let submitted = s
            .gpu
            .scoped("running the model", || -> Result<()> {
                let mut out0 = 0;
                while out0 < out_total {
                    let out_n = block.min(out_total - out0);
                    let dims = Dims {
                        out0: out0 as u32,
                        out_n: out_n as u32,
                        ..pass_dims
                    };
                    s.gpu
                        .queue
                        .write_buffer(&self.dims, 0, bytemuck::bytes_of(&dims));
                    let mut rec = Recorder::profiled(&s.gpu, profiler);
                    if out0 == 0 {
                        self.encode_blocks(&mut rec, ws, cache, &dims)?;
                    }
                    self.encode_logits(&mut rec, ws, t as u32, out_n as u32);
                    if top_k > 0 {
                        s.k.summary
                            .encode(&mut rec, &ws.groups.summary, out_n as u32);
                        if out0 + out_n == out_total {
                            let bytes = (out_total * stride * 4) as u64;
                            rec.copy(&ws.summary, 0, &ws.summary_staging, 0, bytes);
                        }
                    } else {
                        let bytes = (out_n * v * 4) as u64;
                        rec.copy(&ws.logits, 0, &ws.staging, (out0 * v * 4) as u64, bytes);
                    }
                    rec.submit();
                    out0 += out_n;
                }
                Ok(())
            })
            .await;
        submitted??;
        let out = if top_k > 0 {
            let words = s
                .gpu
                .read::<u32>(&ws.summary_staging, out_total * stride)
                .await?;
            PassOutput::Top(Summary::decode(&words, rows, last, top_k, extra))
        } else {
            let data = s.gpu.read(&ws.staging, out_total * v).await?;
            PassOutput::Rows(Logits {
                rows,
                positions: last,
                vocab: v,
                data,
            })
        };
        if let Some(p) = profiler {
            p.collect(&s.gpu).await?;
        }
        cache.len = past + n;
        Ok(out)
    }

    /// The final layer norm and the logits of `out_n` rows.
    fn encode_logits(&self, rec: &mut Recorder<'_>, ws: &Workspace, tokens: u32, out_n: u32) {
        let s = &*self.shared;
        let fused = s.k.fused.as_ref().filter(|_| tokens <= MATVEC_ROWS);
        match (fused, &ws.groups.fused_logits) {
            (Some(f), Some(groups)) => {
                for (m, g) in f.logits.iter().zip(groups) {
                    m.encode(rec, g, out_n);
                }
            }
            _ => {
                s.k.ln_f.encode(rec, &ws.groups.ln_f, out_n);
                for (m, g) in s.k.logits.iter().zip(&ws.groups.logits) {
                    m.encode(rec, g, out_n);
                }
            }
        }
    }
}

impl LanguageModel for WgpuModel {
    type Cache = WgpuCache;

    fn config(&self) -> &Gpt2Config {
        &self.shared.config
    }

    fn new_cache(&self, rows: usize) -> Result<WgpuCache> {
        WgpuCache::new(self.shared.clone(), rows)
    }

    fn device_work(&self) -> Option<DeviceWork> {
        Some(self.shared.gpu.work.snapshot())
    }

    async fn forward(
        &self,
        cache: &mut WgpuCache,
        tokens: &[&[u32]],
        last: usize,
    ) -> Result<Logits> {
        match self.pass(cache, tokens, last, Want::Rows).await? {
            PassOutput::Rows(logits) => Ok(logits),
            // `pass` answers in the form `want` asked for, always.
            PassOutput::Top(_) => unreachable!("rows were asked for"),
        }
    }

    async fn forward_top(
        &self,
        cache: &mut WgpuCache,
        tokens: &[&[u32]],
        last: usize,
        k: usize,
        extra: &[u32],
    ) -> Result<TopLogits> {
        let want = Want::Top { k, extra };
        match self.pass(cache, tokens, last, want).await? {
            PassOutput::Top(top) => Ok(top),
            // `pass` answers in the form `want` asked for, always.
            PassOutput::Rows(_) => unreachable!("a summary was asked for"),
        }
    }
}
