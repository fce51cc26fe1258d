//! Speculative decoding: a small *draft* model proposes γ tokens one by one,
//! the *target* model scores all of them in one forward pass, and a rejection
//! rule keeps a prefix of them so that the output is distributed exactly as if
//! the target had decoded alone.
//!
//! Leviathan, Kalman & Matias 2022, "Fast Inference from Transformers via
//! Speculative Decoding" (arXiv:2211.17192), Algorithm 1; Chen et al. 2023,
//! "Accelerating Large Language Model Decoding with Speculative Sampling"
//! (arXiv:2302.01318). Drafted `x ~ q` is accepted with probability
//! `min(1, p(x)/q(x))`; on rejection the token is drawn from
//! `norm(max(0, p − q))`; after γ acceptances a bonus token is drawn from `p`.
//! With greedy verification a draft is accepted when it is the target's argmax,
//! and the output is the target's greedy output.
//!
//! The draft is a smaller model, or prompt lookup ([`prompt_lookup`]): an
//! n-gram copied from the context. A copied token is certain under the draft,
//! q = δ_x (q(x) = 1, as the steps report it), so the rule accepts it with
//! probability p(x) and on rejection draws from norm(max(0, p − δ_x)): p with
//! x removed. This is transformers' prompt lookup with sampling (draw y ~ p,
//! keep x while y = x, else emit y), in the same law.

use crate::backend::{KvCache, LanguageModel, Logits};
use crate::decoding::limits::{self, RunSize};
use crate::decoding::processors::banned_ngram_tokens;
use crate::decoding::prompt_lookup::prompt_lookup;
use crate::decoding::speculative_dist::{resample, Dist};
use crate::decoding::steps::{Draft, Step};
use crate::decoding::{GenerateOptions, Generated};
use crate::{Error, Result};

/// How the target checks the drafted tokens.
#[allow(clippy::type_complexity)]
pub enum Verify<'a> {
    /// Accept a draft while it is the target's most likely token.
    Greedy,
    /// Rejection sampling (Leviathan et al., Algorithm 1).
    Sample {
        /// `probs(logits, context)`: the normalized distribution to sample from
        /// (processors applied), used alike on target and draft logits.
        probs: &'a dyn Fn(&[f32], &[u32]) -> Vec<f32>,
        /// Uniform draws in [0, 1), taken in order: one per token a draft model
        /// drafts (its draw from q), one per verified draft, one for the
        /// resampled or bonus token.
        uniform: &'a mut dyn FnMut() -> f64,
    },
}

/// Where the drafted tokens come from.
pub enum Drafter<'a, D> {
    /// A smaller model with the target's vocabulary, one pass per drafted token.
    Model(&'a D),
    /// Prompt lookup: n-grams of up to `max_matching_ngram_size` tokens looked
    /// up in the context; no model, no forward pass.
    PromptLookup {
        max_matching_ngram_size: usize,
        /// The sampler's no-repeat-n-gram size: copies it would ban are not proposed.
        no_repeat_ngram_size: Option<usize>,
    },
}

/// Counters of a speculative run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpeculativeStats {
    /// Tokens the draft proposed.
    pub drafted: usize,
    /// Drafted tokens the target accepted.
    pub accepted: usize,
    /// Forward passes of the target.
    pub target_passes: usize,
    /// Forward passes of the draft (none with prompt lookup).
    pub draft_passes: usize,
}

impl SpeculativeStats {
    /// Accepted ÷ drafted (0 when nothing was drafted).
    pub fn acceptance_rate(&self) -> f64 {
        if self.drafted == 0 {
            0.0
        } else {
            self.accepted as f64 / self.drafted as f64
        }
    }
}

/// Prompt lookup's proposals: up to `g` tokens copied from `seq` and pushed
/// on it, each a point mass (q = 1). The copies stop before what the
/// processors ban whatever the logits, as in transformers: end-of-text before
/// `min_new_tokens`, and the n-grams `no_repeat_ngram_size` bans.
fn copy_tokens(
    max_ngram: usize,
    no_repeat_ngram_size: Option<usize>,
    seq: &mut Vec<u32>,
    g: usize,
    made: usize,
    options: &GenerateOptions,
) -> Vec<Dist> {
    let len = seq.len();
    let banned = |s: &[u32], x: u32| {
        let early = made + s.len() - len < options.min_new_tokens;
        (early && Some(x) == options.eos_token_id)
            || no_repeat_ngram_size.is_some_and(|n| banned_ngram_tokens(s, n).contains(&x))
    };
    let copied = prompt_lookup(seq, max_ngram, g, options.eos_token_id, &banned);
    seq.extend_from_slice(&copied);
    copied.into_iter().map(Dist::Point).collect()
}

