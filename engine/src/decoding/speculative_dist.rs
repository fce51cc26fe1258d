//! One position's distribution in speculative verification: the target's or
//! a draft model's (log-probabilities when verifying greedily, probabilities
//! when sampling), or a prompt-lookup copy's point mass; and the token the
//! target draws after a rejection, from norm(max(0, p − q)) (Leviathan et al.
//! 2022, Algorithm 1).

use crate::decoding::log_softmax;
use crate::decoding::select::{argmax, inverse_cdf};
use crate::decoding::speculative::Verify;

/// Draws a token from a distribution with `u` in [0, 1).
fn sample(dist: &[f32], u: f64) -> u32 {
    inverse_cdf(dist.iter().map(|&p| p as f64), u).unwrap_or_else(|| argmax(dist)) as u32
}

/// One position's distribution: log-probabilities for greedy verification
/// (so that argmax and score are greedy decoding's), probabilities for sampling.
/// A prompt-lookup draft is a point mass on its token.
pub(super) enum Dist {
    Log(Vec<f32>),
    Probs(Vec<f32>),
    Point(u32),
}

impl Dist {
    /// The masked softmax for greedy, `probs(logits, context)` for sampling.
    pub(super) fn new(verify: &Verify, logits: &[f32], context: &[u32]) -> Self {
        match verify {
            Verify::Greedy => Dist::Log(log_softmax(logits)),
            Verify::Sample { probs, .. } => Dist::Probs(probs(logits, context)),
        }
    }

    pub(super) fn prob(&self, x: u32) -> f32 {
        match self {
            Dist::Log(l) => l[x as usize].exp(),
            Dist::Probs(p) => p[x as usize],
            Dist::Point(id) => f32::from(u8::from(*id == x)),
        }
    }

    pub(super) fn logprob(&self, x: u32) -> f32 {
        match self {
            Dist::Log(l) => l[x as usize],
            Dist::Probs(p) => p[x as usize].ln(),
            Dist::Point(_) => self.prob(x).ln(),
        }
    }

    /// The most likely token (the first on ties).
    pub(super) fn top(&self) -> u32 {
        match self {
            Dist::Log(v) | Dist::Probs(v) => argmax(v) as u32,
            Dist::Point(id) => *id,
        }
    }

    /// The greedy choice, or a draw with `uniform` when sampling.
    pub(super) fn choose(&self, verify: &mut Verify) -> u32 {
        match (self, verify) {
            (Dist::Probs(p), Verify::Sample { uniform, .. }) => sample(p, uniform()),
            _ => self.top(),
        }
    }
}

/// After a rejection, the target's own choice: from norm(max(0, p − q)) when
/// sampling, its argmax when greedy.
pub(super) fn resample(p: &Dist, q: &Dist, verify: &mut Verify<'_>) -> u32 {
    match (p, q, verify) {
        (Dist::Probs(p), Dist::Point(x), Verify::Sample { uniform, .. }) => {
            let residual = p
                .iter()
                .enumerate()
                .map(|(i, &a)| if i == *x as usize { 0.0 } else { a as f64 });
            let u = uniform();
            inverse_cdf(residual, u).map_or_else(|| sample(p, u), |x| x as u32)
        }
        (Dist::Probs(p), Dist::Probs(q), Verify::Sample { uniform, .. }) => {
            let residual = p
                .iter()
                .zip(q)
                .map(|(&a, &b)| (a as f64 - b as f64).max(0.0));
            let u = uniform();
            inverse_cdf(residual, u).map_or_else(|| sample(p, u), |x| x as u32)
        }
        _ => p.top(),
    }
}
