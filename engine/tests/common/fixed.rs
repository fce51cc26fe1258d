//! A model whose next-token logits are always the same row, whatever the
//! context: the sample runner's draws then follow a known distribution.

use std::cell::RefCell;

use engine::backend::{check_forward, Hidden, HiddenRequest, KvCache, LanguageModel, Logits};
use engine::config::Gpt2Config;
use engine::Result;

/// Next-token logits always `row`; records how many rows each forward ran.
pub struct Fixed {
    config: Gpt2Config,
    row: Vec<f32>,
    /// The rows of each forward, in order.
    pub rows_seen: RefCell<Vec<usize>>,
}

/// A model of one layer and 64 positions over a vocabulary of `row.len()`.
pub fn fixed(row: Vec<f32>) -> Fixed {
    let mut config = Gpt2Config::new(1, 1, 8, 64);
    config.vocab_size = row.len();
    Fixed {
        config,
        row,
        rows_seen: RefCell::new(Vec::new()),
    }
}

/// Only the lengths: there is nothing to remember.
pub struct FixedCache {
    len: usize,
    rows: usize,
}

impl KvCache for FixedCache {
    fn len(&self) -> usize {
        self.len
    }
    fn rows(&self) -> usize {
        self.rows
    }
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
    fn reorder(&mut self, rows: &[usize]) -> Result<()> {
        assert!(rows.iter().all(|&r| r < self.rows));
        self.rows = rows.len();
        Ok(())
    }
}

impl LanguageModel for Fixed {
    type Cache = FixedCache;
    fn config(&self) -> &Gpt2Config {
        &self.config
    }
    fn new_cache(&self, rows: usize) -> Result<FixedCache> {
        Ok(FixedCache { len: 0, rows })
    }
    async fn forward(
        &self,
        cache: &mut FixedCache,
        tokens: &[&[u32]],
        last: usize,
    ) -> Result<Logits> {
        let n = check_forward(&self.config, cache.len, cache.rows, tokens, last)?;
        cache.len += n;
        self.rows_seen.borrow_mut().push(tokens.len());
        Ok(Logits {
            rows: tokens.len(),
            positions: 1,
            vocab: self.row.len(),
            data: self.row.repeat(tokens.len()),
        })
    }
    async fn forward_hidden(
        &self,
        _: &mut FixedCache,
        _: &[&[u32]],
        _: usize,
        _: &HiddenRequest<'_>,
    ) -> Result<Hidden> {
        Err(engine::Error::input("a fixed row has no hidden states"))
    }
}