/// The draft model's proposals: up to `g` tokens pushed on `seq`, one forward
/// pass each, stopping after an end-of-text; their distributions returned.
async fn draft_tokens<D: LanguageModel>(
    draft: &D,
    cache: &mut D::Cache,
    seq: &mut Vec<u32>,
    g: usize,
    made: usize,
    verify: &mut Verify<'_>,
    options: &GenerateOptions,
) -> Result<Vec<Dist>> {
    let mut qs: Vec<Dist> = Vec::with_capacity(g);
    for i in 0..g {
        let unseen = &seq[cache.len()..];
        let l = draft.forward(cache, &[unseen], 1).await?;
        let mut logits = l.last(0).to_vec();
        options.suppress_early_eos(made + i, &mut logits);
        let q = Dist::new(verify, &logits, seq);
        let x = q.choose(verify);
        qs.push(q);
        seq.push(x);
        if Some(x) == options.eos_token_id {
            break; // nothing after end-of-text can be emitted
        }
    }
    Ok(qs)
}

/// What the target made of a round's drafts.
struct Round {
    /// The drafts as the step reports them (an accepted end-of-text aside).
    drafted: Vec<Draft>,
    /// The accepted drafts with their log-probabilities under the target.
    emitted: Vec<(u32, f32)>,
    /// The token the target adds: (id, log-probability, resampled after a rejection).
    added: (u32, f32, bool),
    accepted: usize,
}

/// Verifies the drafts `seq[len..]` against the target's logits `l` (one
/// position per draft and the one after), in order, until one is rejected.
fn verify_drafts(
    l: &Logits,
    qs: &[Dist],
    seq: &[u32],
    len: usize,
    made: usize,
    verify: &mut Verify<'_>,
    options: &GenerateOptions,
) -> Round {
    let mut drafted = Vec::with_capacity(qs.len());
    let mut emitted: Vec<(u32, f32)> = Vec::with_capacity(qs.len() + 1);
    let mut accepted_count = 0;
    for (i, q) in qs.iter().enumerate() {
        let p = target_dist(l, i, seq, len, made, verify, options);
        let x = seq[len + i];
        let (px, qx) = (p.prob(x), q.prob(x));
        let accepted = match verify {
            Verify::Greedy => p.top() == x,
            Verify::Sample { uniform, .. } => uniform() * (qx as f64) < px as f64,
        };
        if accepted && Some(x) == options.eos_token_id {
            return Round {
                drafted,
                emitted,
                added: (x, p.logprob(x), false),
                accepted: accepted_count + 1,
            };
        }
        drafted.push(Draft {
            id: x,
            p: px,
            q: qx,
            accepted,
        });
        if accepted {
            accepted_count += 1;
            emitted.push((x, p.logprob(x)));
            continue;
        }
        let x = resample(&p, q, verify);
        return Round {
            drafted,
            emitted,
            added: (x, p.logprob(x), true),
            accepted: accepted_count,
        };
    }
    // Every draft accepted: the bonus token, from p.
    let p = target_dist(l, qs.len(), seq, len, made, verify, options);
    let x = p.choose(verify);
    Round {
        drafted,
        emitted,
        added: (x, p.logprob(x), false),
        accepted: accepted_count,
    }
}

/// The target's distribution at draft position `i` of the round.
fn target_dist(
    l: &Logits,
    i: usize,
    seq: &[u32],
    len: usize,
    made: usize,
    verify: &Verify<'_>,
    options: &GenerateOptions,
) -> Dist {
    let mut logits = l.get(0, i).to_vec();
    options.suppress_early_eos(made + i, &mut logits);
    Dist::new(verify, &logits, &seq[..len + i])
}

/// A run's draft: the model with its cache, or prompt lookup's n-gram sizes
/// (largest matched, no-repeat).
enum Source<'a, D: LanguageModel> {
    Model(&'a D, D::Cache),
    Lookup(usize, Option<usize>),
}

