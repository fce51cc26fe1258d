//! Beam search, step for step as Hugging Face `transformers` 5.23 does it in
//! `generation/utils.py` (`GenerationMixin._beam_search` and its helpers
//! `_get_top_k_continuations`, `_get_running_beams_for_next_iteration`,
//! `_update_finished_beams`, `_check_early_stop_heuristic` and
//! `_beam_search_has_unfinished_sequences`), for one prompt:
//!
//! 1. each live beam's logits go through `log_softmax`, *then* the processors
//!    (end-of-text set to −∞ before `min_new_tokens`, no-repeat-n-gram bans set
//!    to −∞; nothing is renormalized), and the beam's score is added;
//! 2. the best 2·K candidates over all beams × vocabulary are kept;
//! 3. a candidate "hits a stopping criterion" when it is end-of-text or reaches
//!    the length limit (`max_new_tokens`, or the end of the model's context);
//!    the K best candidates that do not hit one become the next live beams;
//! 4. of the K best candidates, those that hit one are finished hypotheses with
//!    score `sum_logprobs / new_len ** length_penalty`, where `new_len` counts
//!    the new tokens only (end-of-text included, the prompt not); the K best
//!    finished hypotheses are kept;
//! 5. the search stops at the length limit, when K hypotheses are finished with
//!    [`EarlyStopping::True`] (no hypothesis is added after that), or when the best live beam can no longer beat the
//!    worst of K finished hypotheses (judged at the current length, or with
//!    [`EarlyStopping::Never`] and a positive penalty at the length limit).
//!
//! The first step starts from K copies of the prompt where all but the first
//! have score −1e9, as transformers does. Ties: `torch.topk` on the CPU (a
//! `std::partial_sort`, or `std::nth_element` then `std::sort`, comparing values
//! only) leaves exactly equal values in an order that depends on the data's
//! layout (e.g. `topk(zeros(10), 3)` gives indices 8, 6, 7), so no rule
//! reproduces it; this module breaks ties by the lower flattened index
//! (beam · vocab + token, or candidate rank), and keeps already finished
//! hypotheses ahead of new ones with an equal score. With f32 log-probabilities
//! of distinct tokens exact ties are rare; every fixture case matches.

use crate::backend::{KvCache, LanguageModel, Logits};
use crate::decoding::limits::{self, RunSize};
use crate::decoding::processors::banned_ngram_tokens;
use crate::decoding::select::top_n;
use crate::decoding::steps::{BeamState, Step};
use crate::decoding::{log_softmax, GenerateOptions, Generated};
use crate::{Error, Result};

/// transformers' stand-in for "impossible" scores (`-1.0e9`).
const NEG: f32 = -1.0e9;

/// When beam search stops: transformers' `early_stopping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarlyStopping {
    /// `early_stopping=True`: as soon as `num_beams` hypotheses are finished.
    True,
    /// `early_stopping=False` (the default): when the best live beam, at the
    /// current length, cannot beat the worst finished hypothesis.
    #[default]
    False,
    /// `early_stopping="never"`: like `False`, but judged at the length limit
    /// when `length_penalty > 0` (the canonical beam search).
    Never,
}

/// Beam search settings (transformers' names and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct BeamParams {
    /// Beams kept at each step (K).
    pub num_beams: usize,
    /// Exponent of the new length that divides a finished hypothesis' score.
    pub length_penalty: f32,
    /// When the search stops.
    pub early_stopping: EarlyStopping,
    /// How many of the best hypotheses to return.
    pub num_return_sequences: usize,
    /// No n-gram of this size may occur twice (prompt included).
    pub no_repeat_ngram_size: Option<usize>,
}

impl Default for BeamParams {
    fn default() -> Self {
        BeamParams {
            num_beams: 1,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            num_return_sequences: 1,
            no_repeat_ngram_size: None,
        }
    }
}

impl BeamParams {
    /// Checks the settings, with messages naming the command-line flags.
    pub fn validate(&self) -> Result<()> {
        limits::check_rows("--num-beams", self.num_beams)?;
        if self.num_return_sequences == 0 || self.num_return_sequences > self.num_beams {
            return Err(Error::input(format!(
                "--num-return-sequences must be between 1 and --num-beams ({}), got {}",
                self.num_beams, self.num_return_sequences
            )));
        }
        if !self.length_penalty.is_finite() {
            return Err(Error::input(format!(
                "--length-penalty must be a finite number, got {}",
                self.length_penalty
            )));
        }
        if self.no_repeat_ngram_size == Some(0) {
            return Err(Error::input("--no-repeat-ngram-size must be at least 1"));
        }
        Ok(())
    }

    /// `score / len ** length_penalty` in f32, as torch divides an f32 tensor
    /// by a Python float (the divisor rounded to f32 first).
    fn normalize(&self, score: f32, len: usize) -> f32 {
        score / (len as f64).powf(self.length_penalty as f64) as f32
    }
}

