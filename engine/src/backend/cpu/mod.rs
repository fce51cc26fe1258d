//! GPT-2 on the CPU, natively and in WebAssembly: hand-written kernels and a
//! team of threads that stays up for the whole forward pass.
//!
//! A pass is one job on the [`team::Team`]: every thread runs the same
//! sequence of steps, each taking its share of the work (output columns of a
//! product, positions of a layer norm, heads of attention), with a barrier
//! between steps. The products ([`kernels`]) read each weight row once per
//! pass whatever the number of input rows, in f32, bf16 or f16 (widened as
//! they are loaded: half the bytes per token), at the CPU's widest vectors.
//! Activations, sums and the KV cache are f32.
//!
//! The model follows `transformers`' `modeling_gpt2.py` and keeps its names.

mod activations;
mod cache;
mod hidden;
mod kernel_path;
mod kernels;
mod ops;
mod pass;
mod team;
mod weights;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use cache::CpuCache;
pub use kernels::KernelPath;
pub use team::{global_started as team_started, Spawn};

/// Makes the process's CPU team `threads` threads, those beyond the caller's
/// started by `spawn` (Web Workers, in a browser), before any CPU model is
/// made; returns the team's size. Wait until [`team_started`] reaches it
/// before running a model. The kernels' one-time set-up runs here, on the
/// calling thread: in a browser that thread may not wait for a worker.
pub fn start_team(threads: usize, spawn: Spawn) -> usize {
    kernels::warm_up();
    team::start_global(threads, spawn)
}

use crate::backend::{
    check_forward, check_hidden, Hidden, HiddenRequest, LanguageModel, Logits, Precision,
};
use crate::config::Gpt2Config;
use crate::weights::Gpt2Checkpoint;
use crate::Result;
use hidden::Capture;
use pass::Pass;
use team::{SharedMut, Team};
use weights::{Matrix, Store, StoreBuilder};

/// Layer norm parameters.
struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Norm {
    fn load(ckpt: &Gpt2Checkpoint, name: &str) -> Result<Self> {
        Ok(Norm {
            weight: ckpt.f32(&format!("{name}.weight"))?,
            bias: ckpt.f32(&format!("{name}.bias"))?,
        })
    }
}

/// A linear layer: a matrix of the store and its f32 bias.
struct Linear {
    weight: Matrix,
    bias: Vec<f32>,
}

struct Block {
    ln_1: Norm,
    c_attn: Linear,
    attn_proj: Linear,
    ln_2: Norm,
    c_fc: Linear,
    mlp_proj: Linear,
}

/// GPT-2 with its weights in memory, run by the CPU kernels.
pub struct CpuModel {
    config: Gpt2Config,
    precision: Precision,
    path: KernelPath,
    team: &'static Team,
    store: Store,
    wte: Matrix, // (V, C), also the tied lm_head
    wpe: Vec<f32>,
    blocks: Vec<Block>,
    ln_f: Norm,
    /// The activation buffers of a pass, kept for the next.
    buffers: std::sync::Mutex<[Vec<f32>; 6]>,
}

