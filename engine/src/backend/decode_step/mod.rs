//! One decode step as a fixed list of fused kernel launches over
//! preallocated buffers: what a GPU backend captures once (a CUDA graph) and
//! replays per token.
//!
//! A step takes one new token per row, `rows` rows (1 for greedy; the beams
//! or a draft's rows), at position `pos` of a cache of `cap` positions. The
//! token ids and `pos` live in device memory ([`Buf::Ids`], [`Buf::Pos`]), so
//! the launches and their arguments are the same from one token to the next:
//! greedy's [`Op::Argmax`] writes the next ids and moves `pos` on, and the
//! host only replays. Every buffer is sized once, for `rows` and `cap`.
//!
//! Per block, five launches:
//! 1. c_attn, `ln_1` fused in as the input's prologue, the new keys and values
//!    stored into the cache at `pos` as its epilogue;
//! 2. attention split over the context in spans of [`SPAN`] positions
//!    (flash-decoding), each span's partial softmax written out;
//! 3. attention's c_proj, the spans combined as its prologue, the residual
//!    added as its epilogue;
//! 4. c_fc, `ln_2` as its prologue, bias and GELU as its epilogue;
//! 5. the MLP's c_proj, the residual added.
//!
//! Before the blocks the embeddings; after them the logits (`ln_f` as the
//! prologue of the tied `wte` product) and, for greedy, the argmax: for
//! gpt2-xl 1 + 48 · 5 + 2 = 243 launches per token, where candle's tensor
//! ops launch about 19 per block.
//!
//! [`reference`] runs a plan on the CPU, one op at a time, as the kernels
//! define it: the tests check it against the CPU backend, and a GPU's
//! kernels are checked against it.

#[cfg(feature = "cuda")]
pub mod cuda;
pub mod launch;
pub mod model;
pub mod reference;

use crate::config::Gpt2Config;

/// Positions of the context one attention split takes (one CUDA block of
/// [`SPAN`] threads, a thread per position).
pub const SPAN: usize = 256;

/// Launches per transformer block.
pub const LAUNCHES_PER_BLOCK: usize = 5;

/// A preallocated device buffer of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Buf {
    /// `[rows]` u32: each row's token of this step.
    Ids,
    /// `[1]` u32: the positions already in the cache (the same for every row).
    Pos,
    /// `[rows, C]`: the residual stream.
    X,
    /// `[rows, 3C]`: queries, keys and values.
    Qkv,
    /// `[rows, H, splits, D + 2]`: each split's `(m, l, o[D])`.
    Part,
    /// `[rows, inner]`: the MLP's hidden layer.
    Hidden,
    /// `[rows, V]`.
    Logits,
    /// `[rows, cap, C]`: layer `l`'s keys.
    Keys(usize),
    /// `[rows, cap, C]`: layer `l`'s values.
    Values(usize),
    /// `[rows, cap]` u32: the ids greedy's argmax picked, at the positions
    /// they take, so that many steps run without the host reading any.
    History,
}

impl Buf {
    /// Whether it holds u32 (the ids, the position, the history) rather
    /// than f32.
    pub fn is_u32(self) -> bool {
        matches!(self, Buf::Ids | Buf::Pos | Buf::History)
    }
}

/// A weight a plan reads, by its checkpoint name.
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    pub name: String,
    /// The matrix the kernels read as `[n, k]`; `None` for a vector (a
    /// norm's or a bias), which stays f32.
    pub matrix: Option<Matrix>,
}

/// A weight matrix's shape in the kernels' layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Matrix {
    pub n: usize,
    pub k: usize,
    /// The checkpoint holds it as `[n, k]` already (`wte`, `wpe`), not as
    /// Conv1D's `[k, n]`.
    pub stored_nk: bool,
}

impl Matrix {
    /// The checkpoint's values in the kernels' `[n, k]` layout.
    pub fn rows(&self, values: Vec<f32>) -> Vec<f32> {
        if self.stored_nk {
            return values;
        }
        let mut out = vec![0f32; self.n * self.k];
        crate::weights::transpose(&values, self.k, self.n, &mut out);
        out
    }
}

/// What a product does to its input row on the way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prologue {
    /// The row as it is.
    Plain,
    /// The row layer-normed with the named `weight` and `bias` (biased
    /// variance, eps inside the root, as `torch.nn.LayerNorm`).
    LayerNorm { weight: String, bias: String },
    /// The attention output combined from [`Buf::Part`]'s splits.
    Combine,
}

