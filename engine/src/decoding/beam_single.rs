//! Beam search in one group, step for step as Hugging Face `transformers`
//! 5.23 does it in `generation/utils.py` (`GenerationMixin._beam_search` and
//! its helpers `_get_top_k_continuations`, `_get_running_beams_for_next_iteration`,
//! `_update_finished_beams`, `_check_early_stop_heuristic` and
//! `_beam_search_has_unfinished_sequences`), for one prompt:
//!
//! 1. each live beam's processed log-probabilities plus its score
//!    ([`Context::beam_scores`]);
//! 2. the best 2·K candidates over all beams × vocabulary are kept;
//! 3. a candidate "hits a stopping criterion" when it is end-of-text or reaches
//!    the length limit (`max_new_tokens`, or the end of the model's context);
//!    the K best candidates that do not hit one become the next live beams;
//! 4. of the K best candidates, those that hit one are finished hypotheses with
//!    score `sum_logprobs / new_len ** length_penalty`, where `new_len` counts
//!    the new tokens only (end-of-text included, the prompt not); the K best
//!    finished hypotheses are kept;
//! 5. the search stops at the length limit, when K hypotheses are finished with
//!    [`EarlyStopping::True`] (no hypothesis is added after that), or when the
//!    best live beam can no longer beat the worst of K finished hypotheses
//!    (judged at the current length, or with [`EarlyStopping::Never`] and a
//!    positive penalty at the length limit).
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

use crate::backend::Logits;
use crate::decoding::beam::{Beam, Context, EarlyStopping, Searcher, NEG};
use crate::decoding::select::top_n;
use crate::decoding::steps::{BeamState, PrunedBeam};
use crate::decoding::Generated;

/// A finished hypothesis: new tokens, log-probability sum, normalized score.
#[derive(Debug, Clone)]
struct Hypothesis {
    ids: Vec<u32>,
    logprob: f32,
    score: f32,
    /// The index in the event of the step before its end of the beam it ended.
    parent: Option<usize>,
}

/// One of the 2·K best continuations of a step.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    beam: usize,
    token: u32,
    logprob: f32,
    hit: bool,
    /// `beam`'s index in the previous step's event (none at the first step).
    parent: Option<usize>,
}

/// The state of a search between steps.
pub(super) struct Search<'a> {
    context: Context<'a>,
    /// K.
    k: usize,
    beams: Vec<Beam>,
    finished: Vec<Hypothesis>,
    /// Whether a live beam can still beat the worst of K finished hypotheses.
    improvable: bool,
    /// The new length after the last step; 0 before the first.
    new_len: usize,
    /// Whether the length limit was reached (no live beam is left then).
    ended: bool,
    /// The candidates the last step weighed, for its event.
    considered: Vec<PrunedBeam>,
}

impl<'a> Search<'a> {
    /// K copies of the prompt, all but the first with score −1e9.
    pub fn new(context: Context<'a>) -> Self {
        let k = context.params.num_beams;
        Search {
            context,
            k,
            beams: (0..k)
                .map(|b| Beam {
                    ids: Vec::new(),
                    logprob: if b == 0 { 0.0 } else { NEG },
                    parent: None,
                })
                .collect(),
            finished: Vec::with_capacity(k),
            improvable: true,
            new_len: 0,
            ended: false,
            considered: Vec::new(),
        }
    }

    /// Step 1: every beam's scores, K × vocab.
    fn scores(&self, logits: &Logits, step: usize) -> Vec<f32> {
        let mut scores = Vec::with_capacity(self.k * logits.vocab);
        for (b, beam) in self.beams.iter().enumerate() {
            let row = logits.last(if logits.rows == 1 { 0 } else { b });
            scores.extend(self.context.beam_scores(row, &[], beam, step));
        }
        scores
    }

    /// Steps 2-3: the 2K best continuations, and which of them stop.
    fn candidates(&self, scores: &[f32], vocab: usize, step: usize, last: bool) -> Vec<Candidate> {
        let eos = self.context.options.eos_token_id;
        top_n(scores, 2 * self.k)
            .into_iter()
            .map(|i| {
                let (beam, token) = (i / vocab, (i % vocab) as u32);
                Candidate {
                    beam,
                    token,
                    logprob: scores[i],
                    hit: last || Some(token) == eos,
                    parent: (step > 0).then_some(beam),
                }
            })
            .collect()
    }

