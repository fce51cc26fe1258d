//! A model adapter that times every forward pass, for `gpt2 bench`.

use std::cell::RefCell;
use std::time::Instant;

use engine::backend::{KvCache, LanguageModel, Logits};
use engine::config::Gpt2Config;
use engine::Result;

/// One forward pass.
#[derive(Debug, Clone, Copy)]
pub struct Pass {
    /// The cache was empty: this pass read the prompt.
    pub prefill: bool,
    pub seconds: f64,
}

/// `model`, with the passes it ran since the last [`Timed::take`].
pub struct Timed<'a, M> {
    model: &'a M,
    passes: RefCell<Vec<Pass>>,
}

impl<'a, M: LanguageModel> Timed<'a, M> {
    pub fn new(model: &'a M) -> Self {
        Timed {
            model,
            passes: RefCell::new(Vec::new()),
        }
    }

    /// The passes so far, leaving none.
    pub fn take(&self) -> Vec<Pass> {
        std::mem::take(&mut self.passes.borrow_mut())
    }
}

impl<M: LanguageModel> LanguageModel for Timed<'_, M> {
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
        let prefill = cache.is_empty();
        let start = Instant::now();
        // The logits come back to the host, so the time includes the device's work.
        let logits = self.model.forward(cache, tokens, last).await?;
        let seconds = start.elapsed().as_secs_f64();
        self.passes.borrow_mut().push(Pass { prefill, seconds });
        Ok(logits)
    }
}
