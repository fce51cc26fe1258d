//! Exclude Top Choices (XTC; text-generation-webui PR #6335, llama.cpp's
//! `llama_sampler_xtc_apply`): with probability `probability`, every token
//! with probability at least `threshold` is cut except the least likely of
//! them, when there are at least two. The coin is a uniform draw `u ∈ [0, 1)`
//! from the run's seeded generator; XTC applies when `u < probability`
//! (text-generation-webui's rule), so probability 0 never applies, 1 always.

use super::{remove, softmax, Xtc};
use crate::decoding::select::by_value_then_index;
use crate::decoding::steps::Cut;

pub(super) fn xtc(x: &mut [f32], cut: &mut [Option<Cut>], params: &Xtc, coin: f64) {
    if coin >= params.probability as f64 {
        return;
    }
    let probs = softmax(x);
    let mut above: Vec<usize> = (0..x.len())
        .filter(|&i| probs[i] >= params.threshold && probs[i] > 0.0)
        .collect();
    if above.len() < 2 {
        return;
    }
    // Most likely first, lower ids first on ties: the last one stays.
    above.sort_unstable_by(|&a, &b| by_value_then_index(&probs, a, b));
    above.pop();
    for i in above {
        remove(x, cut, i, Cut::Xtc);
    }
}
