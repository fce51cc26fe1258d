//! Scoring: the log-probability a model gives each token of a text, and the
//! distribution of the next token after a prompt. [`expected`] is the one
//! rule for a token's log-probability from the logits row that predicts it:
//! `gpt2 score` and the page's prompt view both read it.

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
        .map(|i| expected(logits.get(0, i), ids[i + 1], 0).logprob)
        .collect())
}

/// What a model expected at one position of a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// `log p(token | the tokens before)` of the token that came.
    pub logprob: f32,
    /// 1 + the number of tokens the model found strictly more likely.
    pub rank: usize,
    /// The most likely tokens there, most likely first (lower id first on ties).
    pub top: Vec<Candidate>,
}

/// What `row`, the logits after some context, says of `next`: its
/// log-probability (`log_softmax` as `transformers` computes it), its rank,
/// and the `top` most likely tokens in its place.
pub fn expected(row: &[f32], next: u32, top: usize) -> Expected {
    let logprobs = log_softmax(row);
    let logprob = logprobs[next as usize];
    Expected {
        logprob,
        rank: 1 + logprobs.iter().filter(|&&l| l > logprob).count(),
        top: top_n(&logprobs, top)
            .into_iter()
            .map(|i| Candidate {
                id: i as u32,
                logprob: logprobs[i],
            })
            .collect(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_gives_the_log_softmax_the_rank_and_the_top_tokens() {
        let row = [1.0, 3.0, 3.0, 0.0, 2.0];
        let lp = log_softmax(&row);
        let e = expected(&row, 4, 3);
        assert_eq!(e.logprob, lp[4]);
        assert_eq!(e.rank, 3, "two tokens are more likely than token 4");
        let top: Vec<(u32, f32)> = e.top.iter().map(|c| (c.id, c.logprob)).collect();
        assert_eq!(top, [(1, lp[1]), (2, lp[2]), (4, lp[4])]);
        // A tie shares the better rank; no alternatives asked, none given.
        let tie = expected(&row, 2, 0);
        assert_eq!((tie.rank, tie.top.len()), (1, 0));
    }
}