    /// Step 4: the K best candidates that stopped join the finished hypotheses.
    fn finish(&mut self, candidates: &[Candidate]) {
        let params = self.context.params;
        let full = self.finished.len() == self.k && params.early_stopping == EarlyStopping::True;
        if !self.improvable || full {
            return;
        }
        for c in candidates[..self.k].iter().filter(|c| c.hit) {
            let mut ids = self.beams[c.beam].ids.clone();
            ids.push(c.token);
            let score = params.normalize(c.logprob, ids.len());
            self.finished.push(Hypothesis {
                ids,
                logprob: c.logprob,
                score,
                parent: c.parent,
            });
        }
        // Stable: earlier (already kept, then better-ranked) hypotheses win ties.
        self.finished.sort_by(|a, b| b.score.total_cmp(&a.score));
        self.finished.truncate(self.k);
    }

    /// The K best candidates that did not stop become the live beams; returns
    /// the cache rows they continue.
    fn keep(&mut self, candidates: &[Candidate]) -> Vec<usize> {
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
                    parent: c.parent,
                }
            })
            .collect();
        sources
    }

    /// Step 5 (the length limit aside): whether a live beam can still beat
    /// the worst of K finished hypotheses.
    fn judge(&mut self) {
        let (k, params) = (self.k, self.context.params);
        if self.finished.len() == k {
            let horizon =
                if params.early_stopping == EarlyStopping::Never && params.length_penalty > 0.0 {
                    self.context.max_new
                } else {
                    self.new_len
                };
            let best_possible = params.normalize(self.beams[0].logprob, horizon);
            self.improvable &= best_possible > self.finished[k - 1].score;
        }
    }
}

impl Searcher for Search<'_> {
    fn advance(&mut self, logits: &Logits, step: usize, last: bool) -> Vec<usize> {
        let scores = self.scores(logits, step);
        let candidates = self.candidates(&scores, logits.vocab, step, last);
        let params = self.context.params;
        self.considered = candidates
            .iter()
            .filter(|c| c.logprob > NEG / 2.0)
            .map(|c| PrunedBeam {
                id: c.token,
                parent: c.parent,
                logprob: c.logprob,
                score: params.normalize(c.logprob, step + 1),
                group: 0,
            })
            .collect();
        self.finish(&candidates);
        let sources = self.keep(&candidates);
        self.new_len = step + 1;
        self.ended = last;
        if !last {
            self.judge();
        }
        sources
    }

    /// Live beams (best first; none at the length limit), then the finished
    /// hypotheses kept.
    fn states(&self) -> Vec<BeamState> {
        let params = self.context.params;
        let live = if self.ended { &[][..] } else { &self.beams[..] };
        let live = live.iter().map(|b| BeamState {
            ids: b.ids.clone(),
            logprob: b.logprob,
            score: params.normalize(b.logprob, b.ids.len()),
            finished: false,
            group: 0,
            parent: b.parent,
        });
        let done = self.finished.iter().map(|h| BeamState {
            ids: h.ids.clone(),
            logprob: h.logprob,
            score: h.score,
            finished: true,
            group: 0,
            parent: h.parent.filter(|_| h.ids.len() == self.new_len),
        });
        live.chain(done).collect()
    }

    /// K hypotheses finished with early stopping, or no live beam can beat
    /// the worst of them.
    fn considered(&self) -> &[PrunedBeam] {
        &self.considered
    }

    fn done(&self) -> bool {
        let all_done = self.finished.len() == self.k
            && self.context.params.early_stopping == EarlyStopping::True;
        !self.improvable || all_done
    }

    fn next_tokens(&self) -> Vec<u32> {
        self.beams.iter().map(|b| b.ids[b.ids.len() - 1]).collect()
    }

    /// The best finished hypotheses; live beams only if too few finished (the
    /// length limit finishes K of them, so this does not happen in practice).
    fn into_output(self) -> Vec<(Generated, usize)> {
        let params = self.context.params;
        let n = params.num_return_sequences;
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
            let score = params.normalize(beam.logprob, beam.ids.len().max(1));
            out.push(Generated {
                ids: beam.ids,
                score,
            });
        }
        out.truncate(n);
        out.into_iter().map(|g| (g, 0)).collect()
    }
}
