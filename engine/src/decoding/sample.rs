//! Ancestral sampling (with temperature, top-k, top-p, min-p, repetition
//! penalty and no-repeat-n-gram, see [`crate::decoding::processors`]) of
//! several sequences side by side.
//!
//! The `R` sequences are `R` rows of one KV cache: the prompt is run once on a
//! one-row cache, whose row is then copied `R` times (`reorder`), and every
//! later step is one forward for all live rows. A row that chooses
//! end-of-text is finished: its output is frozen and the cache is compacted to
//! the live rows (`reorder`), so finished rows cost nothing.
//!
//! Randomness: one [`Rng`] stream seeded by `seed`. Each step draws one uniform
//! per live row, in ascending row order (row = index in the returned vector),
//! and [`Rng::categorical`] turns it into a token; greedy (temperature 0) draws
//! nothing. The same seed, prompt, options and model give the same output.

use crate::backend::{KvCache, LanguageModel};
use crate::decoding::greedy::choose_from_top;
use crate::decoding::processors::{Processed, SamplingParams};
use crate::decoding::rng::Rng;
use crate::decoding::steps::{Cut, Step, StepCandidate, STEP_CANDIDATES};
use crate::decoding::{GenerateOptions, Generated};
use crate::{Error, Result};

/// Samples `num_return_sequences` continuations of `prompt`; `on_step` sees
/// every row's choice at every step. `Generated.score` is the sum of the log
/// final probabilities of the chosen tokens (under greedy, their log-softmax).
pub async fn sample<M: LanguageModel>(
    model: &M,
    prompt: &[u32],
    options: &GenerateOptions,
    params: &SamplingParams,
    seed: u64,
    num_return_sequences: usize,
    on_step: &mut dyn FnMut(Step),
) -> Result<Vec<Generated>> {
    params.validate()?;
    if num_return_sequences == 0 {
        return Err(Error::input(
            "--num-return-sequences must be at least 1, got 0",
        ));
    }
    let n_positions = model.config().n_positions;
    options.check(prompt.len(), n_positions)?;
    let mut rng = Rng::new(seed);
    let mut out = vec![
        Generated {
            ids: Vec::new(),
            score: 0.0,
        };
        num_return_sequences
    ];
    // `live[i]`: the returned row that cache row `i` decodes.
    let mut live: Vec<usize> = (0..num_return_sequences).collect();
    let mut context: Vec<Vec<u32>> = vec![prompt.to_vec(); num_return_sequences];
    let mut cache = model.new_cache(1)?;
    cache.reserve(prompt.len() + options.max_new_tokens)?;
    // Greedy without processors that need the whole row asks the model for
    // the top candidates only (computed on the GPU where there is one).
    let from_top = params.is_greedy()
        && params.repetition_penalty.is_none()
        && params.no_repeat_ngram_size.is_none();
    let mut step = 0;
    while step < options.max_new_tokens && prompt.len() + step < n_positions && !live.is_empty() {
        let bans: Vec<(u32, Cut)> = match options.eos_token_id {
            Some(eos) if step < options.min_new_tokens => vec![(eos, Cut::MinNewTokens)],
            _ => Vec::new(),
        };
        let last: Vec<[u32; 1]> = live
            .iter()
            .map(|&r| [context[r][context[r].len() - 1]])
            .collect();
        let tokens: Vec<&[u32]> = match step {
            0 => vec![prompt],
            _ => last.iter().map(|t| &t[..]).collect(),
        };
        // Each live row's token, its log-probability and the step's candidates.
        let chosen: Vec<(u32, f32, Vec<StepCandidate>)> = if from_top {
            let ban_ids: Vec<u32> = bans.iter().map(|&(id, _)| id).collect();
            let k = STEP_CANDIDATES + bans.len() + 1;
            let top = model
                .forward_top(&mut cache, &tokens, 1, k, &ban_ids)
                .await?;
            (0..live.len())
                .map(|i| {
                    choose_from_top(
                        top.last(if step == 0 { 0 } else { i }),
                        &bans,
                        STEP_CANDIDATES,
                    )
                })
                .collect::<Result<_>>()?
        } else {
            let logits = model.forward(&mut cache, &tokens, 1).await?;
            // Every row sees the same logits and context at the first step.
            let shared =
                (step == 0).then(|| params.process_with_bans(logits.last(0), prompt, &bans));
            let mut chosen = Vec::with_capacity(live.len());
            for (i, &row) in live.iter().enumerate() {
                let own;
                let processed = match &shared {
                    Some(p) => p,
                    None => {
                        own = params.process_with_bans(logits.last(i), &context[row], &bans);
                        &own
                    }
                };
                let id = choose(processed, params, &mut rng)?;
                let candidates = processed.step_candidates(STEP_CANDIDATES, id);
                chosen.push((id, processed.logprob(id), candidates));
            }
            chosen
        };
        for (&row, (id, logprob, candidates)) in live.iter().zip(chosen) {
            out[row].score += logprob;
            out[row].ids.push(id);
            context[row].push(id);
            on_step(Step::Token {
                row,
                chosen: id,
                candidates,
            });
        }
        step += 1;
        live = compact(
            &mut cache,
            live,
            &out,
            options,
            step,
            prompt.len(),
            n_positions,
        )?;
    }
    Ok(out)
}

/// The rows still live after `step` steps: finished rows (end-of-text) are
/// dropped from the cache; after the first step, the prompt's one row is
/// copied to every live row.
fn compact<C: KvCache>(
    cache: &mut C,
    live: Vec<usize>,
    out: &[Generated],
    options: &GenerateOptions,
    step: usize,
    prompt_len: usize,
    n_positions: usize,
) -> Result<Vec<usize>> {
    let keep: Vec<usize> = (0..live.len())
        .filter(|&i| out[live[i]].ids.last().copied() != options.eos_token_id)
        .collect();
    let more = step < options.max_new_tokens && prompt_len + step < n_positions;
    if more && !keep.is_empty() {
        if step == 1 && keep.len() != 1 {
            cache.reorder(&vec![0; keep.len()])?;
        } else if step > 1 && keep.len() < live.len() {
            cache.reorder(&keep)?;
        }
    }
    Ok(keep.into_iter().map(|i| live[i]).collect())
}

/// The token for one row: the argmax under greedy, else one categorical draw.
fn choose(processed: &Processed, params: &SamplingParams, rng: &mut Rng) -> Result<u32> {
    if !processed.probs.iter().any(|&p| p > 0.0) {
        return Err(Error::Backend(
            "no token has a positive probability: the model's logits are all -inf or NaN".into(),
        ));
    }
    if params.is_greedy() {
        return Ok(crate::decoding::argmax(&processed.probs) as u32);
    }
    Ok(rng.categorical(&processed.probs) as u32)
}
