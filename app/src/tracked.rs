//! A model as the page runs it: every forward pass counted and timed, the
//! browser given a turn to draw between passes, and Stop honoured at the
//! next pass.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use engine::backend::{
    Cache, Hidden, HiddenRequest, KvCache, LanguageModel, Logits, Model, TopLogits,
};
use engine::config::Gpt2Config;
use engine::{Error, Result};
use leptos::prelude::*;

use crate::speed::PassTime;

/// A model as a strategy (or the benchmark) sees it in the page: every pass
/// counted and timed, the browser given a turn before each CPU pass when
/// asked (on the GPU, waiting for the readback already gives it one), and an
/// error once Stop was pressed.
pub struct Tracked<'a> {
    pub model: &'a Model,
    pub forwards: RwSignal<usize>,
    pub stop: Rc<Cell<bool>>,
    /// Where each pass's time goes, if anywhere.
    pub passes: Option<&'a RefCell<Vec<PassTime>>>,
    /// Give the browser a turn before each CPU pass (not while timing: a
    /// zero-delay timer can wait several milliseconds).
    pub yields: bool,
}

impl Tracked<'_> {
    /// Before a pass: the browser's turn, then Stop.
    async fn before(&self) -> Result<()> {
        if self.yields && matches!(self.model, Model::Cpu(_)) {
            yield_to_browser().await;
        }
        if self.stop.get() {
            return Err(Error::input("stopped"));
        }
        Ok(())
    }

    /// After a pass that started at `start` (ms): its time and the count.
    fn after(&self, prefill: bool, start: f64) {
        if let Some(passes) = self.passes {
            let seconds = (crate::loader::now_ms() - start) / 1000.0;
            passes.borrow_mut().push(PassTime { prefill, seconds });
        }
        self.forwards.update(|n| *n += 1);
    }
}

impl LanguageModel for Tracked<'_> {
    type Cache = Cache;

    fn config(&self) -> &Gpt2Config {
        self.model.config()
    }

    fn new_cache(&self, rows: usize) -> Result<Cache> {
        self.model.new_cache(rows)
    }

    async fn forward(&self, cache: &mut Cache, tokens: &[&[u32]], last: usize) -> Result<Logits> {
        self.before().await?;
        let (prefill, start) = (cache.is_empty(), crate::loader::now_ms());
        // The logits come back to the page, so the time holds the device's work.
        let logits = self.model.forward(cache, tokens, last).await?;
        self.after(prefill, start);
        Ok(logits)
    }

    /// The model's own top-candidates pass (on the GPU, only the summary
    /// comes back): greedy's fast path.
    async fn forward_top(
        &self,
        cache: &mut Cache,
        tokens: &[&[u32]],
        last: usize,
        k: usize,
        extra: &[u32],
    ) -> Result<TopLogits> {
        self.before().await?;
        let (prefill, start) = (cache.is_empty(), crate::loader::now_ms());
        let top = self
            .model
            .forward_top(cache, tokens, last, k, extra)
            .await?;
        self.after(prefill, start);
        Ok(top)
    }

    async fn forward_hidden(
        &self,
        cache: &mut Cache,
        tokens: &[&[u32]],
        last: usize,
        want: &HiddenRequest<'_>,
    ) -> Result<Hidden> {
        self.before().await?;
        let (prefill, start) = (cache.is_empty(), crate::loader::now_ms());
        let hidden = self.model.forward_hidden(cache, tokens, last, want).await?;
        self.after(prefill, start);
        Ok(hidden)
    }
}

/// Waits `ms` milliseconds, the browser running meanwhile.
pub(crate) async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Lets the browser handle events and draw (a zero-delay timer).
pub(crate) async fn yield_to_browser() {
    sleep_ms(0).await
}
