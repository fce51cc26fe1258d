//! Diverse beam search (Vijayakumar et al. 2016, "Diverse Beam Search:
//! Decoding Diverse Solutions from Neural Sequence Models", arXiv:1610.02424)
//! with Hamming diversity, step for step as Hugging Face `transformers` 4.55
//! does it (`GenerationMixin._group_beam_search`, `BeamSearchScorer` and
//! `BeamHypotheses` of `generation/beam_search.py`,
//! `HammingDiversityLogitsProcessor`), for one prompt. The K beams form G
//! groups of S = K/G; every step takes the groups in order, and group g:
//!
//! 1. if it is done, keeps S copies of its first beam followed by padding
//!    (the end token, as `generate` pads GPT-2), which count as its tokens
//!    below; otherwise
//! 2. scores its beams' next tokens ([`Context::beam_scores`]), the diversity
//!    penalty being λ times how many beams of groups 0..g chose the token at
//!    this step (padding of done groups included);
//! 3. takes its 2·S best candidates over its S beams × vocabulary; in rank
//!    order, an end token among the first S is a finished hypothesis of the
//!    group (the rest are skipped), any other token extends a beam, until S
//!    beams are live;
//! 4. keeps its S best finished hypotheses, scored `sum_logprobs / new_len **
//!    length_penalty` (new tokens, end token included);
//! 5. is done once it holds S hypotheses and, with [`EarlyStopping::True`],
//!    at once; otherwise when the best candidate's sum over the current new
//!    length (or the length limit, with [`EarlyStopping::Never`] and a
//!    positive penalty) cannot beat the worst of them.
//!
//! The search stops when every group is done or at the length limit, where
//! the live beams of the groups not done join their hypotheses; the returned
//! sequences are the best of all groups' hypotheses. Unlike the one-group
//! search of transformers 5.x, hypothesis scores and the stopping rule are
//! computed in f64 (4.x's Python floats); returned scores are rounded to f32.
//! Every group starts from S copies of the prompt, all but the first at
//! −1e9. Ties are broken as in [`crate::decoding::beam_single`] for the
//! candidates; among returned hypotheses of equal score, the later group
//! (then the later kept) comes first, as 4.x's stable sort then `pop()` does.

use std::collections::BTreeMap;

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
    score: f64,
    /// The index in the event of the step before its end of the beam it ended.
    parent: Option<usize>,
}

/// A group's finished hypotheses, as transformers' `BeamHypotheses`: at most
/// S, in the order they were added, the worst score remembered.
#[derive(Debug)]
struct Hypotheses {
    kept: Vec<Hypothesis>,
    /// transformers starts it at 1e9.
    worst: f64,
}

impl Hypotheses {
    /// `BeamHypotheses.add`: kept while fewer than S are, or when better than
    /// the worst; then the worst (the first added among equal scores) goes.
    fn add(&mut self, hyp: Hypothesis, s: usize) {
        if self.kept.len() < s || hyp.score > self.worst {
            let score = hyp.score;
            self.kept.push(hyp);
            if self.kept.len() > s {
                let worst = (0..self.kept.len())
                    .min_by(|&a, &b| self.kept[a].score.total_cmp(&self.kept[b].score))
                    .unwrap_or(0);
                self.kept.remove(worst);
                self.worst = self
                    .kept
                    .iter()
                    .map(|h| h.score)
                    .fold(f64::INFINITY, f64::min);
            } else {
                self.worst = self.worst.min(score);
            }
        }
    }
}

/// One group: its live beams (best first) and finished hypotheses.
#[derive(Debug)]
struct Group {
    beams: Vec<Beam>,
    hypotheses: Hypotheses,
    done: bool,
}

/// The state of a diverse beam search between steps.
pub(super) struct GroupSearch<'a> {
    context: Context<'a>,
    /// S, beams per group.
    s: usize,
    groups: Vec<Group>,
    /// The token each cache row was given at the last step.
    tokens: Vec<u32>,
    /// Whether the length limit was reached.
    ended: bool,
    /// The new length after the last step; 0 before the first.
    new_len: usize,
    /// Where each group's first live beam stood in the last step's event
    /// (none before the first step).
    listed: Option<Vec<usize>>,
    /// The candidates the last step weighed, for its event.
    considered: Vec<PrunedBeam>,
}

