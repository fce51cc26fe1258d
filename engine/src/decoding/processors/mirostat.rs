//! Mirostat 2.0 (Basu et al. 2020, "Mirostat: A Neural Text Decoding
//! Algorithm that Directly Controls Perplexity", arXiv:2007.14966; llama.cpp's
//! `llama_sampler_mirostat_v2_apply`): tokens whose surprise `−log₂ p` exceeds
//! μ are cut (the most likely always stays), the rest renormalised and drawn
//! from; after the draw μ moves toward the target surprise τ:
//! `μ ← μ − η · (−log₂ p(chosen) − τ)`, `p` the renormalised probability. μ
//! starts at 2τ.

use super::{remove, softmax, Mirostat};
use crate::decoding::select::argmax;
use crate::decoding::steps::Cut;

/// Cuts tokens with surprise above `mu`.
pub(super) fn truncate(x: &mut [f32], cut: &mut [Option<Cut>], mu: f32) {
    let probs = softmax(x);
    let best = argmax(&probs);
    for (i, &p) in probs.iter().enumerate() {
        if i != best && -p.log2() > mu {
            remove(x, cut, i, Cut::Mirostat);
        }
    }
}

/// μ after drawing a token of (renormalised) probability `p_chosen`.
pub fn update(mu: f32, params: &Mirostat, p_chosen: f32) -> f32 {
    let surprise = -p_chosen.log2();
    mu - params.eta * (surprise - params.tau)
}

/// μ before the first step.
pub fn initial_mu(params: &Mirostat) -> f32 {
    2.0 * params.tau
}
