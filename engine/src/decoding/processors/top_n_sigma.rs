//! Top-nσ (Tang et al. 2024, "Top-nσ: Not All Logits Are You Need",
//! arXiv:2411.07641), as llama.cpp's `llama_sampler_top_n_sigma`: keep the
//! tokens whose logit is at least `max − n·σ`, `σ` the population standard
//! deviation of the finite logits. Scaling every logit (temperature) scales
//! `max` and `σ` alike, so the set kept does not depend on the temperature.

use super::remove;
use crate::decoding::steps::Cut;

pub(super) fn top_n_sigma(x: &mut [f32], cut: &mut [Option<Cut>], n: f32) {
    let Some(spread) = Spread::of(x) else {
        return;
    };
    let floor = spread.floor(n);
    for i in 0..x.len() {
        if x[i] < floor {
            remove(x, cut, i, Cut::TopNSigma);
        }
    }
}

/// The largest finite logit and the finite logits' standard deviation.
pub(super) struct Spread {
    max: f64,
    sigma: f64,
}

impl Spread {
    /// `None` when no logit is finite.
    pub fn of(x: &[f32]) -> Option<Spread> {
        let finite: Vec<f64> = x
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| v as f64)
            .collect();
        if finite.is_empty() {
            return None;
        }
        let count = finite.len() as f64;
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = finite.iter().sum::<f64>() / count;
        let sigma = (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count).sqrt();
        Some(Spread { max, sigma })
    }

    /// The lowest logit kept at `n`: `max − n·σ`.
    pub fn floor(&self, n: f32) -> f32 {
        (self.max - n as f64 * self.sigma) as f32
    }
}
