//! Logit processors for sampling, applied in `transformers`' order and with its
//! f32 arithmetic (`generation/logits_process.py`, 5.23), so that the support of
//! the final distribution is the same token for token:
//!
//! 1. repetition penalty (Keskar et al. 2019, "CTRL", arXiv:1909.05858): every
//!    token id present in the context gets `logit / θ` if `logit ≥ 0`, else
//!    `logit · θ` (`RepetitionPenaltyLogitsProcessor`);
//! 2. no-repeat-n-gram (Paulus et al. 2017, arXiv:1705.04304): tokens that would
//!    complete an n-gram already in the context are banned
//!    (`NoRepeatNGramLogitsProcessor`); then end-of-text before
//!    `min_new_tokens` (`MinNewTokensLengthLogitsProcessor`), passed in as a ban;
//! 3. temperature (Ackley, Hinton & Sejnowski 1985): `logit / T` in f32;
//! 4. top-k (Fan et al. 2018, arXiv:1805.04833): tokens below the k-th largest
//!    logit are cut, ties with it kept (`TopKLogitsWarper`);
//! 5. top-p, nucleus (Holtzman et al. 2019, arXiv:1904.09751): sorted ascending,
//!    tokens whose f32 cumulative probability (accumulated in f64, as torch's CPU
//!    `cumsum`) is `≤ 1 − p` are cut, the most likely token always kept
//!    (`TopPLogitsWarper`, `min_tokens_to_keep = 1`);
//! 6. min-p (Nguyen et al. 2024, arXiv:2407.01082): tokens with probability
//!    `< min_p · max p` are cut, after temperature (`MinPLogitsWarper`).
//!
//! Ties at the top-p cut: `transformers` sorts with torch's unstable sort, so
//! which of several tied tokens straddling the cut survive depends on the
//! machine. Here tied tokens rank by id, lower ids first (as `argmax`), so the
//! lower ids are kept; the count kept is the same as `transformers`'.
//!
//! `1 − p` is computed as `transformers` does, in f64 from the decimal the user
//! wrote (the shortest decimal of the f32), then compared in f32.

use crate::decoding::log_softmax;
use crate::decoding::select::{argmax, by_value_then_index, top_n};
use crate::decoding::steps::{Cut, StepCandidate};
use crate::{Error, Result};

mod penalties;
mod truncation;
// The later samplers, each in its own file (one `mod` line each, below).

pub use penalties::banned_ngram_tokens;
use penalties::repetition_penalty;
use truncation::{min_p, top_k, top_p};

/// How to turn a step's logits into the distribution a token is drawn from.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; 0 means greedy (argmax). Default 1.
    pub temperature: f32,
    /// Keep the `k` most likely tokens (ties with the k-th kept).
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose mass reaches `p`.
    pub top_p: Option<f32>,
    /// Keep tokens with probability at least `min_p` times the largest.
    pub min_p: Option<f32>,
    /// CTRL's penalty θ on every token already in the context.
    pub repetition_penalty: Option<f32>,
    /// Ban tokens that would repeat an n-gram of this size.
    pub no_repeat_ngram_size: Option<usize>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            min_p: None,
            repetition_penalty: None,
            no_repeat_ngram_size: None,
        }
    }
}

/// One step's distributions, for every token of the vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    /// Softmax of the raw logits.
    pub raw: Vec<f32>,
    /// Softmax after repetition penalty and temperature (no temperature when greedy).
    pub scaled: Vec<f32>,
    /// The final normalized distribution sampled from; 0 where cut.
    pub probs: Vec<f32>,
    /// The processor that removed each token, if one did.
    pub cut: Vec<Option<Cut>>,
    /// Greedy only: the argmax's log-probability under the processed logits.
    greedy_logprob: Option<f32>,
}

