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
    // transformers computes `1 - top_p` in f64 from the Python float.
    let p_decimal: f64 = format!("{p}").parse().unwrap_or(p as f64);
    let threshold = (1.0 - p_decimal) as f32;
    let probs = softmax(x);
    let mut order: Vec<usize> = (0..x.len())
        .filter(|&i| x[i] != f32::NEG_INFINITY)
        .collect();
    // Ascending probability; among ties, higher ids first (so lower ids are
    // kept): the reverse of the shared ranking.
    order.sort_unstable_by(|&a, &b| by_value_then_index(x, b, a));
    let Some((_, candidates)) = order.split_last() else {
        return;
    };
    let mut cumulative = 0.0f64;
    for &i in candidates {
        cumulative += probs[i] as f64;
        if cumulative as f32 > threshold {
            break;
        }
        remove(x, cut, i, Cut::TopP);
    }
}

/// Cuts tokens with probability below `min_p` times the largest.
pub(super) fn min_p(x: &mut [f32], cut: &mut [Option<Cut>], min_p: f32) {
    let probs = softmax(x);
    let best = argmax(&probs);
    let threshold = min_p * probs[best];
    for (i, &p) in probs.iter().enumerate() {
        if i != best && p < threshold {
            remove(x, cut, i, Cut::MinP);
        }
    }
}