/// Speculative decoding of up to `max_new_tokens` after `prompt`: `drafter`
/// proposes up to `gamma` tokens per round, `target` verifies them in one
/// pass. `on_step` sees each round; the tokens a round emits are its accepted
/// drafts followed by `added` (an accepted end-of-text ends the round as its
/// `added` token, and later drafts go unreported). The score is the sum of the
/// emitted tokens' log-probabilities under the target's distribution (the one
/// `probs` gives when sampling). Stops at end-of-text or the target's context.
/// Prompt lookup without a match drafts nothing: the round's one target pass
/// adds one token, as greedy or sampling would.
pub async fn speculative<T: LanguageModel, D: LanguageModel>(
    target: &T,
    drafter: Drafter<'_, D>,
    prompt: &[u32],
    options: &GenerateOptions,
    gamma: usize,
    mut verify: Verify<'_>,
    on_step: &mut dyn FnMut(Step),
) -> Result<(Generated, SpeculativeStats)> {
    limits::check_gamma(gamma)?;
    let mut configs = vec![target.config()];
    if let Drafter::Model(draft) = &drafter {
        let (vt, vd) = (target.config().vocab_size, draft.config().vocab_size);
        if vt != vd {
            return Err(Error::input(format!(
                "the draft's vocabulary ({vd}) differs from the target's ({vt}): \
                 speculative decoding needs two models with the same tokenizer"
            )));
        }
        configs.push(draft.config());
    }
    let tn = target.config().n_positions;
    options.check(prompt, target.config())?;
    // Drafts run up to γ positions past what is kept.
    let size = RunSize::generate(target.config(), prompt.len(), options, 1, gamma);
    limits::check_memory(
        &configs,
        size,
        "use fewer --max-new-tokens or a smaller --gamma",
    )?;
    let mut tcache = target.new_cache(1)?;
    tcache.reserve(size.positions)?;
    let mut source = match drafter {
        Drafter::Model(draft) => {
            let mut cache = draft.new_cache(1)?;
            cache.reserve(size.positions)?;
            Source::Model(draft, cache)
        }
        Drafter::PromptLookup {
            max_matching_ngram_size,
            no_repeat_ngram_size,
        } => Source::Lookup(max_matching_ngram_size, no_repeat_ngram_size),
    };
    let dn = match &source {
        Source::Model(draft, _) => draft.config().n_positions,
        Source::Lookup(..) => usize::MAX,
    };
    let mut stats = SpeculativeStats::default();
    let mut out = Generated {
        ids: Vec::new(),
        score: 0.0,
    };
    // The prompt and every emitted token; drafts are pushed on and popped off.
    // Invariant between rounds: each cache holds a prefix of `seq` short of its last token.
    let mut seq = prompt.to_vec();
    while out.ids.len() < options.max_new_tokens && seq.len() < tn {
        let len = seq.len();
        let made = out.ids.len();
        // A round emits up to γ + 1 tokens: fit them in max_new_tokens and the
        // target's context; a draft model sees up to len + γ − 1 positions.
        let g = gamma
            .min(options.max_new_tokens - made - 1)
            .min(tn - len - 1)
            .min(dn.saturating_add(1).saturating_sub(len));

        let qs = match &mut source {
            Source::Model(draft, cache) => {
                let qs = draft_tokens(*draft, cache, &mut seq, g, made, &mut verify, options);
                let qs = qs.await?;
                stats.draft_passes += qs.len();
                qs
            }
            Source::Lookup(n, no_repeat) => copy_tokens(*n, *no_repeat, &mut seq, g, made, options),
        };
        stats.drafted += qs.len();

        // Target: every draft position and the one after, in one pass.
        let unseen = &seq[tcache.len()..];
        let l = target.forward(&mut tcache, &[unseen], qs.len() + 1).await?;
        stats.target_passes += 1;
        let round = verify_drafts(&l, &qs, &seq, len, made, &mut verify, options);
        stats.accepted += round.accepted;
        let Round {
            drafted,
            mut emitted,
            added: (added, logp_added, resampled),
            ..
        } = round;
        emitted.push((added, logp_added));

        // Keep the accepted drafts and the added token; roll both caches back.
        seq.truncate(len + emitted.len() - 1);
        seq.push(added);
        tcache.truncate(seq.len() - 1);
        if let Source::Model(_, cache) = &mut source {
            cache.truncate(seq.len() - 1);
        }
        for &(x, logp) in &emitted {
            out.ids.push(x);
            out.score += logp;
        }
        on_step(Step::Speculative {
            drafted,
            added,
            resampled,
        });
        if Some(added) == options.eos_token_id {
            break;
        }
    }
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptance_rate_of_nothing_is_zero() {
        assert_eq!(SpeculativeStats::default().acceptance_rate(), 0.0);
        let s = SpeculativeStats {
            drafted: 4,
            accepted: 3,
            ..Default::default()
        };
        assert_eq!(s.acceptance_rate(), 0.75);
    }
}
