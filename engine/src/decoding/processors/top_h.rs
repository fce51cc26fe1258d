//! Top-H, as `transformers`' `TopHLogitsWarper` (5.23): among the 100 most
//! likely tokens, renormalised, keep the most likely ones while their
//! cumulative entropy `Σ −p log p` stays within `top_h` times the entropy of
//! those 100; the most likely token always stays, every other token is cut.

use super::{remove, softmax};
use crate::decoding::select::top_n;
use crate::decoding::steps::Cut;

/// How many of the most likely tokens top-H considers (transformers' `top_n`).
const CONSIDERED: usize = 100;

pub(super) fn top_h(x: &mut [f32], cut: &mut [Option<Cut>], top_h: f32) {
    let top = top_n(x, CONSIDERED.min(x.len()));
    let logits: Vec<f32> = top.iter().map(|&i| x[i]).collect();
    let probs = softmax(&logits);
    let terms: Vec<f32> = probs
        .iter()
        .map(|&p| if p > 0.0 { -p * p.ln() } else { f32::NAN })
        .collect();
    // `Categorical.entropy`: zero-probability terms add nothing.
    let entropy = terms
        .iter()
        .filter(|t| !t.is_nan())
        .map(|&t| t as f64)
        .sum::<f64>() as f32;
    let tau = entropy * top_h;
    let mut keep = vec![false; x.len()];
    let mut cumulative = 0.0f64;
    for (rank, (&i, &t)) in top.iter().zip(&terms).enumerate() {
        cumulative += t as f64;
        keep[i] = rank == 0 || cumulative as f32 <= tau;
    }
    for (i, &kept) in keep.iter().enumerate() {
        if !kept {
            remove(x, cut, i, Cut::TopH);
        }
    }
}
