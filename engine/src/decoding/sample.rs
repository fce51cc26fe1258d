//! Ancestral sampling (through the sampler chain of
//! [`crate::decoding::processors`]) of several sequences side by side.
//!
//! The `R` sequences are `R` rows of one KV cache: the prompt is run once on a
//! one-row cache, whose row is then copied `R` times (`reorder`), and every
//! later step is one forward for all live rows. A row that chooses
//! end-of-text is finished: its output is frozen and the cache is compacted to
//! the live rows (`reorder`), so finished rows cost nothing. Classifier-free
//! guidance runs the unconditional context beside them, on a cache of its own
//! whose rows follow the same copies and compactions ([`Unconditional`]).
//!
//! Randomness: one [`Rng`] stream seeded by `seed`. Each step draws one uniform
//! per live row, in ascending row order (row = index in the returned vector),
//! and [`Rng::categorical`] turns it into a token; greedy (temperature 0) draws
//! nothing. The same seed, prompt, options and model give the same output.
//!
//! Forcing (`GenerateOptions::forced`, a branch): at a forced step every row
//! takes the forced token instead of its choice, at the selection point
//! below. The step's draws are still made, so the other steps draw what the
//! unforced run drew; the forced token's log-probability is its raw one under
//! the model (the processed distribution may give it none).

use std::sync::Arc;

use crate::backend::{KvCache, LanguageModel, Logits};
use crate::decoding::greedy::choose_from_top;
use crate::decoding::guidance::{self, Unconditional};
use crate::decoding::limits::{self, RunSize};
use crate::decoding::processors::{mirostat, Processed, SamplingParams, Stage, StepInputs};
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
    limits::check_rows("--num-return-sequences", num_return_sequences)?;
    let config = model.config();
    let n_positions = config.n_positions;
    options.check(prompt, config)?;
    let size = RunSize::generate(config, prompt.len(), options, num_return_sequences, 0);
    // Classifier-free guidance: the unconditional context's own cache.
    let guide = params
        .guidance
        .as_ref()
        .filter(|_| params.is_set(Stage::Guidance));
    let mut sizes = vec![(config, size)];
    if let Some(g) = guide {
        let rows = num_return_sequences;
        sizes.push((
            config,
            guidance::run_size(config, g, prompt, options, rows)?,
        ));
    }
    limits::check_parts(
        &sizes,
        "use fewer --num-return-sequences or --max-new-tokens",
    )?;
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
    cache.reserve(size.positions)?;
    let mut unconditional = match guide {
        Some(g) => Some(Unconditional::new(model, g, prompt, options)?),
        None => None,
    };
    // Greedy without processors that need the whole row asks the model for
    // the top candidates only (computed on the GPU where there is one).
    // A forced step reports the forced token among the step's candidates,
    // which needs the whole row; so do callers that ask for every row.
    let from_top = params.is_greedy()
        && options.forced.is_empty()
        && !options.whole_rows
        && !Stage::DEFAULT_ORDER
            .iter()
            .any(|&s| !s.is_warper() && params.is_set(s));
    // Mirostat's μ, per returned row.
    let mut mu: Vec<Option<f32>> =
        vec![params.mirostat.map(|m| mirostat::initial_mu(&m)); num_return_sequences];
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
        let chosen = if from_top {
            choose_from_top_rows(model, &mut cache, &tokens, &bans, live.len()).await?
        } else {
            let logits = model.forward(&mut cache, &tokens, 1).await?;
            let unconditional = match &mut unconditional {
                Some(u) => Some(u.forward(model, &tokens).await?),
                None => None,
            };
            let rows = Rows {
                logits: &logits,
                unconditional: unconditional.as_ref(),
                live: &live,
                context: &context,
                prompt_len: prompt.len(),
                first: step == 0,
            };
            let forced = options.forced_at(step);
            choose_rows(rows, params, &bans, forced, &mut mu, &mut rng)?
        };
        for (&row, c) in live.iter().zip(chosen) {
            out[row].score += c.logprob;
            out[row].ids.push(c.id);
            context[row].push(c.id);
            on_step(Step::Token {
                row,
                chosen: c.id,
                candidates: c.candidates,
                logits: c.logits,
                mirostat_mu: c.mirostat_mu,
                xtc_coin: c.xtc_coin,
                unconditional: c.unconditional,
            });
        }
        step += 1;
        live = compact(
            &mut cache,
            unconditional.as_mut(),
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

/// One row's choice at a step.
struct Choice {
    id: u32,
    /// Its log-probability under the distribution it was chosen from.
    logprob: f32,
    candidates: Vec<StepCandidate>,
    /// The raw logits it was chosen from, when the whole row was read.
    logits: Option<Arc<[f32]>>,
    /// Mirostat's μ before this step.
    mirostat_mu: Option<f32>,
    /// XTC's coin at this step, when XTC is on.
    xtc_coin: Option<f64>,
    /// Guidance's unconditional logits at this step, when guidance is on.
    unconditional: Option<Arc<[f32]>>,
}

/// Greedy without processors that need the whole row: the model is asked for
/// the top candidates only (computed on the GPU where there is one).
async fn choose_from_top_rows<M: LanguageModel>(
    model: &M,
    cache: &mut M::Cache,
    tokens: &[&[u32]],
    bans: &[(u32, Cut)],
    live: usize,
) -> Result<Vec<Choice>> {
    let ban_ids: Vec<u32> = bans.iter().map(|&(id, _)| id).collect();
    let k = STEP_CANDIDATES + bans.len() + 1;
    let top = model.forward_top(cache, tokens, 1, k, &ban_ids).await?;
    // At the first step the prompt's one row stands for every live row.
    let first = top.rows == 1;
    (0..live)
        .map(|i| {
            let (id, logprob, candidates) =
                choose_from_top(top.last(if first { 0 } else { i }), bans, STEP_CANDIDATES)?;
            Ok(Choice {
                id,
                logprob,
                candidates,
                logits: None,
                mirostat_mu: None,
                xtc_coin: None,
                unconditional: None,
            })
        })
        .collect()
}

/// A step's logits and what each live row needs to process them.
struct Rows<'a> {
    logits: &'a Logits,
    /// Guidance's unconditional logits, row for row with `logits`.
    unconditional: Option<&'a Logits>,
    /// `live[i]`: the returned row that logits row `i` decodes.
    live: &'a [usize],
    context: &'a [Vec<u32>],
    /// How many tokens of each context are the prompt.
    prompt_len: usize,
    /// The first step: one row of logits (the prompt's) for every live row.
    first: bool,
}

