//! Truncation warpers from `transformers`: top-k, top-p, min-p.

use super::{remove, softmax};
use crate::decoding::select::{argmax, by_value_then_index};
use crate::decoding::steps::Cut;

/// Cuts tokens below the k-th largest logit (ties with it are kept).
pub(super) fn top_k(x: &mut [f32], cut: &mut [Option<Cut>], k: usize) {
    let mut alive: Vec<f32> = x
        .iter()
        .copied()
        .filter(|&v| v != f32::NEG_INFINITY)
        .collect();
    if k >= alive.len() {
        return;
    }
    let (_, &mut kth, _) = alive.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    for i in 0..x.len() {
        if x[i] < kth {
            remove(x, cut, i, Cut::TopK);
        }
    }
}

/// Nucleus: cuts the least likely tokens while their cumulative probability
/// stays `≤ 1 − p`, keeping at least the most likely one.
pub(super) fn top_p(x: &mut [f32], cut: &mut [Option<Cut>], p: f32) {
    let floor = nucleus_floor(p);
    let probs = softmax(x);
    let order = ascending(x);
    let Some((_, candidates)) = order.split_last() else {
        return;
    };
    let mut cumulative = 0.0f64;
    for &i in candidates {
        cumulative += probs[i] as f64;
        if !nucleus_cuts(cumulative, floor) {
            break;
        }
        remove(x, cut, i, Cut::TopP);
    }
}

/// Top-p's `1 − p`: transformers computes it in f64 from the Python float.
pub(super) fn nucleus_floor(p: f32) -> f32 {
    let p_decimal: f64 = format!("{p}").parse().unwrap_or(p as f64);
    (1.0 - p_decimal) as f32
}

/// Whether top-p cuts a token whose cumulative probability (its own and the
/// less likely tokens') is `cumulative`, `floor` being [`nucleus_floor`].
pub(super) fn nucleus_cuts(cumulative: f64, floor: f32) -> bool {
    cumulative as f32 <= floor
}

/// The tokens left, by ascending probability; among ties, higher ids first
/// (so lower ids are kept): the reverse of the shared ranking.
pub(super) fn ascending(x: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..x.len())
        .filter(|&i| x[i] != f32::NEG_INFINITY)
        .collect();
    order.sort_unstable_by(|&a, &b| by_value_then_index(x, b, a));
    order
}

/// Cuts tokens with probability below `min_p` times the largest.
pub(super) fn min_p(x: &mut [f32], cut: &mut [Option<Cut>], min_p: f32) {
    let probs = softmax(x);
    let best = argmax(&probs);
    let threshold = min_p * probs[best];
    for (i, &p) in probs.iter().enumerate() {
        if i != best && min_p_cuts(p, threshold) {
            remove(x, cut, i, Cut::MinP);
        }
    }
}

/// Whether min-p cuts a token of probability `p` (not the most likely) when
/// the floor `min_p · max p` is `threshold`.
pub(super) fn min_p_cuts(p: f32, threshold: f32) -> bool {
    p < threshold
}
