//! Contrastive decoding: a large *expert* and a small *amateur* model decode
//! together, and each step takes the token the expert likes most *relative to*
//! the amateur, among the tokens the expert finds plausible.
//!
//! Li et al. 2022, "Contrastive Decoding: Open-ended Text Generation as
//! Optimization" (arXiv:2210.15097), §3: with `V = {x : p_e(x) ≥ α·max_w p_e(w)}`,
//! choose `argmax_{x ∈ V} log p_e(x) − λ·log p_a(x)`, where the amateur's
//! distribution may be taken at a temperature τ (`p_a = softmax(logits_a / τ)`).
//! λ = 1 is the paper's objective; λ = 0 is greedy decoding on the expert.

use crate::backend::{KvCache, LanguageModel};
use crate::decoding::limits::{self, RunSize};
use crate::decoding::select::{argmax, top_n};
use crate::decoding::steps::{ContrastiveCandidate, Step, STEP_CANDIDATES};
use crate::decoding::{log_softmax, GenerateOptions, Generated};
use crate::{Error, Result};

/// The knobs of contrastive decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct ContrastiveParams {
    /// Plausibility cut: keep tokens with `p_e ≥ alpha · max p_e`, in [0, 1].
    pub alpha: f32,
    /// Weight of the amateur's log-probability in the score (≥ 0).
    pub lambda: f32,
    /// Temperature of the amateur's distribution (> 0).
    pub amateur_temperature: f32,
}

impl Default for ContrastiveParams {
    fn default() -> Self {
        ContrastiveParams {
            alpha: 0.1,
            lambda: 1.0,
            amateur_temperature: 1.0,
        }
    }
}

impl ContrastiveParams {
    /// Checks that every parameter is in its range.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(Error::input(format!(
                "contrastive alpha must be between 0 and 1 (the plausibility cut, \
                 a fraction of the expert's top probability), got {}",
                self.alpha
            )));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::input(format!(
                "contrastive lambda must be a finite number ≥ 0 (the amateur's weight), got {}",
                self.lambda
            )));
        }
        if !(self.amateur_temperature.is_finite() && self.amateur_temperature > 0.0) {
            return Err(Error::input(format!(
                "the amateur temperature must be a finite number > 0, got {}",
                self.amateur_temperature
            )));
        }
        Ok(())
    }
}

/// The scores of one step; `scores[x]` is −∞ outside the plausibility set.
struct StepScores {
    expert: Vec<f32>,
    amateur: Vec<f32>,
    scores: Vec<f32>,
    plausible: Vec<bool>,
}

/// Scores every token from the expert's (already eos-masked) and the amateur's logits.
fn step_scores(
    expert_logits: &[f32],
    amateur_logits: &[f32],
    params: &ContrastiveParams,
) -> StepScores {
    let expert = log_softmax(expert_logits);
    let scaled: Vec<f32> = amateur_logits
        .iter()
        .map(|&l| l / params.amateur_temperature)
        .collect();
    let amateur = log_softmax(&scaled);
    let max = expert.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // p_e(x) ≥ α·max p_e, in log space; α = 0 keeps every token the expert allows.
    let threshold = if params.alpha > 0.0 {
        max + params.alpha.ln()
    } else {
        f32::NEG_INFINITY
    };
    let plausible: Vec<bool> = expert
        .iter()
        .map(|&e| e.is_finite() && e >= threshold)
        .collect();
    let scores = expert
        .iter()
        .zip(&amateur)
        .zip(&plausible)
        .map(|((&e, &a), &ok)| match (ok, params.lambda == 0.0) {
            (false, _) => f32::NEG_INFINITY,
            (true, true) => e,
            (true, false) => e - params.lambda * a,
        })
        .collect();
    StepScores {
        expert,
        amateur,
        scores,
        plausible,
    }
}

/// The top [`STEP_CANDIDATES`] tokens by expert probability, plus `chosen`.
fn candidates(s: &StepScores, chosen: usize) -> Vec<ContrastiveCandidate> {
    let mut order = top_n(&s.expert, STEP_CANDIDATES);
    if !order.contains(&chosen) {
        order.push(chosen);
    }
    order
        .into_iter()
        .map(|x| ContrastiveCandidate {
            id: x as u32,
            expert_logprob: s.expert[x],
            amateur_logprob: s.amateur[x],
            score: s.scores[x],
            plausible: s.plausible[x],
        })
        .collect()
}

