//! Scoring: the log-probability a model gives each token of a text, and the
//! distribution of the next token after a prompt.

use crate::backend::{LanguageModel, Logits};
use crate::decoding::limits::{self, RunSize};
use crate::decoding::select::top_n;
use crate::decoding::{check_ids, log_softmax};
use crate::{Error, Result};

/// `token_logprobs[i] = log p(ids[i+1] | ids[..=i])`, in one forward pass.
pub async fn score<M: LanguageModel>(model: &M, ids: &[u32]) -> Result<Vec<f32>> {
    if ids.len() < 2 {
        return Err(Error::input(format!(
            "scoring needs at least 2 tokens (the first one is only context), got {}; \
             start the text with <|endoftext|> to score its first word",
            ids.len()
        )));
    }
    let config = model.config();
    check_ids(ids, config.vocab_size, "text")?;
    let n = ids.len() - 1;
    // Every position's logits come back: one row of logits per position
    // (a text longer than the context is refused by the forward pass).
    let positions = n.min(config.n_positions);
    let size = RunSize {
        rows: 1,
        positions,
        logit_rows: positions,
    };
    limits::check_memory(&[config], size, "score a shorter text")?;
    let mut cache = model.new_cache(1)?;
    let logits: Logits = model.forward(&mut cache, &[&ids[..n]], n).await?;
    Ok((0..n)
        .map(|i| log_softmax(logits.get(0, i))[ids[i + 1] as usize])
        .collect())
}

/// One possible next token.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: u32,
    pub logprob: f32,
}

/// The `top` most likely next tokens after `prompt`, most likely first.
pub async fn next_token_logprobs<M: LanguageModel>(
    model: &M,
    prompt: &[u32],
    top: usize,
) -> Result<Vec<Candidate>> {
    check_ids(prompt, model.config().vocab_size, "prompt")?;
    let mut cache = model.new_cache(1)?;
    let logits = model.forward(&mut cache, &[prompt], 1).await?;
    let logprobs = log_softmax(logits.last(0));
    Ok(top_n(&logprobs, top)
        .into_iter()
        .map(|i| Candidate {
            id: i as u32,
            logprob: logprobs[i],
        })
        .collect())
}