/// A live beam: its new tokens and the sum of their log-probabilities.
#[derive(Debug, Clone)]
struct Beam {
    ids: Vec<u32>,
    logprob: f32,
}

/// A finished hypothesis: new tokens, log-probability sum, normalized score.
#[derive(Debug, Clone)]
struct Hypothesis {
    ids: Vec<u32>,
    logprob: f32,
    score: f32,
}

/// One of the 2·K best continuations of a step.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    beam: usize,
    token: u32,
    logprob: f32,
    hit: bool,
}

/// Sets to −∞ every token that would repeat an n-gram of `tokens` (the prompt
/// and the beam's new tokens), as transformers' `NoRepeatNGramLogitsProcessor`.
fn ban_repeated_ngrams(tokens: &[u32], n: usize, scores: &mut [f32]) {
    for id in banned_ngram_tokens(tokens, n) {
        if let Some(s) = scores.get_mut(id as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// Beam search after `prompt`; returns the `num_return_sequences` best
/// hypotheses (new tokens only), each scored like transformers'
/// `sequences_scores` (log-probability sum / new length ** `length_penalty`).
/// `on_step` sees the live beams (best first) then the finished hypotheses
/// kept so far after every step. Stops early at the end of the context.
pub async fn beam_search<M: LanguageModel>(
    model: &M,
    prompt: &[u32],
    options: &GenerateOptions,
    params: &BeamParams,
    on_step: &mut dyn FnMut(Step),
) -> Result<Vec<Generated>> {
    params.validate()?;
    let config = model.config();
    options.check(prompt, config)?;
    let size = RunSize::generate(config, prompt.len(), options, params.num_beams, 0);
    limits::check_memory(&[config], size, "use fewer --num-beams or --max-new-tokens")?;
    let max_new = options
        .max_new_tokens
        .min(config.n_positions - prompt.len());
    if max_new == 0 {
        let empty = Generated {
            ids: Vec::new(),
            score: 0.0,
        };
        return Ok(vec![empty; params.num_return_sequences]);
    }
    let mut search = Search::new(params, max_new);
    let mut cache = model.new_cache(1)?;
    cache.reserve(size.positions)?;
    let mut logits = model.forward(&mut cache, &[prompt], 1).await?;
    cache.reorder(&vec![0; params.num_beams])?;
    for step in 0..max_new {
        let scores = search.scores(&logits, step, prompt, options);
        let last = step + 1 == max_new;
        let candidates = search.candidates(&scores, logits.vocab, last, options);
        search.finish(&candidates);
        let sources = search.advance(&candidates);
        let live = if last { &[][..] } else { &search.beams[..] };
        on_step(Step::Beams {
            beams: beam_states(live, &search.finished),
        });
        if last || search.done(step + 1) {
            break;
        }
        let rows: Vec<&[u32]> = search
            .beams
            .iter()
            .map(|b| &b.ids[b.ids.len() - 1..])
            .collect();
        cache.reorder(&sources)?;
        logits = model.forward(&mut cache, &rows, 1).await?;
    }
    Ok(search.into_output())
}

/// The state of a search between steps.
struct Search<'a> {
    params: &'a BeamParams,
    /// K.
    k: usize,
    /// The length limit in new tokens.
    max_new: usize,
    beams: Vec<Beam>,
    finished: Vec<Hypothesis>,
    /// Whether a live beam can still beat the worst of K finished hypotheses.
    improvable: bool,
}

impl<'a> Search<'a> {
    /// K copies of the prompt, all but the first with score −1e9.
    fn new(params: &'a BeamParams, max_new: usize) -> Self {
        let k = params.num_beams;
        Search {
            params,
            k,
            max_new,
            beams: (0..k)
                .map(|b| Beam {
                    ids: Vec::new(),
                    logprob: if b == 0 { 0.0 } else { NEG },
                })
                .collect(),
            finished: Vec::with_capacity(k),
            improvable: true,
        }
    }

    /// Step 1: each beam's log-probabilities, processed, plus its score: K × vocab.
    fn scores(
        &self,
        logits: &Logits,
        step: usize,
        prompt: &[u32],
        options: &GenerateOptions,
    ) -> Vec<f32> {
        let mut scores = Vec::with_capacity(self.k * logits.vocab);
        let mut tokens = prompt.to_vec();
        for (b, beam) in self.beams.iter().enumerate() {
            let mut lp = log_softmax(logits.last(if logits.rows == 1 { 0 } else { b }));
            options.suppress_early_eos(step, &mut lp);
            if let Some(n) = self.params.no_repeat_ngram_size {
                tokens.truncate(prompt.len());
                tokens.extend_from_slice(&beam.ids);
                ban_repeated_ngrams(&tokens, n, &mut lp);
            }
            scores.extend(lp.iter().map(|&l| l + beam.logprob));
        }
        scores
    }

    /// Steps 2-3: the 2K best continuations, and which of them stop.
    fn candidates(
        &self,
        scores: &[f32],
        vocab: usize,
        last: bool,
        options: &GenerateOptions,
    ) -> Vec<Candidate> {
        top_n(scores, 2 * self.k)
            .into_iter()
            .map(|i| {
                let token = (i % vocab) as u32;
                Candidate {
                    beam: i / vocab,
                    token,
                    logprob: scores[i],
                    hit: last || Some(token) == options.eos_token_id,
                }
            })
            .collect()
    }

    /// Step 4: the K best candidates that stopped join the finished hypotheses.
    fn finish(&mut self, candidates: &[Candidate]) {
        let full =
            self.finished.len() == self.k && self.params.early_stopping == EarlyStopping::True;
        if !self.improvable || full {
            return;
        }
        for c in candidates[..self.k].iter().filter(|c| c.hit) {
            let mut ids = self.beams[c.beam].ids.clone();
            ids.push(c.token);
            let score = self.params.normalize(c.logprob, ids.len());
            self.finished.push(Hypothesis {
                ids,
                logprob: c.logprob,
                score,
            });
        }
        // Stable: earlier (already kept, then better-ranked) hypotheses win ties.
        self.finished.sort_by(|a, b| b.score.total_cmp(&a.score));
        self.finished.truncate(self.k);
    }

    /// The K best candidates that did not stop become the live beams; returns
    /// the cache rows they continue.
    fn advance(&mut self, candidates: &[Candidate]) -> Vec<usize> {
        let penalized: Vec<f32> = candidates
            .iter()
            .map(|c| c.logprob + if c.hit { NEG } else { 0.0 })
            .collect();
        let next = top_n(&penalized, self.k);
        let sources = next.iter().map(|&i| candidates[i].beam).collect();
        self.beams = next
            .iter()
            .map(|&i| {
                let c = &candidates[i];
                let mut ids = self.beams[c.beam].ids.clone();
                ids.push(c.token);
                Beam {
                    ids,
                    logprob: penalized[i],
                }
            })
            .collect();
        sources
    }

    /// Step 5: whether the search is over after `new_len` new tokens (the
    /// length limit aside): K hypotheses finished with early stopping, or no
    /// live beam can beat the worst of them.
    fn done(&mut self, new_len: usize) -> bool {
        let (k, params) = (self.k, self.params);
        if self.finished.len() == k {
            let horizon =
                if params.early_stopping == EarlyStopping::Never && params.length_penalty > 0.0 {
                    self.max_new
                } else {
                    new_len
                };
            let best_possible = params.normalize(self.beams[0].logprob, horizon);
            self.improvable &= best_possible > self.finished[k - 1].score;
        }
        let all_done = self.finished.len() == k && params.early_stopping == EarlyStopping::True;
        !self.improvable || all_done
    }

    /// The best finished hypotheses; live beams only if too few finished (the
    /// length limit finishes K of them, so this does not happen in practice).
    fn into_output(self) -> Vec<Generated> {
        let n = self.params.num_return_sequences;
        let mut out: Vec<Generated> = self
            .finished
            .into_iter()
            .map(|h| Generated {
                ids: h.ids,
                score: h.score,
            })
            .collect();
        for beam in self.beams {
            if out.len() >= n {
                break;
            }
            let score = self.params.normalize(beam.logprob, beam.ids.len().max(1));
            out.push(Generated {
                ids: beam.ids,
                score,
            });
        }
        out.truncate(n);
        out
    }
}

/// The step event: live beams (best first), then the finished hypotheses kept.
fn beam_states(live: &[Beam], finished: &[Hypothesis]) -> Vec<BeamState> {
    let live = live.iter().map(|b| BeamState {
        ids: b.ids.clone(),
        logprob: b.logprob,
        finished: false,
    });
    let done = finished.iter().map(|h| BeamState {
        ids: h.ids.clone(),
        logprob: h.logprob,
        finished: true,
    });
    live.chain(done).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngram_bans_follow_transformers() {
        let mut s = vec![0.0; 8];
        // Bigrams: the last token 2 was followed by 3 and by 5 before.
        ban_repeated_ngrams(&[1, 2, 3, 2, 5, 2], 2, &mut s);
        assert_eq!(s.iter().filter(|v| v.is_infinite()).count(), 2);
        assert!(s[3].is_infinite() && s[5].is_infinite());
        let mut s = vec![0.0; 8];
        ban_repeated_ngrams(&[4, 6], 1, &mut s);
        assert!(s[4].is_infinite() && s[6].is_infinite() && s[0] == 0.0);
        let mut s = vec![0.0; 8];
        ban_repeated_ngrams(&[1, 2], 3, &mut s);
        assert!(s.iter().all(|v| *v == 0.0));
    }
}