/// Contrastive decoding of up to `max_new_tokens` after `prompt` with an
/// `expert` and an `amateur` that share a vocabulary. `on_step` sees each step's
/// chosen token and top candidates. The score is the sum of the chosen tokens'
/// expert log-probabilities. Stops early at end-of-text or the end of either
/// model's context.
pub async fn contrastive<E: LanguageModel, A: LanguageModel>(
    expert: &E,
    amateur: &A,
    prompt: &[u32],
    options: &GenerateOptions,
    params: &ContrastiveParams,
    on_step: &mut dyn FnMut(Step),
) -> Result<Generated> {
    params.validate()?;
    let (ve, va) = (expert.config().vocab_size, amateur.config().vocab_size);
    if ve != va {
        return Err(Error::input(format!(
            "the amateur's vocabulary ({va}) differs from the expert's ({ve}): \
             contrastive decoding needs two models with the same tokenizer"
        )));
    }
    let n_positions = expert
        .config()
        .n_positions
        .min(amateur.config().n_positions);
    options.check(prompt, expert.config())?;
    options.check(prompt, amateur.config())?;
    let (ec, ac) = (expert.config(), amateur.config());
    let size = RunSize::generate(ec, prompt.len(), options, 1, 0);
    limits::check_memory(&[ec, ac], size, "use fewer --max-new-tokens")?;
    let mut expert_cache = expert.new_cache(1)?;
    let mut amateur_cache = amateur.new_cache(1)?;
    let positions = size.positions;
    expert_cache.reserve(positions)?;
    amateur_cache.reserve(positions)?;
    let mut out = Generated {
        ids: Vec::new(),
        score: 0.0,
    };
    let mut input = prompt.to_vec();
    while out.ids.len() < options.max_new_tokens && prompt.len() + out.ids.len() < n_positions {
        let e = expert.forward(&mut expert_cache, &[&input], 1).await?;
        let a = amateur.forward(&mut amateur_cache, &[&input], 1).await?;
        let mut expert_logits = e.last(0).to_vec();
        options.suppress_early_eos(out.ids.len(), &mut expert_logits);
        let s = step_scores(&expert_logits, a.last(0), params);
        let chosen = argmax(&s.scores);
        let id = chosen as u32;
        out.score += s.expert[chosen];
        out.ids.push(id);
        on_step(Step::Contrastive {
            chosen: id,
            candidates: candidates(&s, chosen),
        });
        if Some(id) == options.eos_token_id {
            break;
        }
        input = vec![id];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plausibility_cut_and_the_amateur_decide() {
        // Expert: token 0 best, 1 close, 2 far below the cut at α = 0.1.
        let expert = [2.0, 1.8, -3.0, 1.0];
        // The amateur loves 0 and dislikes 1 and 2.
        let amateur = [5.0, 0.0, -10.0, 0.0];
        let p = ContrastiveParams::default();
        let s = step_scores(&expert, &amateur, &p);
        assert_eq!(s.plausible, [true, true, false, true]);
        assert_eq!(argmax(&s.scores), 1, "scores {:?}", s.scores);
        let greedy = ContrastiveParams { lambda: 0.0, ..p };
        assert_eq!(argmax(&step_scores(&expert, &amateur, &greedy).scores), 0);
        let all = ContrastiveParams { alpha: 0.0, ..p };
        assert_eq!(argmax(&step_scores(&expert, &amateur, &all).scores), 2);
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        let ok = ContrastiveParams::default();
        assert!(ok.validate().is_ok());
        for bad in [
            ContrastiveParams {
                alpha: 1.5,
                ..ok.clone()
            },
            ContrastiveParams {
                alpha: f32::NAN,
                ..ok.clone()
            },
            ContrastiveParams {
                lambda: -1.0,
                ..ok.clone()
            },
            ContrastiveParams {
                lambda: f32::INFINITY,
                ..ok.clone()
            },
            ContrastiveParams {
                amateur_temperature: 0.0,
                ..ok.clone()
            },
        ] {
            let e = bad.validate().unwrap_err();
            assert!(e.is_bad_input(), "{e}");
        }
    }
}
