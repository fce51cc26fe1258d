//! The logit lens (nostalgebraist 2020, "interpreting GPT: the logit
//! lens"): what the model would say next if it stopped after each layer —
//! the residual stream at the last position read through the model's own
//! ending, the final layer norm `ln_f` and the tied head `wte`.
//!
//! Layers are numbered as `transformers`' `output_hidden_states` numbers
//! them: 0 is the embeddings, `i` the output of block `i − 1`, and
//! `n_layer` the model's own logits. One [`LanguageModel::forward_hidden`]
//! pass over the prefix gives them all ([`HiddenRequest::lens`]: the
//! backend applies `ln_f` and the head on its device).

use super::{log_softmax, select};
use crate::backend::{HiddenRequest, KvCache, LanguageModel};
use crate::{Error, Result};

/// One layer's reading: its top tokens, most likely first.
#[derive(Debug, Clone, PartialEq)]
pub struct LensLayer {
    /// `hidden_states[layer]`, 0..=n_layer.
    pub layer: usize,
    /// `(id, logit, probability)`, the probability the softmax of this
    /// layer's logits gives.
    pub top: Vec<(u32, f32, f32)>,
}

/// The lens of the position after `prefix` (the distribution of the token
/// that follows it): every layer's top `k` tokens, layers 0..=n_layer in
/// order. One forward pass over `prefix` on a cache of its own.
pub async fn logit_lens<M: LanguageModel>(
    model: &M,
    prefix: &[u32],
    k: usize,
) -> Result<Vec<LensLayer>> {
    if prefix.is_empty() {
        return Err(Error::input(
            "the logit lens reads the position after a prefix: give at least one token",
        ));
    }
    let n_layer = model.config().n_layer;
    let heads: Vec<usize> = (0..n_layer).collect();
    let want = HiddenRequest {
        layers: &[],
        positions: 0,
        heads: &heads,
        lens: true,
    };
    let mut cache = model.new_cache(1)?;
    cache.reserve(prefix.len())?;
    let hidden = model
        .forward_hidden(&mut cache, &[prefix], 1, &want)
        .await?;
    let rows = hidden.heads.iter().chain([&hidden.logits]);
    Ok(rows
        .enumerate()
        .map(|(layer, logits)| LensLayer {
            layer,
            top: top_probs(logits.last(0), k),
        })
        .collect())
}

/// The top `k` of a row of logits with their softmax probabilities.
fn top_probs(logits: &[f32], k: usize) -> Vec<(u32, f32, f32)> {
    let logprobs = log_softmax(logits);
    select::top_n(logits, k)
        .into_iter()
        .map(|i| (i as u32, logits[i], logprobs[i].exp()))
        .collect()
}