impl<'a> GroupSearch<'a> {
    /// G groups of S copies of the prompt, all but each group's first at −1e9.
    pub fn new(context: Context<'a>) -> Self {
        let s = context.params.group_size();
        let groups = (0..context.params.num_beam_groups)
            .map(|_| Group {
                beams: (0..s)
                    .map(|b| Beam {
                        ids: Vec::new(),
                        logprob: if b == 0 { 0.0 } else { NEG },
                        parent: None,
                    })
                    .collect(),
                hypotheses: Hypotheses {
                    kept: Vec::with_capacity(s + 1),
                    worst: 1e9,
                },
                done: false,
            })
            .collect();
        GroupSearch {
            context,
            s,
            groups,
            tokens: Vec::new(),
            ended: false,
            new_len: 0,
            listed: None,
            considered: Vec::new(),
        }
    }

    /// `logprob / new_len ** length_penalty` in f64, as 4.x's hypotheses.
    fn normalize(&self, logprob: f32, new_len: usize) -> f64 {
        let penalty = self.context.params.length_penalty as f64;
        logprob as f64 / (new_len as f64).powf(penalty)
    }

    /// Where each group's first live beam stands in the event of the step
    /// just taken ([`Searcher::states`]' order).
    fn offsets(&self) -> Vec<usize> {
        let mut at = 0;
        let mut offsets = Vec::with_capacity(self.groups.len());
        for group in &self.groups {
            offsets.push(at);
            if !group.done && !self.ended {
                at += group.beams.len();
            }
            at += group.hypotheses.kept.len();
        }
        offsets
    }

    /// The diversity penalty for group `g`: λ · (how many of this step's
    /// `tokens`, those of groups 0..g, are each token).
    fn penalty(&self, tokens: &[u32]) -> Vec<(u32, f32)> {
        let lambda = self.context.params.diversity_penalty;
        if lambda == 0.0 {
            return Vec::new();
        }
        let mut counts = BTreeMap::new();
        for &t in tokens {
            *counts.entry(t).or_insert(0u32) += 1;
        }
        // transformers multiplies the counts by λ in f32.
        counts
            .into_iter()
            .map(|(t, n)| (t, lambda * n as f32))
            .collect()
    }

    /// Steps 2-5 for group `g` (not done) after `step` new tokens; `first` is
    /// its first cache row, `tokens` this step's tokens of the groups before.
    /// Returns the cache rows its new beams continue.
    fn advance_group(
        &mut self,
        g: usize,
        logits: &Logits,
        step: usize,
        tokens: &[u32],
    ) -> Vec<usize> {
        let (s, first) = (self.s, g * self.s);
        let penalty = self.penalty(tokens);
        let vocab = logits.vocab;
        let mut scores = Vec::with_capacity(s * vocab);
        for (b, beam) in self.groups[g].beams.iter().enumerate() {
            let row = logits.last(if logits.rows == 1 { 0 } else { first + b });
            scores.extend(self.context.beam_scores(row, &penalty, beam, step));
        }
        let candidates = top_n(&scores, 2 * s);
        let listed = self.listed.clone();
        let parent = |b: usize| listed.as_ref().map(|o| o[g] + b);
        for &i in &candidates {
            let logprob = scores[i];
            if logprob > NEG / 2.0 {
                let score = self.normalize(logprob, step + 1) as f32;
                self.considered.push(PrunedBeam {
                    id: (i % vocab) as u32,
                    parent: parent(i / vocab),
                    logprob,
                    score,
                    group: g,
                });
            }
        }
        let (eos, params) = (self.context.options.eos_token_id, self.context.params);
        let group = &mut self.groups[g];
        let mut beams = Vec::with_capacity(s);
        let mut sources = Vec::with_capacity(s);
        for (rank, &i) in candidates.iter().enumerate() {
            let (b, token, logprob) = (i / vocab, (i % vocab) as u32, scores[i]);
            let mut ids = group.beams[b].ids.clone();
            ids.push(token);
            if Some(token) == eos {
                if rank < s {
                    let len = ids.len() as f64;
                    let score = logprob as f64 / len.powf(params.length_penalty as f64);
                    group.hypotheses.add(
                        Hypothesis {
                            ids,
                            logprob,
                            score,
                            parent: parent(b),
                        },
                        s,
                    );
                }
            } else {
                beams.push(Beam {
                    ids,
                    logprob,
                    parent: parent(b),
                });
                sources.push(first + b);
                if beams.len() == s {
                    break;
                }
            }
        }
        group.beams = beams;
        if group.hypotheses.kept.len() >= s {
            group.done = match params.early_stopping {
                EarlyStopping::True => true,
                _ => {
                    let best = scores[candidates[0]] as f64;
                    let attainable = params.attainable(best, step + 1, self.context.max_new);
                    group.hypotheses.worst >= attainable
                }
            };
        }
        sources
    }