impl CpuModel {
    /// Builds the model from a checked checkpoint: the weight matrices are
    /// held in `precision`, everything else in f32.
    pub fn load(ckpt: &Gpt2Checkpoint, config: &Gpt2Config, precision: Precision) -> Result<Self> {
        let path = KernelPath::detect()?;
        let (c, inner, v) = (config.n_embd, config.n_inner(), config.vocab_size);
        let per_layer = c * 3 * c + c * c + c * inner + inner * c;
        let mut store = StoreBuilder::new(ckpt, v * c + config.n_layer * per_layer, precision);
        let wte = store.rows("wte.weight", v, c)?;
        let mut blocks = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let p = |n: &str| format!("h.{i}.{n}");
            let mut linear = |name: &str, d_in, d_out| -> Result<Linear> {
                Ok(Linear {
                    weight: store.conv1d(&p(&format!("{name}.weight")), d_in, d_out)?,
                    bias: ckpt.f32(&p(&format!("{name}.bias")))?,
                })
            };
            let c_attn = linear("attn.c_attn", c, 3 * c)?;
            let attn_proj = linear("attn.c_proj", c, c)?;
            let c_fc = linear("mlp.c_fc", c, inner)?;
            let mlp_proj = linear("mlp.c_proj", inner, c)?;
            blocks.push(Block {
                ln_1: Norm::load(ckpt, &p("ln_1"))?,
                c_attn,
                attn_proj,
                ln_2: Norm::load(ckpt, &p("ln_2"))?,
                c_fc,
                mlp_proj,
            });
        }
        Ok(CpuModel {
            config: config.clone(),
            precision,
            path,
            team: Team::global(),
            store: store.finish(),
            wte,
            wpe: ckpt.f32("wpe.weight")?,
            blocks,
            ln_f: Norm::load(ckpt, "ln_f")?,
            buffers: Default::default(),
        })
    }

    /// The number format of the weight matrices.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The kernels in use.
    pub fn kernel_path(&self) -> KernelPath {
        self.path
    }

    /// Threads a forward pass runs on.
    pub fn threads(&self) -> usize {
        self.team.threads()
    }

    /// Bytes of weight matrices, read once per forward pass.
    pub fn weight_bytes(&self) -> usize {
        self.store.bytes()
    }

    fn pass(
        &self,
        cache: &mut CpuCache,
        tokens: &[&[u32]],
        last: usize,
        want: &HiddenRequest,
    ) -> Result<Hidden> {
        let cfg = &self.config;
        let n = check_forward(cfg, cache.len, cache.rows, tokens, last)?;
        check_hidden(cfg, want, n)?;
        let (rows, c, vocab) = (tokens.len(), cfg.n_embd, cfg.vocab_size);
        let past = cache.len;
        cache.grow(past + n);
        let t = rows * n;
        let ids: Vec<u32> = tokens.iter().flat_map(|t| t.iter().copied()).collect();
        // Activations live in buffers kept from pass to pass (every step
        // writes all of what it later reads); the logits are the caller's.
        let mut kept = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        let sizes = [
            t * c,             // x: the residual stream
            t * c,             // h: a layer norm's output
            t * 3 * c,         // qkv
            t * c,             // attention's output
            t * cfg.n_inner(), // the MLP's hidden layer
            rows * last * c,   // the final norm of the last positions
        ];
        for (b, size) in kept.iter_mut().zip(sizes) {
            b.resize(size, 0.0);
        }
        let mut data = vec![0f32; rows * last * vocab];
        let [x, h, qkv, att, fc, hf] = kept.each_mut().map(|b| SharedMut::new(b));
        let logits = SharedMut::new(&mut data);
        let positions = if want.layers.is_empty() {
            0
        } else {
            want.positions
        };
        let mut states = vec![0f32; want.layers.len() * rows * positions * c];
        let mut head_in = vec![0f32; want.heads.len() * rows * last * c];
        let mut head_logits = vec![0f32; want.heads.len() * rows * last * vocab];
        let asked = !(want.layers.is_empty() && want.heads.is_empty());
        let capture = asked.then(|| Capture {
            want,
            states: SharedMut::new(&mut states),
            head_in: SharedMut::new(&mut head_in),
            head_logits: SharedMut::new(&mut head_logits),
        });
        let kv: Vec<(SharedMut<f32>, SharedMut<f32>)> = cache
            .k
            .iter_mut()
            .zip(cache.vt.iter_mut())
            .map(|(k, vt)| (SharedMut::new(k), SharedMut::new(vt)))
            .collect();
        let pass = Pass {
            model: self,
            ids: &ids,
            rows,
            n,
            past,
            last,
            capacity: cache.capacity,
            x,
            h,
            qkv,
            att,
            fc,
            hf,
            logits,
            kv,
            capture,
        };
        self.team.run(&|ctx| pass.run(ctx))?;
        cache.len = past + n;
        let as_logits = |data| Logits {
            rows,
            positions: last,
            vocab,
            data,
        };
        let heads = match want.heads.len() {
            0 => Vec::new(),
            h => head_logits
                .chunks(head_logits.len() / h)
                .map(|d| as_logits(d.to_vec()))
                .collect(),
        };
        Ok(Hidden {
            logits: as_logits(data),
            layers: want.layers.to_vec(),
            rows,
            positions,
            n_embd: c,
            states,
            heads,
        })
    }
}

impl LanguageModel for CpuModel {
    type Cache = CpuCache;

    fn config(&self) -> &Gpt2Config {
        &self.config
    }

    fn new_cache(&self, rows: usize) -> Result<CpuCache> {
        CpuCache::new(&self.config, rows)
    }

    async fn forward(
        &self,
        cache: &mut CpuCache,
        tokens: &[&[u32]],
        last: usize,
    ) -> Result<Logits> {
        Ok(self
            .pass(cache, tokens, last, &HiddenRequest::default())?
            .logits)
    }

    async fn forward_hidden(
        &self,
        cache: &mut CpuCache,
        tokens: &[&[u32]],
        last: usize,
        want: &HiddenRequest<'_>,
    ) -> Result<Hidden> {
        self.pass(cache, tokens, last, want)
    }
}
