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
mod kernel_path;
mod kernels;
mod ops;
mod team;
mod weights;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use cache::CpuCache;
pub use kernels::KernelPath;

use crate::backend::{check_forward, LanguageModel, Logits, Precision};
use crate::config::Gpt2Config;
use crate::weights::Gpt2Checkpoint;
use crate::Result;
use kernels::{matmul, Epilogue, Out};
use ops::{attend, layer_norm, Head};
use team::{Ctx, SharedMut, Team};
use weights::{Matrix, Rows, Store, StoreBuilder};

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

    fn forward_sync(&self, cache: &mut CpuCache, tokens: &[&[u32]], last: usize) -> Result<Logits> {
        let cfg = &self.config;
        let n = check_forward(cfg, cache.len, cache.rows, tokens, last)?;
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
        };
        self.team.run(&|ctx| pass.run(ctx))?;
        cache.len = past + n;
        Ok(Logits {
            rows,
            positions: last,
            vocab,
            data,
        })
    }
}

/// One forward pass: its inputs and the buffers its steps share.
struct Pass<'a> {
    model: &'a CpuModel,
    ids: &'a [u32],
    rows: usize,
    n: usize,
    past: usize,
    last: usize,
    capacity: usize,
    x: SharedMut<f32>,
    h: SharedMut<f32>,
    qkv: SharedMut<f32>,
    att: SharedMut<f32>,
    fc: SharedMut<f32>,
    hf: SharedMut<f32>,
    logits: SharedMut<f32>,
    kv: Vec<(SharedMut<f32>, SharedMut<f32>)>,
}

impl Pass<'_> {
    /// What each thread of the team runs. Every step writes only its own
    /// share of a buffer and reads others' shares after a barrier.
    // SAFETY (throughout): see `SharedMut`; each step's writes are
    // partitioned by `ctx.share` or by (row, head), and a barrier separates
    // a step's writes from the next step's reads.
    fn run(&self, ctx: &Ctx) {
        let m = self.model;
        let cfg = &m.config;
        let (c, t) = (cfg.n_embd, self.rows * self.n);
        unsafe {
            // x = wte[ids] + wpe[positions]
            let x = self.x.get_mut();
            for i in ctx.share(t, 1) {
                let row = &mut x[i * c..(i + 1) * c];
                m.store.row_into(&m.wte, self.ids[i] as usize, row);
                let pos = self.past + i % self.n;
                for (v, &p) in row.iter_mut().zip(&m.wpe[pos * c..(pos + 1) * c]) {
                    *v += p;
                }
            }
            ctx.barrier();
            let mut scratch = Vec::new();
            for (layer, block) in m.blocks.iter().enumerate() {
                self.norm(ctx, &block.ln_1, t);
                self.linear(ctx, &block.c_attn, &self.h, t, &self.qkv, Epilogue::Store);
                self.attention(ctx, layer, &mut scratch);
                self.linear(ctx, &block.attn_proj, &self.att, t, &self.x, Epilogue::Add);
                self.norm(ctx, &block.ln_2, t);
                self.linear(ctx, &block.c_fc, &self.h, t, &self.fc, Epilogue::Gelu);
                self.linear(ctx, &block.mlp_proj, &self.fc, t, &self.x, Epilogue::Add);
            }
            // The final norm of each row's last `last` positions, then the
            // logits through the tied embeddings.
            let (x, hf) = (self.x.get(), self.hf.get_mut());
            for i in ctx.share(self.rows * self.last, 1) {
                let (r, p) = (i / self.last, self.n - self.last + i % self.last);
                let src = &x[(r * self.n + p) * c..][..c];
                layer_norm(
                    src,
                    &m.ln_f.weight,
                    &m.ln_f.bias,
                    self.eps(),
                    &mut hf[i * c..][..c],
                );
            }
            ctx.barrier();
            let vocab = cfg.vocab_size;
            let input = Rows::dense(self.hf.get(), self.rows * self.last, c);
            for cols in ctx.chunks(vocab, kernels::chunk(self.rows * self.last, vocab, ctx.nth)) {
                let out = Out::store(self.logits.get_mut(), vocab);
                matmul(m.path, m.store.get(&m.wte), input, cols, out);
            }
        }
    }

    fn eps(&self) -> f32 {
        self.model.config.layer_norm_epsilon as f32
    }

    /// `h = norm(x)` over the `t` positions.
    unsafe fn norm(&self, ctx: &Ctx, norm: &Norm, t: usize) {
        let c = self.model.config.n_embd;
        let (x, h) = (self.x.get(), self.h.get_mut());
        for i in ctx.share(t, 1) {
            layer_norm(
                &x[i * c..][..c],
                &norm.weight,
                &norm.bias,
                self.eps(),
                &mut h[i * c..][..c],
            );
        }
        ctx.barrier();
    }

    /// `out (∘)= input · Wᵀ + b` over the `t` positions, the output columns
    /// shared between threads.
    unsafe fn linear(
        &self,
        ctx: &Ctx,
        layer: &Linear,
        input: &SharedMut<f32>,
        t: usize,
        out: &SharedMut<f32>,
        epilogue: Epilogue,
    ) {
        let m = self.model;
        let w = m.store.get(&layer.weight);
        let (d_out, d_in) = (layer.weight.rows, layer.weight.cols);
        let x = Rows::dense(&input.get()[..t * d_in], t, d_in);
        for cols in ctx.chunks(d_out, kernels::chunk(t, d_out, ctx.nth)) {
            let out = Out {
                y: out.get_mut(),
                ldy: d_out,
                bias: Some(&layer.bias),
                epilogue,
            };
            matmul(m.path, w, x, cols, out);
        }
        ctx.barrier();
    }

    /// Causal attention of layer `layer`: one task per (row, head), taken by
    /// whichever thread is free.
    unsafe fn attention(&self, ctx: &Ctx, layer: usize, scratch: &mut Vec<f32>) {
        let cfg = &self.model.config;
        let (c, heads, hd, cap) = (cfg.n_embd, cfg.n_head, cfg.head_dim(), self.capacity);
        let (k, vt) = (&self.kv[layer].0, &self.kv[layer].1);
        let (qkv, att) = (self.qkv.get(), self.att.get_mut());
        for task in ctx.chunks(self.rows * heads, 1).flatten() {
            let (r, head) = (task / heads, task % heads);
            let block = (r * heads + head) * cap * hd;
            let first = r * self.n;
            let h = Head {
                k: &mut k.get_mut()[block..block + cap * hd],
                vt: &mut vt.get_mut()[block..block + cap * hd],
                capacity: cap,
                head_dim: hd,
                past: self.past,
                n: self.n,
                qkv: &qkv[first * 3 * c + head * hd..(first + self.n) * 3 * c],
                qkv_ld: 3 * c,
                c,
                out: &mut att[first * c + head * hd..(first + self.n) * c],
                out_ld: c,
            };
            attend(self.model.path, h, scratch);
        }
        ctx.barrier();
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
        self.forward_sync(cache, tokens, last)
    }
}
