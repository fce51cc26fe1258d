//! GPT-2 on candle's tensor ops: NVIDIA GPUs through the `cuda` feature
//! (cuBLAS), and the CPU, where the same ops check that path's logic in
//! every build (the CPU backend proper is [`crate::backend::cpu`]).
//!
//! The model follows `transformers`' `modeling_gpt2.py` and keeps its names
//! (`wte`, `wpe`, `h.{i}.ln_1`, `attn.c_attn`, `mlp.c_fc`, `ln_f`).

mod attention;
mod cache;
mod linear;

pub use cache::CandleCache;

use candle_core::{DType, Device, Tensor};

use crate::backend::{
    check_forward, check_hidden, Hidden, HiddenRequest, LanguageModel, Logits, Precision,
};
use crate::config::Gpt2Config;
use crate::weights::Gpt2Checkpoint;
use crate::Result;
use linear::Linear;

/// Layer norm parameters.
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(ckpt: &Gpt2Checkpoint, name: &str, eps: f64, to: &Place) -> Result<Self> {
        Ok(LayerNorm {
            weight: to.vector(ckpt.f32(&format!("{name}.weight"))?)?,
            bias: to.vector(ckpt.f32(&format!("{name}.bias"))?)?,
            eps: eps as f32,
        })
    }

    // x (.., C) -> (.., C)
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::layer_norm(
            x,
            &self.weight,
            &self.bias,
            self.eps,
        )?)
    }
}

/// One transformer block.
struct Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    attn_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
}

/// Where weights go: a device and a number format.
pub(crate) struct Place {
    pub device: Device,
    pub dtype: DType,
}

impl Place {
    /// Moves f32 numbers of `shape` to the device, in the model's format.
    pub fn tensor(&self, data: Vec<f32>, shape: impl Into<candle_core::Shape>) -> Result<Tensor> {
        Ok(Tensor::from_vec(data, shape, &self.device)?.to_dtype(self.dtype)?)
    }

    /// A vector of f32 numbers on the device, in the model's format.
    pub fn vector(&self, data: Vec<f32>) -> Result<Tensor> {
        let len = data.len();
        self.tensor(data, len)
    }
}

/// GPT-2 with its weights on a candle device.
pub struct CandleModel {
    config: Gpt2Config,
    device: Device,
    precision: Precision,
    wte: Tensor, // (V, C), also the tied lm_head
    wpe: Tensor, // (P, C)
    blocks: Vec<Block>,
    ln_f: LayerNorm,
}

