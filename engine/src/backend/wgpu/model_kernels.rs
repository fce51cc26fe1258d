//! The pipelines of one model: those of the prompt's pass (and of every
//! pass on emulated GPUs), and the fused decode kernels of real GPUs.

use super::kernels::{
    Attention, Embed, Epilogue, KvGather, LayerNorm, Matmul, MatmulShape, Matvec, Prologue,
    Summary, SPAN,
};
use super::recorder::Kind;
use super::weights::{self, Weights};
use super::Gpu;
use crate::config::Gpt2Config;

/// One pipeline (or one per slice of `wte`) for each step of the pass.
pub(super) struct ModelKernels {
    pub embed: Vec<Embed>,
    pub ln: LayerNorm,
    pub ln_f: LayerNorm,
    /// c_attn, storing the new keys and values into the cache.
    pub c_attn: Matmul,
    pub attn_proj: Matmul,
    pub c_fc: Matmul,
    pub mlp_proj: Matmul,
    pub logits: Vec<Matmul>,
    pub attention: Attention,
    pub gather: KvGather,
    pub summary: Summary,
    /// Decoding on real GPUs; `None` where the emulated kernels run.
    pub fused: Option<FusedKernels>,
}

/// The decode kernels of real GPUs: five dispatches a block, the layer
/// norms folded into the linear layers after them, the KV store into
/// c_attn, and attention's split combine into c_proj.
pub(super) struct FusedKernels {
    pub c_attn: Matvec,
    pub attn_proj: Matvec,
    pub c_fc: Matvec,
    pub mlp_proj: Matvec,
    pub logits: Vec<Matvec>,
}

/// Decode attention splits for a context of `n_positions`.
pub(super) fn max_splits(config: &Gpt2Config) -> usize {
    config.n_positions.div_ceil(SPAN).max(1)
}

impl ModelKernels {
    pub fn new(gpu: &Gpu, config: &Gpt2Config, weights: &Weights) -> ModelKernels {
        let f16 = weights.f16;
        let (c, heads, inner, v) = (
            config.n_embd,
            config.n_head,
            config.n_inner(),
            config.vocab_size,
        );
        let eps = config.layer_norm_epsilon;
        let c_attn_shape = MatmulShape {
            kv: true,
            ..MatmulShape::linear(c, 3 * c, Epilogue::Bias)
        };
        let logits_shape = |slice: &weights::WteSlice| MatmulShape {
            k: c,
            n: slice.vn,
            ldy: v,
            col0: slice.v0,
            epilogue: Epilogue::None,
            out_rows: true,
            kv: false,
        };
        let shapes = [
            c_attn_shape,
            MatmulShape::linear(c, c, Epilogue::Residual),
            MatmulShape::linear(c, inner, Epilogue::Gelu),
            MatmulShape::linear(inner, c, Epilogue::Residual),
        ];
        let matmul = |shape, kind| Matmul::new(gpu, shape, f16, kind);
        let matvec = |shape, prologue, kind| Matvec::new(gpu, shape, prologue, f16, kind);
        let ln = Prologue::LayerNorm { eps };
        let fused = (!gpu.emulated_kernels).then(|| FusedKernels {
            c_attn: matvec(shapes[0], ln, Kind::Linear),
            attn_proj: matvec(
                shapes[1],
                Prologue::Combine {
                    heads,
                    splits: max_splits(config),
                },
                Kind::Linear,
            ),
            c_fc: matvec(shapes[2], ln, Kind::Linear),
            mlp_proj: matvec(shapes[3], Prologue::Plain, Kind::Linear),
            logits: weights
                .wte
                .iter()
                .map(|s| matvec(logits_shape(s), ln, Kind::Logits))
                .collect(),
        });
        ModelKernels {
            embed: weights
                .wte
                .iter()
                .map(|s| Embed::new(gpu, c, s.v0, s.vn, f16))
                .collect(),
            ln: LayerNorm::new(gpu, c, eps, false),
            ln_f: LayerNorm::new(gpu, c, eps, true),
            c_attn: matmul(shapes[0], Kind::Linear),
            attn_proj: matmul(shapes[1], Kind::Linear),
            c_fc: matmul(shapes[2], Kind::Linear),
            mlp_proj: matmul(shapes[3], Kind::Linear),
            logits: weights
                .wte
                .iter()
                .map(|s| matmul(logits_shape(s), Kind::Logits))
                .collect(),
            attention: Attention::new(gpu, c, heads, max_splits(config)),
            gather: KvGather::new(gpu, c),
            summary: Summary::new(gpu, v),
            fused,
        }
    }
}