/// What a product does with each output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// `y = v`
    Store,
    /// `y = v + b`
    Bias,
    /// `y = gelu_new(v + b)`
    Gelu,
    /// `y += v + b` (the residual stream)
    Residual,
}

/// One launch.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `X[r] = wte[Ids[r]] + wpe[Pos]`.
    Embed,
    /// `out[r] = epilogue(prologue(input[r]) Wᵀ)` for every row: `weight` is
    /// the named matrix, `[k, n]` as transformers' Conv1D stores it, or
    /// `[n, k]` when `transposed` (the tied `wte`). With `kv` set (c_attn),
    /// the outputs `C .. 3C` are also stored into that layer's cache at `Pos`.
    Matvec {
        input: Buf,
        prologue: Prologue,
        weight: String,
        transposed: bool,
        bias: Option<String>,
        epilogue: Epilogue,
        output: Buf,
        k: usize,
        n: usize,
        kv: Option<usize>,
    },
    /// Each row's query against layer `layer`'s cache, positions `0 ..= Pos`,
    /// split in spans of [`SPAN`]; every split's partial into [`Buf::Part`].
    Attention { layer: usize },
    /// `Ids[r] = argmax Logits[r]` (the first of equal maxima, as
    /// `torch.argmax`), also written to `History[r, Pos + 1]` while that is
    /// inside the cache, then `Pos += 1`: the next step's input, on the device.
    Argmax,
}

/// The five product kernels of `kernels.cu` (`matvec_<weights>_<role>`):
/// their role, prologue kind, epilogue and whether they store keys and
/// values, as `kernels.cu`'s `ENTRY_POINTS` instantiates them.
pub const PRODUCT_KERNELS: [(&str, &str, Epilogue, bool); 5] = [
    ("c_attn", "layer_norm", Epilogue::Bias, true),
    ("attn_proj", "combine", Epilogue::Residual, false),
    ("c_fc", "layer_norm", Epilogue::Gelu, false),
    ("mlp_proj", "plain", Epilogue::Residual, false),
    ("logits", "layer_norm", Epilogue::Store, false),
];

impl Prologue {
    /// Its kind, as [`PRODUCT_KERNELS`] names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Prologue::Plain => "plain",
            Prologue::LayerNorm { .. } => "layer_norm",
            Prologue::Combine => "combine",
        }
    }
}

impl Op {
    /// The product kernel that runs this op: the entry of
    /// [`PRODUCT_KERNELS`] with its prologue, epilogue and cache store.
    pub fn product_kernel(&self) -> Option<&'static str> {
        let Op::Matvec {
            prologue,
            epilogue,
            kv,
            ..
        } = self
        else {
            return None;
        };
        PRODUCT_KERNELS
            .iter()
            .find(|(_, p, e, stores)| {
                *p == prologue.kind() && e == epilogue && *stores == kv.is_some()
            })
            .map(|(role, ..)| *role)
    }
}

/// The launches of one step and the sizes they were planned for.
#[derive(Debug, Clone)]
pub struct Plan {
    pub config: Gpt2Config,
    pub rows: usize,
    /// Positions the cache holds per row.
    pub cap: usize,
    /// Positions per attention split ([`SPAN`]; the CPU reference takes
    /// others, to test many splits on short contexts).
    pub span: usize,
    /// Attention splits launched: enough for `cap` (splits past a step's
    /// context write partials that weigh nothing).
    pub splits: usize,
    pub ops: Vec<Op>,
}

