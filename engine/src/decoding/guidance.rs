//! Classifier-free guidance's second pass (Sanchez et al. 2023, "Stay on topic
//! with Classifier-Free Guidance", arXiv:2306.17806): the same model reads the
//! unconditional context — the negative prompt, or without one the prompt's
//! last token — then each row's chosen tokens, on a KV cache of its own, and
//! gives every step's unconditional logits to the processors
//! ([`StepInputs::unconditional`](crate::decoding::StepInputs)), which combine
//! them with the conditional ones (`processors/guidance.rs`).
//!
//! As `transformers`' `UnbatchedClassifierFreeGuidanceLogitsProcessor`
//! (5.23): its first call runs `negative_prompt_ids` (default
//! `input_ids[:, -1:]`) with a fresh cache, every later call appends
//! `input_ids[:, -1:]`, the token just chosen; positions count from 0 in the
//! unconditional context. Here the cache follows the sampled rows: one row at
//! the first step (it stands for every row, as the prompt's does), copied to
//! every live row after it, and compacted with them (`reorder`) when rows
//! finish.

use crate::backend::{KvCache, LanguageModel, Logits};
use crate::config::Gpt2Config;
use crate::decoding::limits::RunSize;
use crate::decoding::options::check_ids;
use crate::decoding::processors::Guidance;
use crate::decoding::GenerateOptions;
use crate::{Error, Result};

/// The unconditional context of every sampled row, on its own KV cache.
pub struct Unconditional<C> {
    cache: C,
    /// What the first step reads: the negative prompt or the prompt's last token.
    start: Vec<u32>,
}

impl<C: KvCache> Unconditional<C> {
    /// An empty unconditional context for `prompt` (nothing is run yet),
    /// its cache reserved for the whole run.
    pub fn new<M>(
        model: &M,
        guidance: &Guidance,
        prompt: &[u32],
        options: &GenerateOptions,
    ) -> Result<Self>
    where
        M: LanguageModel<Cache = C>,
    {
        let config = model.config();
        let start = start(guidance, prompt);
        check_ids(&start, config.vocab_size, "negative prompt")?;
        let positions = positions(config, prompt.len(), start.len(), options)?;
        let mut cache = model.new_cache(1)?;
        cache.reserve(positions)?;
        Ok(Unconditional { cache, start })
    }

    /// This step's unconditional logits, one row per row of `last` (the
    /// tokens each live row chose at the previous step); the first step reads
    /// the unconditional start instead, on one row that stands for every row.
    pub async fn forward<M>(&mut self, model: &M, last: &[&[u32]]) -> Result<Logits>
    where
        M: LanguageModel<Cache = C>,
    {
        if self.cache.is_empty() {
            let start = [&self.start[..]];
            return model.forward(&mut self.cache, &start, 1).await;
        }
        model.forward(&mut self.cache, last, 1).await
    }

    /// Row `i` becomes old row `rows[i]`, as the sampled rows do.
    pub fn reorder(&mut self, rows: &[usize]) -> Result<()> {
        self.cache.reorder(rows)
    }
}

/// The tokens the unconditional context starts from: the negative prompt, or
/// the prompt's last token when there is none.
fn start(guidance: &Guidance, prompt: &[u32]) -> Vec<u32> {
    match guidance.negative_prompt.is_empty() {
        true => prompt.last().map(|&t| vec![t]).unwrap_or_default(),
        false => guidance.negative_prompt.clone(),
    }
}

/// Positions the unconditional context reaches: its start, then one token per
/// step but the last (whose choice is never fed back). An error when that
/// passes the model's context, which the prompt's own context may not.
fn positions(
    config: &Gpt2Config,
    prompt_len: usize,
    start_len: usize,
    options: &GenerateOptions,
) -> Result<usize> {
    let steps = options.positions(prompt_len, config.n_positions, 0) - prompt_len;
    let positions = start_len + steps.saturating_sub(1);
    let n_positions = config.n_positions;
    if positions > n_positions {
        return Err(Error::input(format!(
            "the negative prompt has {start_len} tokens: with {steps} new tokens its context \
             reaches {positions} positions, more than the model's {n_positions} \
             (n_positions): shorten the negative prompt or lower --max-new-tokens"
        )));
    }
    Ok(positions)
}

/// What the unconditional pass holds at once: `rows` rows of its cache, and
/// one row of logits per row; an error when its context does not fit the model.
pub fn run_size(
    config: &Gpt2Config,
    guidance: &Guidance,
    prompt: &[u32],
    options: &GenerateOptions,
    rows: usize,
) -> Result<RunSize> {
    let start_len = start(guidance, prompt).len();
    Ok(RunSize {
        rows,
        positions: positions(config, prompt.len(), start_len, options)?,
        logit_rows: rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(max_new_tokens: usize) -> GenerateOptions {
        GenerateOptions {
            max_new_tokens,
            min_new_tokens: 0,
            eos_token_id: None,
            forced: Vec::new(),
            whole_rows: false,
        }
    }

    #[test]
    fn the_start_is_the_negative_prompt_or_the_prompts_last_token() {
        let with = |negative_prompt: Vec<u32>| Guidance {
            scale: 1.5,
            negative_prompt,
        };
        assert_eq!(start(&with(vec![]), &[5, 6, 7]), vec![7]);
        assert_eq!(start(&with(vec![1, 2]), &[5, 6, 7]), vec![1, 2]);
    }

    #[test]
    fn the_unconditional_context_must_fit_the_model() {
        let config = Gpt2Config::new(2, 2, 8, 64);
        // 16 start tokens and 49 steps: the last token fed is the 64th.
        assert_eq!(positions(&config, 2, 16, &options(49)).unwrap(), 64);
        let err = positions(&config, 2, 16, &options(50))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "the negative prompt has 16 tokens: with 50 new tokens its context \
                 reaches 65 positions, more than the model's 64"
            ),
            "{err}"
        );
        // The prompt's context ends generation first: 60 + 4 steps.
        assert_eq!(positions(&config, 60, 16, &options(100)).unwrap(), 19);
        assert_eq!(positions(&config, 3, 1, &options(0)).unwrap(), 1);
    }
}
