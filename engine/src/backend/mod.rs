//! The forward pass, behind one contract that every backend implements and
//! every decoding strategy is written against.

pub mod candle;
pub mod cpu;
pub mod decode_step;
mod device_work;
mod hidden;
mod model;
mod precision;
mod profile;
mod top;
#[cfg(feature = "wgpu")]
pub mod wgpu;

pub use device_work::{DeviceWork, KernelTime};
pub use hidden::{check_hidden, layer_norm_row, Hidden, HiddenRequest};
#[cfg(feature = "cuda")]
pub use model::fused_step_wanted;
pub use model::{Cache, Device, Model};
pub use precision::Precision;
pub use profile::{profile_greedy, GreedyProfile, KernelProfile};
pub use top::{log_sum_exp, TopLogits, TopRow, MAX_EXTRA, MAX_TOP};

use crate::config::Gpt2Config;
use crate::{Error, Result};

/// Next-token logits: `[rows, positions, vocab]`, row-major.
#[derive(Debug, Clone)]
pub struct Logits {
    pub rows: usize,
    pub positions: usize,
    pub vocab: usize,
    pub data: Vec<f32>,
}

impl Logits {
    /// The logits predicting the token after position `pos` of row `row`.
    pub fn get(&self, row: usize, pos: usize) -> &[f32] {
        let start = (row * self.positions + pos) * self.vocab;
        &self.data[start..start + self.vocab]
    }

    /// The logits after the last position of row `row`.
    pub fn last(&self, row: usize) -> &[f32] {
        self.get(row, self.positions - 1)
    }
}

/// The keys and values of the tokens a model has seen, for each row.
pub trait KvCache {
    /// Number of positions held (the same for every row).
    fn len(&self) -> usize;
    /// True when nothing has been seen yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Number of rows (sequences decoded side by side, e.g. beams).
    fn rows(&self) -> usize;
    /// Forgets every position from `len` on (speculative decoding's rollback).
    fn truncate(&mut self, len: usize);
    /// Row `i` becomes old row `rows[i]` (beam search); the row count may change.
    fn reorder(&mut self, rows: &[usize]) -> Result<()>;
    /// Makes room for `positions` positions per row (at most the model's
    /// context) now, so that a run allocates nothing step after step;
    /// the cache grows by itself otherwise.
    fn reserve(&mut self, positions: usize) -> Result<()> {
        let _ = positions;
        Ok(())
    }
}

/// A GPT-2 forward pass with a KV cache.
///
/// `async` because WebGPU reads results back asynchronously in the browser;
/// native callers block on it with [`block_on`].
#[allow(async_fn_in_trait)]
pub trait LanguageModel {
    /// The backend's cache type.
    type Cache: KvCache;

    /// The model's shape.
    fn config(&self) -> &Gpt2Config;

    /// An empty cache for `rows` sequences.
    fn new_cache(&self, rows: usize) -> Result<Self::Cache>;

    /// Appends `tokens[r]` (the same length for every row `r`) after what `cache`
    /// holds and returns the logits of the last `last` new positions of each
    /// row: `[rows, last, vocab]`. Scoring a text asks for every position,
    /// speculative decoding for γ + 1, generation for 1.
    async fn forward(
        &self,
        cache: &mut Self::Cache,
        tokens: &[&[u32]],
        last: usize,
    ) -> Result<Logits>;

    /// [`Self::forward`], summarised per row: the top `k` logits (at most
    /// [`MAX_TOP`]), the log-sum-exp and the logits of `extra` ids. What greedy
    /// decoding needs; GPU backends compute it there and read back only that.
    async fn forward_top(
        &self,
        cache: &mut Self::Cache,
        tokens: &[&[u32]],
        last: usize,
        k: usize,
        extra: &[u32],
    ) -> Result<TopLogits> {
        check_top(self.config(), extra)?;
        let logits = self.forward(cache, tokens, last).await?;
        Ok(TopLogits::from_logits(&logits, k, extra))
    }

    /// [`Self::forward`] with hidden states besides the logits, in
    /// `transformers`' numbering (see [`HiddenRequest`]): the last layer's
    /// for contrastive search, early exits through the head for DoLa. A
    /// method of its own so that `forward`, the common path, copies nothing.
    async fn forward_hidden(
        &self,
        cache: &mut Self::Cache,
        tokens: &[&[u32]],
        last: usize,
        want: &HiddenRequest<'_>,
    ) -> Result<Hidden>;

    /// The GPU work done since the model was loaded, on backends that count
    /// it (wgpu); `None` elsewhere.
    fn device_work(&self) -> Option<DeviceWork> {
        None
    }
}

/// Runs a backend's future to completion on native targets.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

/// Checks a `reorder` call's rows against a cache of `cache_rows` rows.
pub fn check_reorder(cache_rows: usize, rows: &[usize]) -> Result<()> {
    if rows.is_empty() || rows.iter().any(|&r| r >= cache_rows) {
        return Err(Error::input(format!(
            "reorder wants rows {rows:?} of a cache of {cache_rows} rows"
        )));
    }
    Ok(())
}

/// Checks a `forward` call's arguments; every backend calls this first and
/// returns the number of new positions per row.
pub fn check_forward(
    config: &Gpt2Config,
    cache_len: usize,
    cache_rows: usize,
    tokens: &[&[u32]],
    last: usize,
) -> Result<usize> {
    if tokens.len() != cache_rows {
        return Err(Error::input(format!(
            "forward got {} rows of tokens for a cache of {cache_rows} rows",
            tokens.len()
        )));
    }
    let n = tokens.first().map_or(0, |t| t.len());
    if n == 0 {
        return Err(Error::input(
            "no tokens to run the model on: the prompt is empty",
        ));
    }
    if tokens.iter().any(|t| t.len() != n) {
        return Err(Error::input(
            "every row must get the same number of new tokens",
        ));
    }
    if last == 0 || last > n {
        return Err(Error::input(format!(
            "asked for the logits of the last {last} of {n} new positions"
        )));
    }
    if cache_len + n > config.n_positions {
        return Err(Error::input(format!(
            "{} tokens do not fit the model's context of {} positions (n_positions): \
             shorten the prompt or ask for fewer new tokens",
            cache_len + n,
            config.n_positions
        )));
    }
    check_ids(config, tokens.iter().flat_map(|t| t.iter()))?;
    Ok(n)
}

/// Checks a `forward_top` call's summary: at most [`MAX_EXTRA`] named ids,
/// each in the vocabulary.
pub fn check_top(config: &Gpt2Config, extra: &[u32]) -> Result<()> {
    if extra.len() > MAX_EXTRA {
        return Err(Error::input(format!(
            "a logits summary reports at most {MAX_EXTRA} named ids, not {}",
            extra.len()
        )));
    }
    check_ids(config, extra)
}

/// An error naming the first id outside the vocabulary.
fn check_ids<'a>(config: &Gpt2Config, ids: impl IntoIterator<Item = &'a u32>) -> Result<()> {
    match ids
        .into_iter()
        .find(|&&id| id as usize >= config.vocab_size)
    {
        Some(id) => Err(Error::input(format!(
            "token id {id} is outside the vocabulary (0..{})",
            config.vocab_size
        ))),
        None => Ok(()),
    }
}
