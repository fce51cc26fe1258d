//! Decoding strategies, written once over [`crate::backend::LanguageModel`] so
//! that every backend gets all of them.

mod beam;
mod beam_groups;
mod beam_single;
mod contrastive;
mod contrastive_search;
mod dola;
mod greedy;
mod guidance;
mod lens;
pub mod limits;
mod method;
pub mod metrics;
mod options;
pub mod processors;
mod prompt_lookup;
pub mod record;
pub mod rng;
mod sample;
mod score;
pub mod select;
mod speculative;
mod speculative_dist;
pub mod steps;
mod strategy;

pub use beam::{beam_search, beam_search_in_groups, BeamParams, EarlyStopping};
pub use contrastive::{contrastive, ContrastiveParams};
pub use contrastive_search::{contrastive_search, ContrastiveSearchParams};
pub use dola::{dola, DolaLayers, DolaParams};
pub use greedy::greedy;
pub use lens::{logit_lens, LensLayer};
pub use method::{Method, SecondModel};
pub use options::{check_ids, GenerateOptions, Generated};
pub use processors::{Dry, Guidance, Mirostat, Processed, SamplingParams, Stage, StepInputs, Xtc};
pub use prompt_lookup::prompt_lookup;
pub use record::{RunRecord, SequenceRecord};
pub use rng::Rng;
pub use sample::sample;
pub use score::{expected, next_token_logprobs, score, Candidate, Expected};
pub use select::argmax;
pub use speculative::{speculative, Drafter, SpeculativeStats, Verify};
pub use steps::Step;
pub use strategy::{run, DraftSource, Outcome, SpeculativeParams, Strategy};

/// `log_softmax` of one row of logits, computed as `transformers` does in f32
/// (max subtracted first); the sum is accumulated in f64.
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    let log_sum = sum.ln() as f32;
    logits.iter().map(|&l| l - max - log_sum).collect()
}

/// The entropy (nats) of a distribution given as log-probabilities (a
/// [`log_softmax`] row), as torch's `Categorical.entropy`: each
/// log-probability clamped to the least finite f32, so a token with none
/// (−∞) adds 0; the terms are summed in f64. η-sampling and locally typical
/// sampling weigh it, and the page's timeline shows it.
pub fn entropy(logprobs: &[f32]) -> f32 {
    -logprobs
        .iter()
        .map(|&l| (l.max(f32::MIN) * l.exp()) as f64)
        .sum::<f64>() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_normalizes_and_argmax_takes_the_first_tie() {
        let lp = log_softmax(&[1.0, 3.0, 3.0, f32::NEG_INFINITY]);
        let total: f32 = lp.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6, "sum of probabilities {total}");
        assert_eq!(lp[3], f32::NEG_INFINITY);
        assert_eq!(argmax(&lp), 1);
    }

    #[test]
    fn entropy_is_ln_n_for_n_equal_tokens_and_ignores_impossible_ones() {
        let lp = log_softmax(&[2.0, 2.0, 2.0, 2.0, f32::NEG_INFINITY]);
        let h = entropy(&lp);
        assert!((h - 4f32.ln()).abs() < 1e-6, "entropy {h} vs ln 4");
        assert_eq!(entropy(&log_softmax(&[0.0, f32::NEG_INFINITY])), 0.0);
    }
}