impl CandleModel {
    /// Builds the model from a checked checkpoint: weights are read as f32
    /// (whatever the file holds) and stored in `precision` on `device`.
    pub fn load(
        ckpt: &Gpt2Checkpoint,
        config: &Gpt2Config,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        let (c, inner, eps) = (config.n_embd, config.n_inner(), config.layer_norm_epsilon);
        let to = Place {
            device: device.clone(),
            dtype: precision.dtype(),
        };
        let wte = to.tensor(ckpt.f32("wte.weight")?, (config.vocab_size, c))?;
        let wpe = to.tensor(ckpt.f32("wpe.weight")?, (config.n_positions, c))?;
        let layers = config.n_layer;
        let stack =
            |name, d_in, d_out| Linear::load_conv1d_stack(ckpt, name, layers, d_in, d_out, &to);
        let linears = [
            stack("attn.c_attn", c, 3 * c)?,
            stack("attn.c_proj", c, c)?,
            stack("mlp.c_fc", c, inner)?,
            stack("mlp.c_proj", inner, c)?,
        ];
        let [mut c_attn, mut attn_proj, mut c_fc, mut mlp_proj] = linears.map(|l| l.into_iter());
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = |n: &str| format!("h.{i}.{n}");
            let next = |it: &mut std::vec::IntoIter<Linear>| it.next().expect("one per layer");
            blocks.push(Block {
                ln_1: LayerNorm::load(ckpt, &p("ln_1"), eps, &to)?,
                c_attn: next(&mut c_attn),
                attn_proj: next(&mut attn_proj),
                ln_2: LayerNorm::load(ckpt, &p("ln_2"), eps, &to)?,
                c_fc: next(&mut c_fc),
                mlp_proj: next(&mut mlp_proj),
            });
        }
        let ln_f = LayerNorm::load(ckpt, "ln_f", eps, &to)?;
        Ok(CandleModel {
            config: config.clone(),
            device: device.clone(),
            precision,
            wte,
            wpe,
            blocks,
            ln_f,
        })
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The number format of weights and activations.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// One pass; the hidden states of `want` are copied out as the blocks
    /// go (nothing when it asks for none).
    fn pass(
        &self,
        cache: &mut CandleCache,
        tokens: &[&[u32]],
        last: usize,
        want: &HiddenRequest,
    ) -> Result<Hidden> {
        let cfg = &self.config;
        let n = check_forward(cfg, cache.len, cache.rows, tokens, last)?;
        check_hidden(cfg, want, n)?;
        let (rows, c, past) = (tokens.len(), cfg.n_embd, cache.len);
        cache.grow(past + n)?;
        let ids: Vec<u32> = tokens.iter().flat_map(|t| t.iter().copied()).collect();
        let ids = Tensor::from_vec(ids, rows * n, &self.device)?;
        // x (rows, n, C) = wte[ids] + wpe[past..past+n]
        let tok = self.wte.index_select(&ids, 0)?.reshape((rows, n, c))?;
        let pos = self.wpe.narrow(0, past, n)?;
        let mut x = tok.broadcast_add(&pos)?;
        let mask = attention::causal_mask(n, past, self.precision.dtype(), &self.device)?;
        // hidden_states[i] (the input of block i) as it passes, by request.
        let mut states: Vec<Option<Tensor>> = vec![None; want.layers.len()];
        let mut heads: Vec<Option<Tensor>> = vec![None; want.heads.len()];
        let mut keep = |i: usize, x: &Tensor| -> Result<()> {
            for (k, _) in want.layers.iter().enumerate().filter(|&(_, &l)| l == i) {
                states[k] = Some(
                    x.narrow(1, n - want.positions, want.positions)?
                        .contiguous()?,
                );
            }
            for (k, _) in want.heads.iter().enumerate().filter(|&(_, &l)| l == i) {
                let mut h = x.narrow(1, n - last, last)?.contiguous()?;
                if want.lens {
                    h = self.ln_f.forward(&h)?;
                }
                heads[k] = Some(h.reshape((rows * last, c))?.matmul(&self.wte.t()?)?);
            }
            Ok(())
        };
        for (layer, block) in self.blocks.iter().enumerate() {
            keep(layer, &x)?;
            let h = block.ln_1.forward(&x)?;
            let qkv = block.c_attn.forward(&h)?; // (rows, n, 3C)
            let (k_cache, v_cache) = cache.store(layer, &qkv, past)?;
            let a = attention::attend(&qkv, k_cache, v_cache, past, mask.as_ref())?; // (rows, n, C)
            x = (x + block.attn_proj.forward(&a)?)?;
            let h = block.ln_2.forward(&x)?;
            let h = block.c_fc.forward(&h)?.gelu()?; // gelu is the tanh form (gelu_new)
            x = (x + block.mlp_proj.forward(&h)?)?;
        }
        cache.len = past + n;
        let layers = cfg.n_layer;
        for (k, _) in want
            .layers
            .iter()
            .enumerate()
            .filter(|&(_, &l)| l == layers)
        {
            let h = x
                .narrow(1, n - want.positions, want.positions)?
                .contiguous()?;
            states[k] = Some(self.ln_f.forward(&h)?);
        }
        let x = x.narrow(1, n - last, last)?.contiguous()?;
        let x = self.ln_f.forward(&x)?.reshape((rows * last, c))?;
        let logits = x.matmul(&self.wte.t()?)?; // (rows * last, V)
        let floats = |t: &Tensor| -> Result<Vec<f32>> {
            Ok(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
        };
        let as_logits = |data| Logits {
            rows,
            positions: last,
            vocab: cfg.vocab_size,
            data,
        };
        let mut state_data = Vec::new();
        for s in states.iter().flatten() {
            state_data.extend(floats(s)?);
        }
        let heads = heads
            .iter()
            .flatten()
            .map(|h| Ok(as_logits(floats(h)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Hidden {
            logits: as_logits(floats(&logits)?),
            layers: want.layers.to_vec(),
            rows,
            positions: if want.layers.is_empty() {
                0
            } else {
                want.positions
            },
            n_embd: c,
            states: state_data,
            heads,
        })
    }
}

impl LanguageModel for CandleModel {
    type Cache = CandleCache;

    fn config(&self) -> &Gpt2Config {
        &self.config
    }

    fn new_cache(&self, rows: usize) -> Result<CandleCache> {
        CandleCache::new(&self.config, rows, &self.device, self.precision.dtype())
    }

    async fn forward(
        &self,
        cache: &mut CandleCache,
        tokens: &[&[u32]],
        last: usize,
    ) -> Result<Logits> {
        Ok(self
            .pass(cache, tokens, last, &HiddenRequest::default())?
            .logits)
    }

    async fn forward_hidden(
        &self,
        cache: &mut CandleCache,
        tokens: &[&[u32]],
        last: usize,
        want: &HiddenRequest<'_>,
    ) -> Result<Hidden> {
        self.pass(cache, tokens, last, want)
    }
}
