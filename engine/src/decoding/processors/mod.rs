//! The sampling chain: logit processors and warpers applied in an order
//! (see [`Stage::DEFAULT_ORDER`]: `transformers`' order for the processors it
//! has, the others where llama.cpp places them), with `transformers`' f32
//! arithmetic (`generation/logits_process.py`, 5.23) where it has the
//! processor, so that the support of the final distribution is the same
//! token for token. Each processor lives in its own file, with its source:
//!
//! - guidance: classifier-free guidance (`guidance.rs`);
//! - repetition penalty (Keskar et al. 2019, "CTRL", arXiv:1909.05858): every
//!   token id present in the context gets `logit / θ` if `logit ≥ 0`, else
//!   `logit · θ` (`RepetitionPenaltyLogitsProcessor`), and OpenAI's presence
//!   and frequency penalties (`penalties.rs`);
//! - DRY (`dry.rs`);
//! - no-repeat-n-gram (Paulus et al. 2017, arXiv:1705.04304): tokens that would
//!   complete an n-gram already in the context are banned
//!   (`NoRepeatNGramLogitsProcessor`); end-of-text before `min_new_tokens`
//!   (`MinNewTokensLengthLogitsProcessor`) is passed in as a ban, applied just
//!   before the first warper;
//! - temperature (Ackley, Hinton & Sejnowski 1985): `logit / T` in f32;
//! - top-H (`top_h.rs`), top-nσ (`top_n_sigma.rs`);
//! - top-k (Fan et al. 2018, arXiv:1805.04833): tokens below the k-th largest
//!   logit are cut, ties with it kept (`TopKLogitsWarper`);
//! - top-p, nucleus (Holtzman et al. 2019, arXiv:1904.09751): sorted ascending,
//!   tokens whose f32 cumulative probability (accumulated in f64, as torch's CPU
//!   `cumsum`) is `≤ 1 − p` are cut, the most likely token always kept
//!   (`TopPLogitsWarper`, `min_tokens_to_keep = 1`);
//! - min-p (Nguyen et al. 2024, arXiv:2407.01082): tokens with probability
//!   `< min_p · max p` are cut (`MinPLogitsWarper`);
//! - typical-p (`typical.rs`), ε- and η-sampling (`epsilon_eta.rs`);
//! - XTC (`xtc.rs`), then mirostat (`mirostat.rs`), which must come last.
//!
//! Greedy decoding (temperature 0) runs the processors but no warper, as
//! `transformers` does, and takes the argmax.
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

mod dry;
mod epsilon_eta;
mod guidance;
pub mod mirostat;
mod params;
mod penalties;
mod stage;
mod threshold;
mod top_h;
mod top_n_sigma;
mod truncation;
mod typical;
mod xtc;

#[cfg(test)]
mod tests;
pub mod trace;
#[cfg(test)]
mod trace_tests;

pub use params::{Dry, Guidance, Mirostat, SamplingParams, Xtc};
pub use penalties::banned_ngram_tokens;
pub use stage::Stage;
pub use threshold::Threshold;
use trace::Observer;
pub use trace::{Point, StageTrace};

/// One step's distributions, for every token of the vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    /// Softmax of the raw logits.
    pub raw: Vec<f32>,
    /// Softmax after the stages that shift or scale logits (penalties,
    /// guidance, temperature), before the first cut.
    pub scaled: Vec<f32>,
    /// The final normalized distribution sampled from; 0 where cut.
    pub probs: Vec<f32>,
    /// The processor that removed each token, if one did.
    pub cut: Vec<Option<Cut>>,
    /// Greedy only: the argmax's log-probability under the processed logits.
    greedy_logprob: Option<f32>,
}

/// What one step's processing needs besides the logits.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepInputs<'a> {
    /// The prompt and the tokens generated so far.
    pub context: &'a [u32],
    /// How much of `context` is the prompt (presence and frequency penalties
    /// count the generated tokens only).
    pub prompt_len: usize,
    /// Tokens banned for other reasons (end-of-text before `min_new_tokens`).
    pub bans: &'a [(u32, Cut)],
    /// XTC's coin for this step and row: a uniform draw in [0, 1).
    pub xtc_coin: Option<f64>,
    /// Mirostat's μ before this step.
    pub mirostat_mu: Option<f32>,
    /// Classifier-free guidance: the unconditional logits of this step.
    pub unconditional: Option<&'a [f32]>,
}

impl SamplingParams {
    /// The full distribution for one step: `context` is prompt + generated
    /// so far (all of it counted as prompt).
    pub fn process(&self, logits: &[f32], context: &[u32]) -> Processed {
        self.process_with_bans(logits, context, &[])
    }

    /// [`Self::process`] with tokens banned for other reasons, each with its cut.
    pub fn process_with_bans(
        &self,
        logits: &[f32],
        context: &[u32],
        bans: &[(u32, Cut)],
    ) -> Processed {
        let inputs = StepInputs {
            context,
            prompt_len: context.len(),
            bans,
            ..StepInputs::default()
        };
        self.process_step(logits, &inputs)
    }

    /// The full distribution for one step: every stage of the order that is
    /// set, the warpers only when sampling.
    pub fn process_step(&self, logits: &[f32], inputs: &StepInputs) -> Processed {
        self.process_observed(logits, inputs, &mut Observer::none())
    }

