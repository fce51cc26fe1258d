//! What every strategy is asked for and what it returns.

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
    /// Checks the options against the prompt and the model's context.
    pub fn check(&self, prompt_len: usize, n_positions: usize) -> Result<()> {
        if prompt_len == 0 {
            return Err(Error::input(
                "the prompt is empty: give some text or ids to start from",
            ));
        }
        if prompt_len > n_positions {
            return Err(Error::input(format!(
                "the prompt has {prompt_len} tokens but the model's context holds {n_positions} \
                 (n_positions): shorten the prompt"
            )));
        }
        if self.min_new_tokens > self.max_new_tokens {
            return Err(Error::input(format!(
                "--min-new-tokens ({}) is larger than --max-new-tokens ({})",
                self.min_new_tokens, self.max_new_tokens
            )));
        }
        Ok(())
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