    /// At the length limit: the live beams of the groups not done join their
    /// hypotheses (`BeamSearchScorer.finalize`).
    fn finalize(&mut self) {
        let (s, params) = (self.s, self.context.params);
        for group in self.groups.iter_mut().filter(|g| !g.done) {
            for beam in std::mem::take(&mut group.beams) {
                let len = beam.ids.len() as f64;
                let score = beam.logprob as f64 / len.powf(params.length_penalty as f64);
                let hyp = Hypothesis {
                    ids: beam.ids,
                    logprob: beam.logprob,
                    score,
                    parent: beam.parent,
                };
                group.hypotheses.add(hyp, s);
            }
        }
    }
}

impl Searcher for GroupSearch<'_> {
    fn advance(&mut self, logits: &Logits, step: usize, last: bool) -> Vec<usize> {
        let s = self.s;
        let pad = self.context.options.eos_token_id.unwrap_or_default();
        let mut tokens: Vec<u32> = Vec::with_capacity(self.context.params.num_beams);
        let mut sources = Vec::with_capacity(self.context.params.num_beams);
        self.listed = (step > 0).then(|| self.offsets());
        self.considered.clear();
        for g in 0..self.groups.len() {
            if self.groups[g].done {
                // Step 1: S copies of the first row, given padding.
                tokens.extend(std::iter::repeat_n(pad, s));
                sources.extend(std::iter::repeat_n(g * s, s));
                continue;
            }
            sources.extend(self.advance_group(g, logits, step, &tokens));
            let beams = &self.groups[g].beams;
            tokens.extend(beams.iter().map(|b| b.ids[b.ids.len() - 1]));
        }
        self.tokens = tokens;
        self.ended = last;
        self.new_len = step + 1;
        if last {
            self.finalize();
        }
        sources
    }

    /// Group by group: its live beams (best first; none once it is done or
    /// at the length limit), then its finished hypotheses (best first).
    fn states(&self) -> Vec<BeamState> {
        let mut states = Vec::new();
        for (g, group) in self.groups.iter().enumerate() {
            if !group.done && !self.ended {
                states.extend(group.beams.iter().map(|b| BeamState {
                    ids: b.ids.clone(),
                    logprob: b.logprob,
                    score: self.normalize(b.logprob, b.ids.len()) as f32,
                    finished: false,
                    group: g,
                    parent: b.parent,
                }));
            }
            let mut kept: Vec<&Hypothesis> = group.hypotheses.kept.iter().collect();
            kept.sort_by(|a, b| b.score.total_cmp(&a.score));
            states.extend(kept.into_iter().map(|h| BeamState {
                ids: h.ids.clone(),
                logprob: h.logprob,
                score: h.score as f32,
                finished: true,
                group: g,
                parent: h.parent.filter(|_| h.ids.len() == self.new_len),
            }));
        }
        states
    }

    fn considered(&self) -> &[PrunedBeam] {
        &self.considered
    }

    fn done(&self) -> bool {
        self.groups.iter().all(|g| g.done)
    }

    fn next_tokens(&self) -> Vec<u32> {
        self.tokens.clone()
    }

    /// The `num_return_sequences` best hypotheses of all groups (the last
    /// step finalized the groups not done).
    fn into_output(self) -> Vec<(Generated, usize)> {
        let mut all: Vec<(Hypothesis, usize)> = Vec::new();
        for (g, group) in self.groups.into_iter().enumerate() {
            all.extend(group.hypotheses.kept.into_iter().map(|h| (h, g)));
        }
        // Ascending and stable, then taken from the end, as transformers does.
        all.sort_by(|a, b| a.0.score.total_cmp(&b.0.score));
        all.into_iter()
            .rev()
            .take(self.context.params.num_return_sequences)
            .map(|(h, g)| {
                let generated = Generated {
                    ids: h.ids,
                    score: h.score as f32,
                };
                (generated, g)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
