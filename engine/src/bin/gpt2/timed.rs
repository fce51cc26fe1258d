//! A model adapter that times every forward pass, for `gpt2 bench`, and
//! notes the GPU work done since the pass before (on backends that count it).

use std::cell::{Cell, RefCell};
use std::time::Instant;

use engine::backend::{
    DeviceWork, Hidden, HiddenRequest, KvCache, LanguageModel, Logits, TopLogits,
};
use engine::config::Gpt2Config;
use engine::Result;

/// One forward pass.
#[derive(Debug, Clone, Copy)]
pub struct Pass {
    /// The cache was empty: this pass read the prompt.
    pub prefill: bool,
    pub seconds: f64,
    /// GPU work since the previous pass ended: this pass, and what was done
    /// to the cache between them (beam search's reorder).
    pub work: Option<DeviceWork>,
}

/// `model`, with the passes it ran since the last [`Timed::take`].
pub struct Timed<'a, M> {
    model: &'a M,
    passes: RefCell<Vec<Pass>>,
    /// The device's counts when the last pass ended.
    since: Cell<Option<DeviceWork>>,
}

impl<'a, M: LanguageModel> Timed<'a, M> {
    pub fn new(model: &'a M) -> Self {
        Timed {
            model,
            passes: RefCell::new(Vec::new()),
            since: Cell::new(model.device_work()),
        }
    }

    /// The passes so far, leaving none; the next pass's work counts from now.
    pub fn take(&self) -> Vec<Pass> {
        self.since.set(self.model.device_work());
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
        self.note(prefill, start);
        Ok(logits)
    }

    async fn forward_top(
        &self,
        cache: &mut M::Cache,
        tokens: &[&[u32]],
        last: usize,
        k: usize,
        extra: &[u32],
    ) -> Result<TopLogits> {
        let prefill = cache.is_empty();
        let start = Instant::now();
        let top = self
            .model
            .forward_top(cache, tokens, last, k, extra)
            .await?;
        self.note(prefill, start);
        Ok(top)
    }

    async fn forward_hidden(
        &self,
        cache: &mut M::Cache,
        tokens: &[&[u32]],
        last: usize,
        want: &HiddenRequest<'_>,
    ) -> Result<Hidden> {
        let prefill = cache.is_empty();
        let start = Instant::now();
        let hidden = self.model.forward_hidden(cache, tokens, last, want).await?;
        self.note(prefill, start);
        Ok(hidden)
    }

    fn device_work(&self) -> Option<DeviceWork> {
        self.model.device_work()
    }
}

impl<M: LanguageModel> Timed<'_, M> {
    /// Records a pass that began at `start`.
    fn note(&self, prefill: bool, start: Instant) {
        let seconds = start.elapsed().as_secs_f64();
        let now = self.model.device_work();
        let work = now.zip(self.since.get()).map(|(now, before)| now - before);
        self.since.set(now);
        self.passes.borrow_mut().push(Pass {
            prefill,
            seconds,
            work,
        });
    }
}