    /// [`Self::process_step`], showing `observer` the logits before and after
    /// each point of the chain (see [`trace`]): the one implementation of the
    /// chain, traced or not.
    pub(crate) fn process_observed(
        &self,
        logits: &[f32],
        inputs: &StepInputs,
        observer: &mut Observer<'_>,
    ) -> Processed {
        let n = logits.len();
        let raw = softmax(logits);
        let mut x = logits.to_vec();
        let mut cut = vec![None; n];
        let greedy = self.is_greedy();
        // `scaled`: the softmax of the logits with only the stages that shift
        // or scale them, up to the first warper that cuts. `x` serves until a
        // cut (an n-gram ban, a ban) comes first: from there a copy without
        // the cuts follows the shifting stages.
        let mut scaled = None;
        let mut uncut: Option<Vec<f32>> = None;
        let mut banned = false;
        for &stage in self.order.iter().filter(|&&s| self.is_set(s)) {
            if stage.is_warper() && greedy {
                continue;
            }
            if scaled.is_none() {
                if stage.is_warper() && stage.cuts() {
                    scaled = Some(softmax(uncut.as_deref().unwrap_or(&x)));
                    uncut = None;
                } else if stage.cuts() || (stage.is_warper() && !banned && !inputs.bans.is_empty())
                {
                    uncut.get_or_insert_with(|| x.clone());
                }
            }
            if stage.is_warper() && !banned {
                ban(&mut x, &mut cut, inputs.bans, observer);
                banned = true;
            }
            if let Some(u) = uncut.as_mut().filter(|_| !stage.cuts()) {
                self.apply(stage, u, &mut [], inputs);
            }
            observer.watch(Point::Stage(stage), &mut x, |x| {
                self.apply(stage, x, &mut cut, inputs)
            });
        }
        let scaled = scaled.unwrap_or_else(|| softmax(uncut.as_deref().unwrap_or(&x)));
        if !banned {
            ban(&mut x, &mut cut, inputs.bans, observer);
        }
        if greedy {
            // As `greedy`: argmax of the log-softmax, first index on ties.
            let lp = log_softmax(&x);
            let best = argmax(&lp);
            let mut probs = vec![0.0; n];
            probs[best] = 1.0;
            observer.watch(Point::Greedy, &mut x, |x| {
                for i in (0..n).filter(|&i| i != best) {
                    remove(x, &mut cut, i, Cut::Greedy);
                }
            });
            return Processed {
                raw,
                scaled,
                probs,
                cut,
                greedy_logprob: Some(lp[best]),
            };
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

    /// Runs one stage on `x`.
    fn apply(&self, stage: Stage, x: &mut [f32], cut: &mut [Option<Cut>], inputs: &StepInputs) {
        let context = inputs.context;
        match stage {
            Stage::Guidance => {
                if let (Some(g), Some(u)) = (&self.guidance, inputs.unconditional) {
                    guidance::guidance(x, u, g.scale);
                }
            }
            Stage::RepetitionPenalty => {
                penalties::repetition_penalty(x, context, self.repetition_penalty.unwrap_or(1.0))
            }
            Stage::PresenceFrequency => {
                let generated = context.get(inputs.prompt_len..).unwrap_or_default();
                let presence = self.presence_penalty.unwrap_or(0.0);
                let frequency = self.frequency_penalty.unwrap_or(0.0);
                penalties::presence_frequency(x, generated, presence, frequency);
            }
            Stage::Dry => {
                if let Some(d) = &self.dry {
                    dry::dry(x, context, d);
                }
            }
            Stage::NoRepeatNgram => {
                let size = self.no_repeat_ngram_size.unwrap_or(0);
                for id in banned_ngram_tokens(context, size) {
                    remove(x, cut, id as usize, Cut::NoRepeatNgram);
                }
            }
            Stage::Temperature => {
                for v in x.iter_mut() {
                    *v /= self.temperature;
                }
            }
            Stage::TopH => top_h::top_h(x, cut, self.top_h.unwrap_or(1.0)),
            Stage::TopNSigma => top_n_sigma::top_n_sigma(x, cut, self.top_n_sigma.unwrap_or(1.0)),
            Stage::TopK => truncation::top_k(x, cut, self.top_k.unwrap_or(usize::MAX)),
            Stage::TopP => truncation::top_p(x, cut, self.top_p.unwrap_or(1.0)),
            Stage::MinP => truncation::min_p(x, cut, self.min_p.unwrap_or(0.0)),
            Stage::Typical => typical::typical(x, cut, self.typical_p.unwrap_or(1.0)),
            Stage::Epsilon => epsilon_eta::epsilon(x, cut, self.epsilon_cutoff.unwrap_or(0.0)),
            Stage::Eta => epsilon_eta::eta(x, cut, self.eta_cutoff.unwrap_or(0.0)),
            Stage::Xtc => {
                if let (Some(p), Some(coin)) = (&self.xtc, inputs.xtc_coin) {
                    xtc::xtc(x, cut, p, coin);
                }
            }
            Stage::Mirostat => {
                if let Some(p) = &self.mirostat {
                    let mu = inputs.mirostat_mu.unwrap_or(mirostat::initial_mu(p));
                    mirostat::truncate(x, cut, mu);
                }
            }
        }
    }
}

/// Removes the banned tokens, each with its cut (a point of the chain when
/// there are any).
fn ban(x: &mut Vec<f32>, cut: &mut [Option<Cut>], bans: &[(u32, Cut)], observer: &mut Observer) {
    if bans.is_empty() {
        return;
    }
    observer.watch(Point::Bans, x, |x| {
        for &(id, why) in bans {
            remove(x, cut, id as usize, why);
        }
    });
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
