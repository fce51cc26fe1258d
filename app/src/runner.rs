//! Running a strategy in the page: the engine's decoding functions over the
//! loaded models, each forward pass counted, the browser given a turn to draw
//! between passes, Stop honoured at the next pass, and every step streamed
//! into the page's state.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use engine::backend::{Cache, KvCache, LanguageModel, Logits, Model};
use engine::config::Gpt2Config;
use engine::decoding::rng::Rng;
use engine::decoding::{
    beam_search, contrastive, greedy, sample, speculative, GenerateOptions, Step, Verify,
};
use engine::{Error, Result};
use leptos::prelude::*;

use crate::settings::{Settings, Strategy};
use crate::speed::{PassTime, Speed};
use crate::state::{AppState, Chip, Loaded, RunView, StepRecord};

/// A model as a strategy sees it in the page: every pass counted (and timed,
/// when asked), the last row-0 logits kept for the chart, the browser given a
/// turn before each CPU pass (on the GPU, waiting for the readback already
/// gives it one), and an error once Stop was pressed.
pub struct Tracked<'a> {
    pub model: &'a Model,
    pub forwards: RwSignal<usize>,
    pub stop: Rc<Cell<bool>>,
    /// Where the last pass's final logits of row 0 go, if anywhere.
    pub last: Option<&'a RefCell<Option<Arc<[f32]>>>>,
    /// Where each pass's time goes, if anywhere.
    pub passes: Option<&'a RefCell<Vec<PassTime>>>,
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
        if matches!(self.model, Model::Cpu(_)) {
            yield_to_browser().await;
        }
        if self.stop.get() {
            return Err(Error::input("stopped"));
        }
        let (prefill, start) = (cache.is_empty(), crate::loader::now_ms());
        let logits = self.model.forward(cache, tokens, last).await?;
        if let Some(passes) = self.passes {
            let seconds = (crate::loader::now_ms() - start) / 1000.0;
            passes.borrow_mut().push(PassTime { prefill, seconds });
        }
        self.forwards.update(|n| *n += 1);
        if let Some(slot) = self.last {
            *slot.borrow_mut() = Some(logits.last(0).into());
        }
        Ok(logits)
    }
}

/// Lets the browser handle events and draw (a zero-delay timer).
pub(crate) async fn yield_to_browser() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback(&resolve);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Runs `settings`' strategy on the loaded models, streaming into `state.run`;
/// when it ends (stopped too), its speed goes into `state.speed`.
pub async fn run(
    state: AppState,
    settings: Settings,
    main: Rc<Loaded>,
    second: Option<Rc<Loaded>>,
) -> Result<String> {
    let tokenizer = &main.tokenizer;
    let prompt = tokenizer.encode(&settings.prompt)?;
    state
        .run
        .set(Some(RunView::new(settings.strategy, prompt.clone())));
    state.selected.set(None);
    state.speed.set(None);
    let options = GenerateOptions {
        max_new_tokens: settings.max_new_tokens,
        min_new_tokens: 0,
        eos_token_id: tokenizer.eos_token_id(),
    };
    let stop = state.models.with_value(|m| m.stop.clone());
    let last_logits = RefCell::new(None);
    let passes = RefCell::new(Vec::new());
    let keeps_logits = matches!(settings.strategy, Strategy::Greedy | Strategy::Sample);
    let model = Tracked {
        model: &main.model,
        forwards: state.forwards,
        stop: stop.clone(),
        last: keeps_logits.then_some(&last_logits),
        passes: Some(&passes),
    };
    let second_model = second.as_ref().map(|s| Tracked {
        model: &s.model,
        forwards: state.forwards,
        stop: stop.clone(),
        last: None,
        passes: Some(&passes),
    });
    let mut on_step = |step: Step| {
        let logits = last_logits.borrow_mut().take();
        state.run.update(|run| {
            if let Some(run) = run {
                record(run, step, logits, tokenizer);
            }
        });
    };
    let started = crate::loader::now_ms();
    let second = || {
        second_model
            .as_ref()
            .ok_or_else(|| Error::input("the second model is not loaded"))
    };
    let mut summary = String::new();
    let outcome: Result<()> = async {
        match settings.strategy {
            Strategy::Greedy => {
                greedy(&model, &prompt, &options, &mut on_step).await?;
            }
            Strategy::Sample => {
                sample(
                    &model,
                    &prompt,
                    &options,
                    &settings.sampling(),
                    settings.seed,
                    1,
                    &mut on_step,
                )
                .await?;
            }
            Strategy::Beam => {
                let best =
                    beam_search(&model, &prompt, &options, &settings.beam(), &mut on_step).await?;
                if let Some(best) = best.first() {
                    summary = format!(
                        "best beam: score {:.3} (log-probability / length)",
                        best.score
                    );
                    let ids = best.ids.clone();
                    state.run.update(|run| {
                        if let Some(run) = run {
                            set_chips(run, &ids, tokenizer);
                        }
                    });
                }
            }
            Strategy::Contrastive => {
                contrastive(
                    &model,
                    second()?,
                    &prompt,
                    &options,
                    &settings.contrastive(),
                    &mut on_step,
                )
                .await?;
            }
            Strategy::Speculative => {
                let sampling = settings.sampling();
                sampling.validate()?;
                let mut rng = Rng::new(settings.seed);
                let mut uniform = || rng.next_f64();
                let probs =
                    |logits: &[f32], context: &[u32]| sampling.process(logits, context).probs;
                let verify = if sampling.is_greedy() {
                    Verify::Greedy
                } else {
                    Verify::Sample {
                        probs: &probs,
                        uniform: &mut uniform,
                    }
                };
                let (_, stats) = speculative(
                    &model,
                    second()?,
                    &prompt,
                    &options,
                    settings.gamma,
                    verify,
                    &mut on_step,
                )
                .await?;
                summary = format!(
                    "{} of {} drafted tokens accepted ({:.0}%), {} target passes",
                    stats.accepted,
                    stats.drafted,
                    100.0 * stats.acceptance_rate(),
                    stats.target_passes
                );
            }
        }
        Ok(())
    }
    .await;
    let seconds = (crate::loader::now_ms() - started) / 1000.0;
    let n = state
        .run
        .with_untracked(|r| r.as_ref().map_or(0, |r| r.chips.len()));
    if n > 0 {
        let speed = Speed::of_run(prompt.len(), n, &passes.borrow(), seconds);
        state.speed.set(Some(speed));
    }
    outcome?;
    let rate = format!(
        "{n} tokens in {seconds:.2} s ({:.1} tokens/s)",
        n as f64 / seconds.max(1e-6)
    );
    Ok(if summary.is_empty() {
        rate
    } else {
        format!("{rate}; {summary}")
    })
}

