//! Truncation sampling (Hewitt, Manning & Liang 2022, "Truncation Sampling as
//! Language Model Desmoothing", arXiv:2210.15191), as `transformers`'
//! `EpsilonLogitsWarper` and `EtaLogitsWarper` (`min_tokens_to_keep = 1`):
//! tokens with probability below ε (η-sampling: below
//! `min(ε, √ε · exp(−H))`, `H` the entropy) are cut, the most likely kept.

use super::{remove, softmax};
use crate::decoding::steps::Cut;
use crate::decoding::{entropy, log_softmax};

/// ε-sampling: cuts tokens with probability below `epsilon`.
pub(super) fn epsilon(x: &mut [f32], cut: &mut [Option<Cut>], epsilon: f32) {
    cut_below(x, cut, epsilon, Cut::Epsilon);
}

/// η-sampling: cuts tokens with probability below `min(ε, √ε · exp(−H))`.
pub(super) fn eta(x: &mut [f32], cut: &mut [Option<Cut>], epsilon: f32) {
    // torch's `Categorical.entropy`, as transformers computes it.
    let entropy = entropy(&log_softmax(x));
    cut_below(x, cut, eta_floor(epsilon, entropy), Cut::Eta);
}

/// η-sampling's floor `min(ε, √ε · exp(−H))` for a distribution of entropy `entropy`.
pub(super) fn eta_floor(epsilon: f32, entropy: f32) -> f32 {
    epsilon.min(epsilon.sqrt() * (-entropy).exp())
}

/// Cuts every token with probability below `threshold` whose logit is below
/// the largest (so the most likely tokens always stay).
fn cut_below(x: &mut [f32], cut: &mut [Option<Cut>], threshold: f32, why: Cut) {
    let probs = softmax(x);
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for i in 0..x.len() {
        if floor_cuts(probs[i], x[i], max, threshold) {
            remove(x, cut, i, why);
        }
    }
}

/// Whether a floor of `threshold` cuts a token of probability `p` and logit
/// `logit`, `max` the largest logit.
pub(super) fn floor_cuts(p: f32, logit: f32, max: f32, threshold: f32) -> bool {
    p < threshold && logit < max
}
