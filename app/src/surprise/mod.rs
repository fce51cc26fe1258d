//! The prompt's surprise: how likely the model found each prompt token after
//! the ones before it, `log p(x_i | x_<i)` as `gpt2 score` gives it
//! ([`engine::decoding::expected`], the one rule), with its top guesses at
//! each position.
//!
//! The numbers come from the run's own first pass. A strategy's first pass
//! already runs every prompt position through the model and asks for the
//! logits of the last one(s) only; [`KeepPrompt`] asks that pass for every
//! position's logits instead, keeps what the view needs and hands the
//! strategy exactly what it asked for. The view costs no forward pass, only a
//! larger head product and readback in the first one.

use std::cell::{Cell, RefCell};

use engine::backend::{
    check_top, Hidden, HiddenRequest, KvCache, LanguageModel, Logits, TopLogits,
};
use engine::config::Gpt2Config;
use engine::decoding::limits::{self, RunSize};
use engine::decoding::{expected, Expected};
use engine::Result;

#[cfg(test)]
mod tests;

/// Top guesses shown at each prompt position.
pub const ALTERNATIVES: usize = 5;

/// A model whose first pass over `prompt` (one row, nothing cached yet)
/// returns every position's logits; the prompt's part is kept for the view
/// and the strategy gets the positions it asked for. Every other pass goes
/// through untouched.
pub struct KeepPrompt<'a, M> {
    pub model: &'a M,
    prompt: &'a [u32],
    /// Whether the first pass over the prompt is still to come.
    waiting: Cell<bool>,
    /// What that pass left: one [`Expected`] per prompt token after the
    /// first, or why there is none.
    kept: RefCell<Option<std::result::Result<Vec<Expected>, String>>>,
}

impl<'a, M: LanguageModel> KeepPrompt<'a, M> {
    /// `model`, keeping the prompt's numbers from its first pass over `prompt`.
    pub fn new(model: &'a M, prompt: &'a [u32]) -> Self {
        KeepPrompt {
            model,
            prompt,
            waiting: Cell::new(true),
            kept: RefCell::new(None),
        }
    }

    /// What the first pass over the prompt left, once (`None` before it).
    pub fn take(&self) -> Option<std::result::Result<Vec<Expected>, String>> {
        self.kept.borrow_mut().take()
    }

    /// The positions this pass returns: every new one when it is the first
    /// pass over the prompt and its logits fit in memory, else `last`.
    fn positions(&self, cache: &M::Cache, tokens: &[&[u32]], last: usize) -> usize {
        let first = self.waiting.get()
            && cache.is_empty()
            && tokens.len() == 1
            && tokens[0].starts_with(self.prompt);
        if !first {
            return last;
        }
        self.waiting.set(false);
        if self.prompt.len() < 2 {
            *self.kept.borrow_mut() = Some(Ok(Vec::new()));
            return last;
        }
        let n = tokens[0].len();
        let size = RunSize {
            rows: 1,
            positions: n,
            logit_rows: n,
        };
        let config = self.model.config();
        match limits::check_memory(&[config], size, "a shorter prompt shows its surprise") {
            Ok(()) => n,
            Err(e) => {
                *self.kept.borrow_mut() = Some(Err(e.to_string()));
                last
            }
        }
    }

    /// Keeps the prompt's part of a pass that returned every position and
    /// returns its last `last` positions, as the strategy asked.
    fn keep(&self, logits: Logits, last: usize) -> Logits {
        let kept = (1..self.prompt.len())
            .map(|i| expected(logits.get(0, i - 1), self.prompt[i], ALTERNATIVES))
            .collect();
        *self.kept.borrow_mut() = Some(Ok(kept));
        tail(logits, last)
    }
}

/// The last `last` positions of every row of `logits`.
pub fn tail(logits: Logits, last: usize) -> Logits {
    if last == logits.positions {
        return logits;
    }
    let (rows, vocab, skip) = (logits.rows, logits.vocab, logits.positions - last);
    let data = (0..rows)
        .flat_map(|r| {
            let start = (r * logits.positions + skip) * vocab;
            logits.data[start..start + last * vocab].iter().copied()
        })
        .collect();
    Logits {
        rows,
        positions: last,
        vocab,
        data,
    }
}