/// Every live row's token, drawn (or the argmax) from its processed logits.
/// Per row, in ascending order: XTC's coin (when XTC is on), then the token;
/// mirostat's μ (`mu`, per returned row) is updated after the draw. A
/// `forced` token replaces every row's choice (its draw is still made).
fn choose_rows(
    rows: Rows<'_>,
    params: &SamplingParams,
    bans: &[(u32, Cut)],
    forced: Option<u32>,
    mu: &mut [Option<f32>],
    rng: &mut Rng,
) -> Result<Vec<Choice>> {
    // Logits row `i` and returned row `row`.
    let inputs = |i: usize, row: usize, coin: Option<f64>, mu: Option<f32>| StepInputs {
        context: &rows.context[row],
        prompt_len: rows.prompt_len,
        bans,
        xtc_coin: coin,
        mirostat_mu: mu,
        unconditional: rows.unconditional.map(|u| u.last(i)),
    };
    // Every row sees the same logits, context and μ at the first step (XTC's
    // coin is each row's own).
    let shared = (rows.first && params.xtc.is_none()).then(|| {
        let first = rows.live[0];
        (
            params.process_step(rows.logits.last(0), &inputs(0, first, None, mu[first])),
            Arc::<[f32]>::from(rows.logits.last(0)),
        )
    });
    let mut chosen = Vec::with_capacity(rows.live.len());
    for (i, &row) in rows.live.iter().enumerate() {
        let own;
        let at = if rows.first { 0 } else { i };
        let (processed, logits, coin) = match &shared {
            Some((p, l)) => (p, l.clone(), None),
            None => {
                let logits = rows.logits.last(at);
                let coin = params.xtc.is_some().then(|| rng.next_f64());
                own = params.process_step(logits, &inputs(at, row, coin, mu[row]));
                (&own, Arc::from(logits), coin)
            }
        };
        let drawn = choose(processed, params, rng)?;
        let id = forced.unwrap_or(drawn);
        let logprob = match forced {
            Some(id) => processed.raw[id as usize].ln(),
            None => processed.logprob(id),
        };
        let before = mu[row];
        if let (Some(m), Some(value)) = (&params.mirostat, before) {
            mu[row] = Some(mirostat::update(value, m, processed.probs[id as usize]));
        }
        chosen.push(Choice {
            id,
            logprob,
            candidates: processed.step_candidates(STEP_CANDIDATES, id),
            logits: Some(logits),
            mirostat_mu: before,
            xtc_coin: coin,
            unconditional: rows.unconditional.map(|u| Arc::from(u.last(at))),
        });
    }
    Ok(chosen)
}

/// The rows still live after `step` steps: finished rows (end-of-text) are
/// dropped from the cache (and guidance's unconditional one); after the
/// first step, the prompt's one row is copied to every live row.
#[allow(clippy::too_many_arguments)]
fn compact<C: KvCache>(
    cache: &mut C,
    unconditional: Option<&mut Unconditional<C>>,
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
        let rows = if step == 1 && keep.len() != 1 {
            Some(vec![0; keep.len()])
        } else if step > 1 && keep.len() < live.len() {
            Some(keep.clone())
        } else {
            None
        };
        if let Some(rows) = rows {
            cache.reorder(&rows)?;
            if let Some(u) = unconditional {
                u.reorder(&rows)?;
            }
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
    rng.categorical(&processed.probs)
        .map(|i| i as u32)
        .ok_or_else(|| Error::Backend("no token has a positive probability".into()))
}