/// Adds one step to the run: its record, and the tokens it produced as chips.
fn record(
    run: &mut RunView,
    step: Step,
    logits: Option<Arc<[f32]>>,
    tokenizer: &engine::tokenizer::Tokenizer,
) {
    let index = run.steps.len();
    let before = run.chips.len();
    let chip = |id| Chip {
        id,
        text: token_text(tokenizer, id),
        step: index,
    };
    match &step {
        Step::Token { row: 0, chosen, .. } | Step::Contrastive { chosen, .. } => {
            run.chips.push(chip(*chosen));
        }
        Step::Token { .. } => {}
        Step::Speculative { drafted, added, .. } => {
            for d in drafted.iter().take_while(|d| d.accepted) {
                run.chips.push(chip(d.id));
            }
            run.chips.push(chip(*added));
        }
        Step::Beams { beams } => {
            run.steps.push(StepRecord {
                step: step.clone(),
                logits,
                before,
            });
            if let Some(best) = beams.first() {
                let ids = best.ids.clone();
                set_chips(run, &ids, tokenizer);
            }
            return;
        }
    }
    run.steps.push(StepRecord {
        step,
        logits,
        before,
    });
    run.text = tokenizer.decode(&run.ids()).unwrap_or_default();
}

/// Beam search: the output is the best beam, which can change at every step;
/// chip i points at step i.
fn set_chips(run: &mut RunView, ids: &[u32], tokenizer: &engine::tokenizer::Tokenizer) {
    let last = run.steps.len().saturating_sub(1);
    run.chips = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| Chip {
            id,
            text: token_text(tokenizer, id),
            step: i.min(last),
        })
        .collect();
    run.text = tokenizer.decode(ids).unwrap_or_default();
}

/// A token as a chip shows it.
pub fn token_text(tokenizer: &engine::tokenizer::Tokenizer, id: u32) -> String {
    tokenizer
        .token_text(id)
        .unwrap_or_else(|_| format!("#{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::decoding::steps::{BeamState, Draft};
    use engine::tokenizer::Tokenizer;
    // Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn tokenizer() -> Tokenizer {
        Tokenizer::from_bytes(include_bytes!("../../engine/assets/tokenizer.json")).unwrap()
    }

    #[test]
    fn a_speculative_round_emits_its_accepted_drafts_then_the_added_token() {
        let t = tokenizer();
        let mut run = RunView::new(Strategy::Speculative, vec![6214, 345]);
        let draft = |id, accepted| Draft {
            id,
            p: 0.5,
            q: 0.4,
            accepted,
        };
        let round = Step::Speculative {
            drafted: vec![draft(2582, true), draft(11, true), draft(13, false)],
            added: 198,
            resampled: true,
        };
        record(&mut run, round, None, &t);
        assert_eq!(run.ids(), [2582, 11, 198]);
        assert!(run.chips.iter().all(|c| c.step == 0));
        assert_eq!(run.text, " soon,\n");
    }

    #[test]
    fn beam_chips_follow_the_best_beam() {
        let t = tokenizer();
        let mut run = RunView::new(Strategy::Beam, vec![6214, 345]);
        let beams = |ids: Vec<u32>| Step::Beams {
            beams: vec![BeamState {
                ids,
                logprob: -1.0,
                finished: false,
            }],
        };
        record(&mut run, beams(vec![2582]), None, &t);
        record(&mut run, beams(vec![1568, 11]), None, &t);
        assert_eq!(run.ids(), [1568, 11]);
        assert_eq!(run.chips.iter().map(|c| c.step).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(run.steps.len(), 2);
        assert_eq!(run.text, " later,");
    }

    #[test]
    fn token_steps_keep_their_logits_and_position() {
        let t = tokenizer();
        let mut run = RunView::new(Strategy::Sample, vec![6214]);
        let token = |chosen| Step::Token {
            row: 0,
            chosen,
            candidates: Vec::new(),
        };
        record(&mut run, token(345), Some(vec![0.5; 4].into()), &t);
        record(&mut run, token(2582), Some(vec![1.5; 4].into()), &t);
        assert_eq!(run.steps[1].before, 1);
        assert_eq!(run.steps[1].logits.as_deref(), Some(&[1.5; 4][..]));
        assert_eq!(run.text, " you soon");
    }
}
