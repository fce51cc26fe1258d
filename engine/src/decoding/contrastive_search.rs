//! Contrastive search: each step takes, among the model's `k` most likely
//! tokens, the one that is likely *and* unlike the context so far.
//!
//! Su et al. 2022, "A Contrastive Framework for Neural Text Generation"
//! (arXiv:2202.06417), eq. 5: with `V⁽ᵏ⁾` the top-`k` tokens of
//! `p(· | x<t)`, choose
//! `argmax_{v ∈ V⁽ᵏ⁾} (1 − α)·p(v | x<t) − α·max_{j<t} cos(h_v, h_{x_j})`,
//! where `h` is the last layer's hidden state (after `ln_f`): of each
//! context token, and of `v` appended to the context. The max cosine is the
//! *degeneration penalty*; α = 0 is greedy decoding.
//!
//! As `transformers` 4.55 runs it (`GenerationMixin._contrastive_search` and
//! `_ranking_fast`): the logit processors (end-of-text before
//! `min_new_tokens`) before the softmax, the `k` candidates run as `k` rows
//! of one pass over copies of the cache, cosines of unit vectors in f32, the
//! first maximum on ties.

use crate::backend::{HiddenRequest, KvCache, LanguageModel};
use crate::decoding::limits::{self, RunSize};
use crate::decoding::select::{argmax, top_n};
use crate::decoding::steps::{Cut, SearchCandidate, Step};
use crate::decoding::{GenerateOptions, Generated, SamplingParams};
use crate::{Error, Result};

/// The knobs of contrastive search.
#[derive(Debug, Clone, PartialEq)]
pub struct ContrastiveSearchParams {
    /// α: the degeneration penalty's weight, in [0, 1].
    pub penalty_alpha: f32,
    /// k: candidates per step (each a row of the candidates' pass).
    pub top_k: usize,
}

impl Default for ContrastiveSearchParams {
    fn default() -> Self {
        // The paper's and transformers' documented setting.
        ContrastiveSearchParams {
            penalty_alpha: 0.6,
            top_k: 4,
        }
    }
}

impl ContrastiveSearchParams {
    /// Checks that every parameter is in its range.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.penalty_alpha) {
            return Err(Error::input(format!(
                "--penalty-alpha must be between 0 and 1 (the degeneration penalty's weight; \
                 0 is greedy decoding), got {}",
                self.penalty_alpha
            )));
        }
        limits::check_rows("--top-k", self.top_k)
    }
}

/// `x / ‖x‖` in f32, as `_ranking_fast` normalises (the norm summed in f64).
fn unit(x: &[f32]) -> Vec<f32> {
    let norm = x.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt() as f32;
    x.iter().map(|&v| v / norm).collect()
}

