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
    let h = TopH::new(x);
    let mut keep = vec![false; x.len()];
    for (rank, &i) in h.top.iter().enumerate() {
        keep[i] = h.keeps(rank, top_h);
    }
    for (i, &kept) in keep.iter().enumerate() {
        if !kept {
            remove(x, cut, i, Cut::TopH);
        }
    }
}

/// The most likely tokens as top-H weighs them.
pub(super) struct TopH {
    /// The considered tokens, most likely first.
    pub top: Vec<usize>,
    /// The cumulative entropy `Σ −p log p` through each rank.
    cumulative: Vec<f32>,
    /// The entropy of the considered tokens, renormalised.
    entropy: f32,
}

impl TopH {
    pub fn new(x: &[f32]) -> TopH {
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
        let mut sum = 0.0f64;
        let cumulative = terms
            .iter()
            .map(|&t| {
                sum += t as f64;
                sum as f32
            })
            .collect();
        TopH {
            top,
            cumulative,
            entropy,
        }
    }

    /// Whether the token at `rank` among [`Self::top`] stays at `top_h`.
    pub fn keeps(&self, rank: usize, top_h: f32) -> bool {
        rank == 0 || self.cumulative[rank] <= self.entropy * top_h
    }
}
