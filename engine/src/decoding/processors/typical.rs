//! Locally typical sampling (Meister et al. 2022, "Locally Typical Sampling",
//! arXiv:2202.00666), as `transformers`' `TypicalLogitsWarper`
//! (`min_tokens_to_keep = 1`): tokens are ranked by how far their surprise
//! `−log p` is from the entropy `H`, and the closest are kept until their
//! probability reaches `mass`; tokens as far from `H` as the last one kept are
//! kept too.

use super::{remove, softmax};
use crate::decoding::steps::Cut;
use crate::decoding::{entropy, log_softmax};

pub(super) fn typical(x: &mut [f32], cut: &mut [Option<Cut>], mass: f32) {
    let n = x.len();
    if n == 0 {
        return;
    }
    let normalized = log_softmax(x);
    // transformers' nansum leaves out -inf · 0 (NaN): the same sum.
    let entropy = entropy(&normalized);
    let shifted: Vec<f32> = normalized.iter().map(|&l| (-l - entropy).abs()).collect();
    let mut order: Vec<usize> = (0..n).collect();
    // Ascending distance, lower ids first on ties.
    order.sort_unstable_by(|&a, &b| shifted[a].total_cmp(&shifted[b]).then(a.cmp(&b)));
    let probs = softmax(x);
    let mut cumulative = 0.0f64;
    let mut last = 0;
    for &i in &order {
        cumulative += probs[i] as f64;
        if (cumulative as f32) < mass {
            last += 1;
        } else {
            break;
        }
    }
    let threshold = shifted[order[last.min(n - 1)]];
    let first = order[0];
    for (i, &distance) in shifted.iter().enumerate() {
        if distance > threshold && i != first {
            remove(x, cut, i, Cut::Typical);
        }
    }
}
