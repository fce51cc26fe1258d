//! What every strategy is asked for and what it returns.

use crate::config::Gpt2Config;
use crate::{Error, Result};

/// Options every strategy shares.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Most tokens to add.
    pub max_new_tokens: usize,
    /// End-of-text cannot be chosen before this many new tokens.
    pub min_new_tokens: usize,
    /// The end-of-text token; generation stops after it. `None`: never stop early.
    pub eos_token_id: Option<u32>,
    /// Forced choices, `(step, id)` with steps counted from 0 (the first new
    /// token) and ascending: at that step the token `id` is taken instead of
    /// the strategy's choice — a branch of the run. Greedy and sampling
    /// honour it ([`crate::decoding::run`] refuses it for the others).
    pub forced: Vec<(usize, u32)>,
    /// Read each step's whole row of logits even where the strategy needs
    /// only its top candidates (greedy's fast path, computed on the GPU), so
    /// that every token step carries its logits: the page's views of the
    /// whole distribution (the chain's funnel, the timeline's entropy, the
    /// chart redrawn under other settings). The same ids, more bytes read
    /// back per step.
    pub whole_rows: bool,
}

/// A generated continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The new tokens only (end-of-text included when it was chosen).
    pub ids: Vec<u32>,
    /// Sum of the chosen tokens' log-probabilities under the distribution decoded
    /// from; beam search gives transformers' length-normalised `sequences_scores`.
    pub score: f32,
}

impl GenerateOptions {
    /// Checks the options and the prompt against the model: not empty, every
    /// id in the vocabulary, within the context.
    pub fn check(&self, prompt: &[u32], config: &Gpt2Config) -> Result<()> {
        if prompt.is_empty() {
            return Err(Error::input(
                "the prompt is empty: give some text or ids to start from",
            ));
        }
        check_ids(prompt, config.vocab_size, "prompt")?;
        let (prompt_len, n_positions) = (prompt.len(), config.n_positions);
        if prompt_len > n_positions {
            return Err(Error::input(format!(
                "the prompt has {prompt_len} tokens but the model's context holds {n_positions} \
                 (n_positions): shorten the prompt"
            )));
        }
        self.check_forced(config.vocab_size)?;
        if self.min_new_tokens > self.max_new_tokens {
            return Err(Error::input(format!(
                "--min-new-tokens ({}) is larger than --max-new-tokens ({})",
                self.min_new_tokens, self.max_new_tokens
            )));
        }
        Ok(())
    }

    /// Checks the forced choices: steps ascending without repeats, each
    /// before `max_new_tokens`, each id in the vocabulary.
    pub fn check_forced(&self, vocab_size: usize) -> Result<()> {
        for (i, &(step, id)) in self.forced.iter().enumerate() {
            if i > 0 && self.forced[i - 1].0 >= step {
                return Err(Error::input(format!(
                    "--force gives step {step} after step {}: list each step once, in \
                     ascending order (step:id,step:id,...)",
                    self.forced[i - 1].0
                )));
            }
            if step >= self.max_new_tokens {
                return Err(Error::input(format!(
                    "--force names step {step} but only {} new tokens are made (steps 0..{}): \
                     raise --max-new-tokens or force an earlier step",
                    self.max_new_tokens, self.max_new_tokens
                )));
            }
            check_ids(&[id], vocab_size, &format!("forced choice at step {step}"))?;
        }
        Ok(())
    }

    /// The token forced at `step`, if any.
    pub fn forced_at(&self, step: usize) -> Option<u32> {
        self.forced
            .iter()
            .find(|&&(s, _)| s == step)
            .map(|&(_, id)| id)
    }

    /// Positions a cache reaches: the prompt, up to `max_new_tokens` new
    /// tokens and `extra` more (speculative drafts), within the context of
    /// `n_positions` (generation stops there, so larger values are no error).
    pub fn positions(&self, prompt_len: usize, n_positions: usize, extra: usize) -> usize {
        prompt_len
            .saturating_add(self.max_new_tokens)
            .saturating_add(extra)
            .min(n_positions)
    }

    /// Hides end-of-text while fewer than `min_new_tokens` have been made.
    pub fn suppress_early_eos(&self, generated: usize, logits: &mut [f32]) {
        if let Some(eos) = self.eos_token_id {
            if generated < self.min_new_tokens {
                if let Some(l) = logits.get_mut(eos as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
    }
}

/// Checks that every id of `ids` (the `what`: prompt, text) is in a
/// vocabulary of `vocab_size` tokens; the error names the first id outside
/// it and its position.
pub fn check_ids(ids: &[u32], vocab_size: usize, what: &str) -> Result<()> {
    match ids.iter().position(|&id| id as usize >= vocab_size) {
        Some(pos) => Err(Error::input(format!(
            "token id {} is outside the vocabulary (0..{vocab_size}), at position {pos} of the \
             {what}: every id must be below the model's vocab_size ({vocab_size})",
            ids[pos]
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_outside_the_vocabulary_are_named_with_their_position() {
        let err = check_ids(&[1, 2, 50257], 50257, "prompt")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("token id 50257 is outside the vocabulary (0..50257)"),
            "{err}"
        );
        assert!(err.contains("position 2 of the prompt"), "{err}");
        assert!(check_ids(&[0, 50256], 50257, "prompt").is_ok());
    }

    #[test]
    fn positions_saturate_at_the_context() {
        let options = GenerateOptions {
            max_new_tokens: usize::MAX,
            min_new_tokens: 0,
            eos_token_id: None,
            forced: Vec::new(),
            whole_rows: false,
        };
        assert_eq!(options.positions(10, 64, usize::MAX), 64);
        let options = GenerateOptions {
            max_new_tokens: 8,
            ..options
        };
        assert_eq!(options.positions(10, 64, 4), 22);
    }

    #[test]
    fn forced_choices_are_checked_and_found_by_step() {
        let options = GenerateOptions {
            max_new_tokens: 4,
            min_new_tokens: 0,
            eos_token_id: None,
            forced: vec![(0, 5), (3, 9)],
            whole_rows: false,
        };
        assert!(options.check_forced(10).is_ok());
        assert_eq!(options.forced_at(3), Some(9));
        assert_eq!(options.forced_at(1), None);
        let bad = |forced: Vec<(usize, u32)>| {
            let options = GenerateOptions {
                forced,
                ..options.clone()
            };
            options.check_forced(10).unwrap_err().to_string()
        };
        let err = bad(vec![(2, 1), (2, 3)]);
        assert!(err.contains("step 2 after step 2"), "{err}");
        let err = bad(vec![(4, 1)]);
        assert!(err.contains("step 4 but only 4 new tokens"), "{err}");
        let err = bad(vec![(1, 10)]);
        assert!(err.contains("forced choice at step 1"), "{err}");
    }
}
