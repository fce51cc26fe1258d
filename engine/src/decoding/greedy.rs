//! Greedy decoding: the most likely token at every step.

use crate::backend::LanguageModel;
use crate::decoding::{argmax, log_softmax};
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
    /// Sum of the chosen tokens' log-probabilities.
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

/// Greedy decoding of up to `max_new_tokens` after `prompt`; `on_token` sees
/// each token as it is chosen. Stops early at the end of the context.
pub async fn greedy<M: LanguageModel>(
    model: &M,
    prompt: &[u32],
    options: &GenerateOptions,
    mut on_token: impl FnMut(u32),
) -> Result<Generated> {
    let n_positions = model.config().n_positions;
    options.check(prompt.len(), n_positions)?;
    let mut cache = model.new_cache(1)?;
    let mut out = Generated {
        ids: Vec::new(),
        score: 0.0,
    };
    let mut input = prompt.to_vec();
    while out.ids.len() < options.max_new_tokens && prompt.len() + out.ids.len() < n_positions {
        let logits = model.forward(&mut cache, &[&input], 1).await?;
        let mut row = logits.last(0).to_vec();
        options.suppress_early_eos(out.ids.len(), &mut row);
        let logprobs = log_softmax(&row);
        let id = argmax(&logprobs) as u32;
        out.score += logprobs[id as usize];
        out.ids.push(id);
        on_token(id);
        if Some(id) == options.eos_token_id {
            break;
        }
        input = vec![id];
    }
    Ok(out)
}
