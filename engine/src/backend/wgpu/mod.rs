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
mod weights;
mod workspace;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use cache::WgpuCache;
pub use gpu::{Gpu, GpuOptions};

use crate::backend::{check_forward, LanguageModel, Logits};
use crate::config::Gpt2Config;
use crate::weights::Gpt2Checkpoint;
use crate::{Error, Result};
use kernels::{
    Attention, Dims, Embed, Epilogue, KvAppend, KvGather, LayerNorm, Matmul, MatmulShape,
};
use weights::Weights;
use workspace::Workspace;

/// The GPU and the model's kernels, shared with its caches.
struct Shared {
    gpu: Gpu,
    config: Gpt2Config,
    /// Tells this model's caches from other models'.
    id: u64,
    k: ModelKernels,
}

/// One pipeline (or one per slice of `wte`) for each step of the pass.
struct ModelKernels {
    embed: Vec<Embed>,
    ln: LayerNorm,
    ln_f: LayerNorm,
    c_attn: Matmul,
    attn_proj: Matmul,
    c_fc: Matmul,
    mlp_proj: Matmul,
    logits: Vec<Matmul>,
    append: KvAppend,
    attention: Attention,
    gather: KvGather,
}

/// GPT-2 with its weights on a WebGPU device.
pub struct WgpuModel {
    shared: Arc<Shared>,
    weights: Weights,
    dims: wgpu::Buffer,
    workspace: RefCell<Option<Workspace>>,
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
        Self::load_on(gpu, ckpt, config).await
    }

    /// Loads the model onto a GPU already opened.
    pub async fn load_on(
        gpu: Gpu,
        ckpt: &Gpt2Checkpoint,
        config: &Gpt2Config,
    ) -> Result<WgpuModel> {
        let (c, heads) = (config.n_embd, config.n_head);
        if config.head_dim() > kernels::MAX_HEAD_DIM {
            return Err(Error::input(format!(
                "the wgpu backend handles heads of up to {} values; this model's are {}: \
                 use --device cpu",
                kernels::MAX_HEAD_DIM,
                config.head_dim()
            )));
        }
        let weights = gpu
            .scoped("loading the weights", || Weights::load(&gpu, ckpt, config))
            .await??;
        let f16 = weights.f16;
        let (inner, v, eps) = (
            config.n_inner(),
            config.vocab_size,
            config.layer_norm_epsilon,
        );
        let linear = |k, n, epilogue| {
            let shape = MatmulShape {
                k,
                n,
                ldy: n,
                col0: 0,
                epilogue,
                out_rows: false,
            };
            Matmul::new(&gpu, shape, f16)
        };
        let build = || ModelKernels {
            embed: weights
                .wte
                .iter()
                .map(|s| Embed::new(&gpu, c, s.v0, s.vn, f16))
                .collect(),
            ln: LayerNorm::new(&gpu, c, eps, false),
            ln_f: LayerNorm::new(&gpu, c, eps, true),
            c_attn: linear(c, 3 * c, Epilogue::Bias),
            attn_proj: linear(c, c, Epilogue::Residual),
            c_fc: linear(c, inner, Epilogue::Gelu),
            mlp_proj: linear(inner, c, Epilogue::Residual),
            logits: weights
                .wte
                .iter()
                .map(|s| {
                    let shape = MatmulShape {
                        k: c,
                        n: s.vn,
                        ldy: v,
                        col0: s.v0,
                        epilogue: Epilogue::None,
                        out_rows: true,
                    };
                    Matmul::new(&gpu, shape, f16)
                })
                .collect(),
            append: KvAppend::new(&gpu, c),
            attention: Attention::new(&gpu, c, heads),
            gather: KvGather::new(&gpu, c),
        };
        let k = gpu.scoped("building the shaders", build).await?;
        let shared = Shared {
            gpu,
            config: config.clone(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            k,
        };
        let dims = shared.gpu.uniform("dims", Dims::BYTES);
        Ok(WgpuModel {
            shared: Arc::new(shared),
            weights,
            dims,
            workspace: RefCell::new(None),
        })
    }

    /// The GPU's name and backend.
    pub fn device_info(&self) -> &str {
        &self.shared.gpu.info
    }

    /// Frees the model's GPU memory at once by destroying its device; every
    /// later call on the model or its caches returns an error.
    pub fn release(&self) {
        self.shared.gpu.device.destroy();
    }

    /// Whether the weights are kept in f16 on the GPU.
    pub fn f16_weights(&self) -> bool {
        self.weights.f16
    }

    /// Embeddings and every transformer block, into the residual stream `x`.
    fn encode_blocks(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        ws: &Workspace,
        cache: &WgpuCache,
        t: u32,
    ) {
        let s = &*self.shared;
        for (e, g) in s.k.embed.iter().zip(&ws.groups.embed) {
            e.encode(pass, g, t);
        }
        let cache_groups = cache.groups();
        for (layer, g) in ws.groups.blocks.iter().enumerate() {
            s.k.ln.encode(pass, &g.ln_1, t);
            s.k.c_attn.encode(pass, &g.c_attn, t);
            s.k.append.encode(pass, &cache_groups.append[layer], t);
            s.k.attention
                .encode(pass, &cache_groups.attention[layer], t);
            s.k.attn_proj.encode(pass, &g.attn_proj, t);
            s.k.ln.encode(pass, &g.ln_2, t);
            s.k.c_fc.encode(pass, &g.c_fc, t);
            s.k.mlp_proj.encode(pass, &g.mlp_proj, t);
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

    // The workspace's borrow is held across the readback on purpose: a second
    // pass started meanwhile (in the browser) gets an error instead.
    #[allow(clippy::await_holding_refcell_ref)]
    async fn forward(
        &self,
        cache: &mut WgpuCache,
        tokens: &[&[u32]],
        last: usize,
    ) -> Result<Logits> {
        let s = &*self.shared;
        let cfg = &s.config;
        let n = check_forward(cfg, cache.len, cache.rows, tokens, last)?;
        if cache.model != s.id {
            return Err(Error::input(
                "this cache was made by another model: use the model's own new_cache",
            ));
        }
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
        let mut slot = self.workspace.try_borrow_mut().map_err(|_| {
            Error::input("this model is already running a forward pass: wait for it to finish")
        })?;
        let ws = Workspace::ensure(&mut slot, s, &self.weights, &self.dims, t, block, out_total)?;
        let past = cache.len;
        cache.reserve(past + n)?;
        cache.bind(s, ws, &self.dims);
        let ids: Vec<u32> = tokens.iter().flat_map(|r| r.iter().copied()).collect();
        s.gpu.queue.write_buffer(&ws.ids, 0, &gpu::u32_bytes(&ids));
        let pass_dims = Dims {
            tokens: t as u32,
            fresh: n as u32,
            past: past as u32,
            cap: cache.cap() as u32,
            last: last as u32,
            ..Default::default()
        };
        let submitted = s
            .gpu
            .scoped("running the model", || {
                let mut out0 = 0;
                while out0 < out_total {
                    let out_n = block.min(out_total - out0);
                    let dims = Dims {
                        out0: out0 as u32,
                        out_n: out_n as u32,
                        ..pass_dims
                    };
                    s.gpu.queue.write_buffer(&self.dims, 0, &dims.bytes());
                    let mut encoder = s.gpu.device.create_command_encoder(&Default::default());
                    {
                        let mut pass = encoder.begin_compute_pass(&Default::default());
                        if out0 == 0 {
                            self.encode_blocks(&mut pass, ws, cache, t as u32);
                        }
                        s.k.ln_f.encode(&mut pass, &ws.groups.ln_f, out_n as u32);
                        for (m, g) in s.k.logits.iter().zip(&ws.groups.logits) {
                            m.encode(&mut pass, g, out_n as u32);
                        }
                    }
                    let bytes = (out_n * v * 4) as u64;
                    encoder.copy_buffer_to_buffer(
                        &ws.logits,
                        0,
                        &ws.staging,
                        (out0 * v * 4) as u64,
                        bytes,
                    );
                    s.gpu.queue.submit([encoder.finish()]);
                    out0 += out_n;
                }
            })
            .await;
        submitted?;
        let data = s.gpu.read(&ws.staging, out_total * v).await?;
        cache.len = past + n;
        Ok(Logits {
            rows,
            positions: last,
            vocab: v,
            data,
        })
    }
}