impl Plan {
    /// The step for `rows` rows and a cache of `cap` positions; with
    /// `greedy`, the argmax that feeds the next step.
    pub fn decode(config: &Gpt2Config, rows: usize, cap: usize, greedy: bool) -> Plan {
        let (c, inner, v) = (config.n_embd, config.n_inner(), config.vocab_size);
        let ln = |name: String| Prologue::LayerNorm {
            weight: format!("{name}.weight"),
            bias: format!("{name}.bias"),
        };
        let mut ops = vec![Op::Embed];
        for l in 0..config.n_layer {
            let p = |name: &str| format!("h.{l}.{name}");
            let linear = |input, prologue, name: &str, epilogue, output, k, n, kv| Op::Matvec {
                input,
                prologue,
                weight: p(&format!("{name}.weight")),
                transposed: false,
                bias: Some(p(&format!("{name}.bias"))),
                epilogue,
                output,
                k,
                n,
                kv,
            };
            ops.push(linear(
                Buf::X,
                ln(p("ln_1")),
                "attn.c_attn",
                Epilogue::Bias,
                Buf::Qkv,
                c,
                3 * c,
                Some(l),
            ));
            ops.push(Op::Attention { layer: l });
            ops.push(linear(
                Buf::Part,
                Prologue::Combine,
                "attn.c_proj",
                Epilogue::Residual,
                Buf::X,
                c,
                c,
                None,
            ));
            ops.push(linear(
                Buf::X,
                ln(p("ln_2")),
                "mlp.c_fc",
                Epilogue::Gelu,
                Buf::Hidden,
                c,
                inner,
                None,
            ));
            ops.push(linear(
                Buf::Hidden,
                Prologue::Plain,
                "mlp.c_proj",
                Epilogue::Residual,
                Buf::X,
                inner,
                c,
                None,
            ));
        }
        ops.push(Op::Matvec {
            input: Buf::X,
            prologue: ln("ln_f".into()),
            weight: "wte.weight".into(),
            transposed: true,
            bias: None,
            epilogue: Epilogue::Store,
            output: Buf::Logits,
            k: c,
            n: v,
            kv: None,
        });
        if greedy {
            ops.push(Op::Argmax);
        }
        Plan {
            config: config.clone(),
            rows,
            cap,
            span: SPAN,
            splits: cap.div_ceil(SPAN),
            ops,
        }
    }

    /// The same plan with attention split in spans of `span` positions.
    pub fn with_span(mut self, span: usize) -> Plan {
        self.span = span.max(1);
        self.splits = self.cap.div_ceil(self.span);
        self
    }

    /// Elements of `buf` (u32 for the ids, the position and the history,
    /// f32 otherwise).
    pub fn len(&self, buf: Buf) -> usize {
        let cfg = &self.config;
        let (r, c) = (self.rows, cfg.n_embd);
        let d = c / cfg.n_head;
        match buf {
            Buf::Ids => r,
            Buf::Pos => 1,
            Buf::X => r * c,
            Buf::Qkv => r * 3 * c,
            Buf::Part => r * cfg.n_head * self.splits * (d + 2),
            Buf::Hidden => r * cfg.n_inner(),
            Buf::Logits => r * cfg.vocab_size,
            Buf::Keys(_) | Buf::Values(_) => r * self.cap * c,
            Buf::History => r * self.cap,
        }
    }

    /// Every buffer the step uses, each once.
    pub fn buffers(&self) -> Vec<Buf> {
        let mut all = vec![
            Buf::Ids,
            Buf::Pos,
            Buf::X,
            Buf::Qkv,
            Buf::Part,
            Buf::Hidden,
            Buf::Logits,
            Buf::History,
        ];
        for l in 0..self.config.n_layer {
            all.extend([Buf::Keys(l), Buf::Values(l)]);
        }
        all
    }

    /// Every weight the step reads, each once: the embeddings' matrices,
    /// then each product's matrix, bias and layer norm.
    pub fn weights(&self) -> Vec<Weight> {
        let (c, cfg) = (self.config.n_embd, &self.config);
        let matrix = |name: &str, n, k, stored_nk| Weight {
            name: name.to_string(),
            matrix: Some(Matrix { n, k, stored_nk }),
        };
        let vector = |name: &String| Weight {
            name: name.clone(),
            matrix: None,
        };
        let mut all = vec![
            matrix("wte.weight", cfg.vocab_size, c, true),
            matrix("wpe.weight", cfg.n_positions, c, true),
        ];
        for op in &self.ops {
            if let Op::Matvec {
                prologue,
                weight,
                transposed,
                bias,
                k,
                n,
                ..
            } = op
            {
                all.push(matrix(weight, *n, *k, *transposed));
                all.extend(bias.iter().map(vector));
                if let Prologue::LayerNorm { weight, bias } = prologue {
                    all.extend([vector(weight), vector(bias)]);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        all.retain(|w| seen.insert(w.name.clone()));
        all
    }

    /// Bytes of every buffer together: what the step allocates once.
    pub fn buffer_bytes(&self) -> usize {
        self.buffers().iter().map(|&b| 4 * self.len(b)).sum()
    }
}

#[cfg(test)]
mod tests;