impl SamplingParams {
    /// Checks every option's range; the message names the flag and the range.
    pub fn validate(&self) -> Result<()> {
        let t = self.temperature;
        if !(t.is_finite() && t >= 0.0) {
            return Err(Error::input(format!(
                "--temperature must be finite and ≥ 0 (0 means greedy), got {t}"
            )));
        }
        if let Some(k) = self.top_k {
            if k == 0 {
                return Err(Error::input("--top-k must be at least 1, got 0"));
            }
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(Error::input(format!("--top-p must be in (0, 1], got {p}")));
            }
        }
        if let Some(p) = self.min_p {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::input(format!("--min-p must be in [0, 1], got {p}")));
            }
        }
        if let Some(theta) = self.repetition_penalty {
            if !(theta.is_finite() && theta > 0.0) {
                return Err(Error::input(format!(
                    "--repetition-penalty must be finite and > 0 (1 means none), got {theta}"
                )));
            }
        }
        if self.no_repeat_ngram_size == Some(0) {
            return Err(Error::input(
                "--no-repeat-ngram-size must be at least 1, got 0",
            ));
        }
        Ok(())
    }

    /// Temperature 0: the argmax of the processed logits, no randomness.
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }

    /// The full distribution for one step: `context` is prompt + generated so far.
    pub fn process(&self, logits: &[f32], context: &[u32]) -> Processed {
        self.process_with_bans(logits, context, &[])
    }

    /// [`Self::process`] with tokens banned for other reasons (end-of-text before
    /// `min_new_tokens`), applied after the n-gram ban, each with its cut.
    pub fn process_with_bans(
        &self,
        logits: &[f32],
        context: &[u32],
        bans: &[(u32, Cut)],
    ) -> Processed {
        let n = logits.len();
        let raw = softmax(logits);
        let mut x = logits.to_vec();
        if let Some(theta) = self.repetition_penalty {
            repetition_penalty(&mut x, context, theta);
        }
        let greedy = self.is_greedy();
        if !greedy && self.temperature != 1.0 {
            for v in &mut x {
                *v /= self.temperature;
            }
        }
        let scaled = softmax(&x);
        let mut cut = vec![None; n];
        if let Some(size) = self.no_repeat_ngram_size {
            for id in banned_ngram_tokens(context, size) {
                remove(&mut x, &mut cut, id as usize, Cut::NoRepeatNgram);
            }
        }
        for &(id, why) in bans {
            remove(&mut x, &mut cut, id as usize, why);
        }
        if greedy {
            // As `greedy`: argmax of the log-softmax, first index on ties; the
            // warpers (top-k/p, min-p) only apply to sampling, as in transformers.
            let lp = log_softmax(&x);
            let best = argmax(&lp);
            let mut probs = vec![0.0; n];
            probs[best] = 1.0;
            for i in (0..n).filter(|&i| i != best) {
                remove(&mut x, &mut cut, i, Cut::Greedy);
            }
            return Processed {
                raw,
                scaled,
                probs,
                cut,
                greedy_logprob: Some(lp[best]),
            };
        }
        if let Some(k) = self.top_k {
            top_k(&mut x, &mut cut, k);
        }
        if let Some(p) = self.top_p.filter(|&p| p < 1.0) {
            top_p(&mut x, &mut cut, p);
        }
        if let Some(m) = self.min_p {
            min_p(&mut x, &mut cut, m);
        }
        let probs = softmax(&x);
        Processed {
            raw,
            scaled,
            probs,
            cut,
            greedy_logprob: None,
        }
    }
}

impl Processed {
    /// The log-probability credited to choosing `id`: `ln probs[id]`, or under
    /// greedy the argmax's log-softmax (what `greedy` scores).
    pub fn logprob(&self, id: u32) -> f32 {
        let p = self.probs[id as usize];
        match self.greedy_logprob {
            Some(lp) if p > 0.0 => lp,
            _ => (p as f64).ln() as f32,
        }
    }

    /// The report for one token.
    pub fn candidate(&self, id: u32) -> StepCandidate {
        let i = id as usize;
        StepCandidate {
            id,
            raw_prob: self.raw[i],
            scaled_prob: self.scaled[i],
            prob: self.probs[i],
            cut: self.cut[i],
        }
    }

    /// The `n` highest raw-probability tokens plus the `n` most likely kept
    /// tokens, sorted by raw probability (lower ids first on ties).
    pub fn top_candidates(&self, n: usize) -> Vec<StepCandidate> {
        let mut ids = top_n(&self.raw, n);
        ids.extend(
            top_n(&self.probs, n)
                .into_iter()
                .filter(|&i| self.probs[i] > 0.0),
        );
        self.sorted_candidates(ids)
    }

    /// [`Self::top_candidates`] with `chosen` always among them.
    pub fn step_candidates(&self, n: usize, chosen: u32) -> Vec<StepCandidate> {
        let mut ids = top_n(&self.raw, n);
        ids.extend(
            top_n(&self.probs, n)
                .into_iter()
                .filter(|&i| self.probs[i] > 0.0),
        );
        ids.push(chosen as usize);
        self.sorted_candidates(ids)
    }

    fn sorted_candidates(&self, mut ids: Vec<usize>) -> Vec<StepCandidate> {
        ids.sort_unstable_by(|&a, &b| by_value_then_index(&self.raw, a, b));
        ids.dedup();
        ids.into_iter().map(|i| self.candidate(i as u32)).collect()
    }
}

/// Softmax in f32 with the max subtracted (the sum accumulated in f64); all
/// zeros when every logit is -inf.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return vec![0.0; logits.len()];
    }
    let e: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum = e.iter().map(|&v| v as f64).sum::<f64>() as f32;
    e.into_iter().map(|v| v / sum).collect()
}

/// Sets `x[i]` to -inf and records why, unless it already had no probability.
fn remove(x: &mut [f32], cut: &mut [Option<Cut>], i: usize, why: Cut) {
    if i < x.len() && x[i] != f32::NEG_INFINITY {
        x[i] = f32::NEG_INFINITY;
        cut[i].get_or_insert(why);
    }
}
