//! `?bench=1`: a fixed greedy benchmark on the loaded model, as `gpt2 bench`
//! runs it natively — a warm-up, then [`RUNS`] greedy runs of [`NEW_TOKENS`]
//! tokens after a prompt of [`PROMPT_TOKENS`] tokens (end-of-text held off),
//! every pass timed, the medians kept; then, on WebGPU where the browser
//! gives timestamp queries, one more greedy decode with every dispatch timed
//! (as `gpt2 bench --profile`), summed per kernel kind.

use std::cell::RefCell;
use std::rc::Rc;

use engine::backend::{profile_greedy, LanguageModel};
use engine::benchmark::prompt_ids;
use engine::decoding::{greedy, GenerateOptions};
use engine::{Error, Result};
use leptos::prelude::*;

use crate::loader::now_ms;
use crate::speed::{BenchResult, KernelRow, Profile, Speed};
use crate::state::{AppState, Loaded};
use crate::tracked::{yield_to_browser, Tracked};

/// Tokens of the benchmark's prompt.
pub const PROMPT_TOKENS: usize = 32;
/// New tokens of each benchmark run.
pub const NEW_TOKENS: usize = 64;
/// Timed runs; the figures are their medians.
pub const RUNS: usize = 3;
/// New tokens of the untimed warm-up run.
const WARM_UP_TOKENS: usize = 4;
/// Where the benchmark is.
#[derive(Debug, Clone, PartialEq)]
pub enum BenchState {
    /// Waiting for the model, or running; what it is doing, in words.
    Running(String),
    Done(BenchResult),
    Error(String),
}

impl BenchState {
    /// The name in `data-state`.
    pub fn name(&self) -> &'static str {
        match self {
            BenchState::Running(_) => "running",
            BenchState::Done(_) => "done",
            BenchState::Error(_) => "error",
        }
    }
}

/// Runs the benchmark on `main`, telling `state.bench` how far it is.
pub async fn run(state: AppState, main: Rc<Loaded>) -> Result<BenchResult> {
    let prompt = prompt_ids(&main.tokenizer, PROMPT_TOKENS)?;
    let positions = main.model.config().n_positions;
    if prompt.len() + NEW_TOKENS > positions {
        return Err(Error::input(format!(
            "the model holds {positions} positions, fewer than the benchmark's {} + {NEW_TOKENS}",
            prompt.len()
        )));
    }
    let passes = RefCell::new(Vec::new());
    let model = Tracked {
        model: &main.model,
        forwards: state.forwards,
        stop: state.models.with_value(|m| m.stop.clone()),
        passes: Some(&passes),
        yields: false,
    };
    let options = |max_new_tokens| GenerateOptions {
        max_new_tokens,
        min_new_tokens: 0,
        eos_token_id: None,
        forced: Vec::new(),
        whole_rows: false,
    };
    let say = |what: String| state.bench.set(Some(BenchState::Running(what)));

    say("warming up".into());
    yield_to_browser().await;
    greedy(&model, &prompt, &options(WARM_UP_TOKENS), &mut |_| {}).await?;

    let mut speeds = Vec::new();
    for i in 0..RUNS {
        say(format!("greedy run {} of {RUNS}", i + 1));
        yield_to_browser().await;
        passes.take();
        let start = now_ms();
        let out = greedy(&model, &prompt, &options(NEW_TOKENS), &mut |_| {}).await?;
        let seconds = (now_ms() - start) / 1000.0;
        if out.ids.len() != NEW_TOKENS {
            return Err(Error::Backend(format!(
                "greedy stopped after {} of {NEW_TOKENS} tokens",
                out.ids.len()
            )));
        }
        speeds.push(Speed::of_run(
            prompt.len(),
            NEW_TOKENS,
            &passes.borrow(),
            seconds,
        ));
    }

    let kernel_set = main.model.wgpu_kernels().map(|(set, _)| set);
    let profile = if kernel_set.is_none() {
        Profile::Cpu
    } else {
        say("timing each kernel".into());
        yield_to_browser().await;
        match profile_greedy(&main.model, &prompt, NEW_TOKENS).await? {
            Some(p) => Profile::Kernels(p.kernels.iter().map(KernelRow::from).collect()),
            None => Profile::NoTimestamps,
        }
    };
    let adapter = match kernel_set {
        Some(_) => crate::webgpu::adapter_name().await,
        None => None,
    };
    Ok(BenchResult {
        model: main.name.clone(),
        device: crate::threads::device_label(&main.model),
        adapter,
        kernel_set,
        prompt_tokens: prompt.len(),
        new_tokens: NEW_TOKENS,
        runs: RUNS,
        speed: Speed::median_of(&speeds),
        profile,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    // Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_states_have_their_contract_names() {
        assert_eq!(BenchState::Running("x".into()).name(), "running");
        assert_eq!(BenchState::Error("x".into()).name(), "error");
    }
}