/// The largest cosine between `h` (a unit vector) and the context's unit vectors.
fn degeneration_penalty(context: &[Vec<f32>], h: &[f32]) -> f32 {
    context
        .iter()
        .map(|c| {
            c.iter()
                .zip(h)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum::<f64>() as f32
        })
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Contrastive search of up to `max_new_tokens` after `prompt`. `on_step`
/// sees each step's candidates with their probability, degeneration penalty
/// and score. The score is the sum of the chosen tokens' log-probabilities
/// (after the processors). Stops early at end-of-text or the end of the
/// context.
pub async fn contrastive_search<M: LanguageModel>(
    model: &M,
    prompt: &[u32],
    options: &GenerateOptions,
    params: &ContrastiveSearchParams,
    on_step: &mut dyn FnMut(Step),
) -> Result<Generated> {
    params.validate()?;
    let cfg = model.config();
    options.check(prompt, cfg)?;
    let k = params.top_k;
    if k > cfg.vocab_size {
        return Err(Error::input(format!(
            "--top-k {k} is more than the vocabulary's {} tokens",
            cfg.vocab_size
        )));
    }
    let size = RunSize::generate(cfg, prompt.len(), options, k, 0);
    limits::check_memory(
        &[cfg],
        size,
        "use a smaller --top-k or fewer --max-new-tokens",
    )?;
    let mut cache = model.new_cache(1)?;
    cache.reserve(size.positions)?;
    let last_layer = [cfg.n_layer];
    let want = |positions| HiddenRequest {
        layers: &last_layer,
        positions,
        heads: &[],
        lens: false,
    };
    let first = model
        .forward_hidden(&mut cache, &[prompt], 1, &want(prompt.len()))
        .await?;
    let mut context: Vec<Vec<f32>> = (0..prompt.len())
        .map(|p| unit(first.state(0, 0, p)))
        .collect();
    let mut logits = first.logits.last(0).to_vec();
    let processors = SamplingParams::default();
    let mut out = Generated {
        ids: Vec::new(),
        score: 0.0,
    };
    let mut text = prompt.to_vec();
    while out.ids.len() < options.max_new_tokens && text.len() < cfg.n_positions {
        let bans: Vec<(u32, Cut)> = match options.eos_token_id {
            Some(eos) if out.ids.len() < options.min_new_tokens => vec![(eos, Cut::MinNewTokens)],
            _ => Vec::new(),
        };
        let probs = processors.process_with_bans(&logits, &text, &bans).probs;
        let top = top_n(&probs, k);
        let rows: Vec<[u32; 1]> = top.iter().map(|&id| [id as u32]).collect();
        let tokens: Vec<&[u32]> = rows.iter().map(|r| &r[..]).collect();
        cache.reorder(&vec![0; k])?;
        let next = model
            .forward_hidden(&mut cache, &tokens, 1, &want(1))
            .await?;
        // α as transformers holds it: the decimal written, in f64, each
        // factor then taken to f32 with the probabilities.
        let alpha: f64 = params.penalty_alpha.to_string().parse().unwrap_or(0.0);
        let (keep, weight) = ((1.0 - alpha) as f32, alpha as f32);
        let candidates: Vec<SearchCandidate> = top
            .iter()
            .enumerate()
            .map(|(row, &id)| {
                let penalty = degeneration_penalty(&context, &unit(next.state(0, row, 0)));
                SearchCandidate {
                    id: id as u32,
                    prob: probs[id],
                    penalty,
                    score: keep * probs[id] - weight * penalty,
                }
            })
            .collect();
        let scores: Vec<f32> = candidates.iter().map(|c| c.score).collect();
        let sel = argmax(&scores);
        let id = candidates[sel].id;
        cache.reorder(&[sel])?;
        context.push(unit(next.state(0, sel, 0)));
        logits = next.logits.last(sel).to_vec();
        out.score += probs[id as usize].ln();
        out.ids.push(id);
        text.push(id);
        on_step(Step::ContrastiveSearch {
            chosen: id,
            candidates,
        });
        if Some(id) == options.eos_token_id {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_penalty_is_the_largest_cosine_with_the_context() {
        let context = vec![unit(&[1.0, 0.0]), unit(&[1.0, 1.0])];
        let p = degeneration_penalty(&context, &unit(&[0.0, 2.0]));
        assert!((p - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6, "{p}");
        let same = degeneration_penalty(&context, &unit(&[3.0, 0.0]));
        assert!((same - 1.0).abs() < 1e-6, "{same}");
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        let ok = ContrastiveSearchParams::default();
        assert!(ok.validate().is_ok());
        for bad in [
            ContrastiveSearchParams {
                penalty_alpha: 1.5,
                ..ok.clone()
            },
            ContrastiveSearchParams {
                penalty_alpha: f32::NAN,
                ..ok.clone()
            },
            ContrastiveSearchParams {
                top_k: 0,
                ..ok.clone()
            },
            ContrastiveSearchParams {
                top_k: limits::MAX_ROWS + 1,
                ..ok.clone()
            },
        ] {
            let e = bad.validate().unwrap_err();
            assert!(e.is_bad_input(), "{e}");
        }
    }
}