impl<M: LanguageModel> LanguageModel for KeepPrompt<'_, M> {
    type Cache = M::Cache;

    fn config(&self) -> &Gpt2Config {
        self.model.config()
    }

    fn new_cache(&self, rows: usize) -> Result<M::Cache> {
        self.model.new_cache(rows)
    }

    async fn forward(
        &self,
        cache: &mut M::Cache,
        tokens: &[&[u32]],
        last: usize,
    ) -> Result<Logits> {
        let all = self.positions(cache, tokens, last);
        let logits = self.model.forward(cache, tokens, all).await?;
        Ok(match all == last {
            true => logits,
            false => self.keep(logits, last),
        })
    }

    /// The first pass over the prompt reads every row back and summarises
    /// the last on the host, as the contract's default does; the others
    /// keep the model's own summary.
    async fn forward_top(
        &self,
        cache: &mut M::Cache,
        tokens: &[&[u32]],
        last: usize,
        k: usize,
        extra: &[u32],
    ) -> Result<TopLogits> {
        let all = self.positions(cache, tokens, last);
        if all == last {
            return self.model.forward_top(cache, tokens, last, k, extra).await;
        }
        check_top(self.config(), extra)?;
        let logits = self.model.forward(cache, tokens, all).await?;
        Ok(TopLogits::from_logits(&self.keep(logits, last), k, extra))
    }

    async fn forward_hidden(
        &self,
        cache: &mut M::Cache,
        tokens: &[&[u32]],
        last: usize,
        want: &HiddenRequest<'_>,
    ) -> Result<Hidden> {
        let all = self.positions(cache, tokens, last);
        let mut hidden = self.model.forward_hidden(cache, tokens, all, want).await?;
        if all != last {
            // The layers' states cover their own positions; the logits and
            // the early exits' heads follow `last`.
            let logits = std::mem::replace(&mut hidden.logits, empty());
            hidden.logits = self.keep(logits, last);
            hidden.heads = hidden.heads.into_iter().map(|h| tail(h, last)).collect();
        }
        Ok(hidden)
    }

    fn device_work(&self) -> Option<engine::backend::DeviceWork> {
        self.model.device_work()
    }
}

/// Logits of nothing, to move a pass's logits out of it.
fn empty() -> Logits {
    Logits {
        rows: 0,
        positions: 0,
        vocab: 0,
        data: Vec::new(),
    }
}

/// One of the model's guesses at a prompt position.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    pub id: u32,
    pub text: String,
    pub logprob: f32,
}

/// One prompt token as the view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptToken {
    pub id: u32,
    pub text: String,
    /// `log p(token | the tokens before)`; `None` for the first token, which
    /// nothing precedes.
    pub logprob: Option<f32>,
    /// 1 + the number of tokens the model found more likely there.
    pub rank: Option<usize>,
    /// The model's top guesses there, most likely first.
    pub alternatives: Vec<Alternative>,
}

/// The last run's prompt, scored by its first pass.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptSurprise {
    /// The prompt's text, to tell when the settings have moved on.
    pub prompt: String,
    pub tokens: Vec<PromptToken>,
    /// Why the tokens carry no numbers, when they do not.
    pub missing: Option<String>,
}

impl PromptSurprise {
    /// The view of `ids` (the prompt `prompt` tokenized) from what the first
    /// pass kept; `text` names a token.
    pub fn new(
        prompt: &str,
        ids: &[u32],
        kept: std::result::Result<Vec<Expected>, String>,
        text: impl Fn(u32) -> String,
    ) -> Self {
        let (expected, missing) = match kept {
            Ok(e) => (e, None),
            Err(why) => (Vec::new(), Some(why)),
        };
        let tokens = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                let e = i.checked_sub(1).and_then(|j| expected.get(j));
                PromptToken {
                    id,
                    text: text(id),
                    logprob: e.map(|e| e.logprob),
                    rank: e.map(|e| e.rank),
                    alternatives: e.map_or_else(Vec::new, |e| {
                        e.top
                            .iter()
                            .map(|c| Alternative {
                                id: c.id,
                                text: text(c.id),
                                logprob: c.logprob,
                            })
                            .collect()
                    }),
                }
            })
            .collect();
        PromptSurprise {
            prompt: prompt.to_string(),
            tokens,
            missing,
        }
    }

    /// The scored tokens' total log-probability, their count and the
    /// perplexity `exp(−total / count)`; `None` when none is scored.
    pub fn totals(&self) -> Option<(f64, usize, f64)> {
        let scored: Vec<f64> = self
            .tokens
            .iter()
            .filter_map(|t| t.logprob.map(f64::from))
            .collect();
        if scored.is_empty() {
            return None;
        }
        let total: f64 = scored.iter().sum();
        let n = scored.len();
        Some((total, n, (-total / n as f64).exp()))
    }
}

/// The colour scale's bands: a token falls in the first band whose lower
/// bound (log-probability, nats) it reaches; below the last, the last band + 1.
pub const BANDS: [f32; 4] = [-1.0, -3.0, -6.0, -10.0];

/// The band of a log-probability: 0 (expected) to `BANDS.len()` (most surprising).
pub fn band(logprob: f32) -> usize {
    BANDS
        .iter()
        .position(|&low| logprob >= low)
        .unwrap_or(BANDS.len())
}

/// The legend's words for each band, from [`BANDS`]: log-probability and
/// probability.
pub fn band_labels() -> Vec<String> {
    let p = |l: f32| crate::views::chart::percent(l.exp());
    let mut labels = Vec::with_capacity(BANDS.len() + 1);
    labels.push(format!("log p ≥ {} (p ≥ {})", BANDS[0], p(BANDS[0])));
    for w in BANDS.windows(2) {
        labels.push(format!("{} to {}", w[0], w[1]));
    }
    let lowest = BANDS[BANDS.len() - 1];
    labels.push(format!("< {lowest} (p < {})", p(lowest)));
    labels
}
