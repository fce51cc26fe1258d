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
    let Some(t) = Typical::new(x) else {
        return;
    };
    let limit = t.limit(mass);
    for i in 0..x.len() {
        if t.cuts(i, limit) {
            remove(x, cut, i, Cut::Typical);
        }
    }
}

/// One distribution as typical-p ranks it.
pub(super) struct Typical {
    /// Each token's distance `|−log p − H|`.
    pub shifted: Vec<f32>,
    /// Token ids by ascending distance, lower ids first on ties.
    pub order: Vec<usize>,
    probs: Vec<f32>,
}

impl Typical {
    /// `None` for an empty vocabulary.
    pub fn new(x: &[f32]) -> Option<Typical> {
        if x.is_empty() {
            return None;
        }
        let normalized = log_softmax(x);
        // transformers' nansum leaves out -inf · 0 (NaN): the same sum.
        let entropy = entropy(&normalized);
        let shifted: Vec<f32> = normalized.iter().map(|&l| (-l - entropy).abs()).collect();
        let mut order: Vec<usize> = (0..x.len()).collect();
        order.sort_unstable_by(|&a, &b| shifted[a].total_cmp(&shifted[b]).then(a.cmp(&b)));
        Some(Typical {
            shifted,
            order,
            probs: softmax(x),
        })
    }

    /// The largest distance kept at `mass`: the closest tokens are counted
    /// while their cumulative probability stays below `mass`.
    pub fn limit(&self, mass: f32) -> f32 {
        let mut cumulative = 0.0f64;
        let mut last = 0;
        for &i in &self.order {
            cumulative += self.probs[i] as f64;
            if (cumulative as f32) < mass {
                last += 1;
            } else {
                break;
            }
        }
        self.shifted[self.order[last.min(self.order.len() - 1)]]
    }

    /// Whether token `i` is cut under [`Self::limit`] `limit` (the closest
    /// token always stays).
    pub fn cuts(&self, i: usize, limit: f32) -> bool {
        self.shifted[i] > limit && i != self.order[0]
    }
}
