//! The logit lens of the selected step (nostalgebraist 2020): what the model
//! would have said next after each of its layers, read by the engine's
//! [`engine::decoding::logit_lens`] (`ln_f` and the tied head over every
//! layer's residual stream, on the model's device).
//!
//! Where the states come from: one extra forward pass over the step's
//! prefix, run when the lens is open and a step is selected, and counted in
//! the forwards counter. Keeping them during the run instead would ask every
//! pass of every run for `n_layer` more heads (`n_layer × vocab` logits read
//! back per token, 12 × 50257 for gpt2) to serve a view most runs never
//! open; one prefix pass on demand costs what the step's own pass cost.

use std::cell::Cell;
use std::rc::Rc;

use engine::decoding::{logit_lens, Step};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::runner::token_text;
use crate::state::{AppState, RunView, Status};
use crate::tracked::Tracked;

/// Top tokens shown for each layer.
pub const LENS_TOP: usize = 5;

/// The step whose lens is wanted: its index and the ids it was chosen after
/// (the prompt, then the tokens of the steps before it).
#[derive(Debug, Clone, PartialEq)]
pub struct LensTarget {
    pub step: usize,
    pub prefix: Vec<u32>,
}

impl LensTarget {
    /// Step `index` of `run`, if it chose one token from a distribution.
    pub fn of(run: &RunView, index: usize) -> Option<LensTarget> {
        let record = run.steps.get(index)?;
        if !matches!(record.step, Step::Token { .. }) {
            return None;
        }
        let mut prefix = run.prompt_ids.clone();
        prefix.extend(run.chips.iter().take(record.before).map(|c| c.id));
        Some(LensTarget {
            step: index,
            prefix,
        })
    }
}

/// One of a layer's top tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct LensToken {
    pub id: u32,
    pub text: String,
    pub prob: f32,
}

/// One layer's reading.
#[derive(Debug, Clone, PartialEq)]
pub struct LensRow {
    /// `hidden_states[layer]`: 0 the embeddings, `n_layer` the model's output.
    pub layer: usize,
    pub top: Vec<LensToken>,
}

/// What the lens shows: a step's layers, or why it has none.
#[derive(Debug, Clone, PartialEq)]
pub struct LensReading {
    pub target: LensTarget,
    pub rows: std::result::Result<Vec<LensRow>, String>,
}

/// Reads the lens of `target` with the main model (one forward pass), into
/// `out`; the page is busy meanwhile, as while scoring.
pub fn read_lens(state: AppState, target: LensTarget, out: RwSignal<Option<LensReading>>) {
    let Some(main) = state.main_model() else {
        return;
    };
    let previous = state.status.get_untracked();
    state.status.set(Status::Running);
    spawn_local(async move {
        let model = Tracked {
            model: &main.model,
            forwards: state.forwards,
            stop: Rc::new(Cell::new(false)),
            passes: None,
            yields: false,
        };
        let rows = logit_lens(&model, &target.prefix, LENS_TOP)
            .await
            .map(|layers| {
                layers
                    .into_iter()
                    .map(|l| LensRow {
                        layer: l.layer,
                        top: l
                            .top
                            .into_iter()
                            .map(|(id, _, prob)| LensToken {
                                id,
                                text: token_text(&main.tokenizer, id),
                                prob,
                            })
                            .collect(),
                    })
                    .collect()
            })
            .map_err(|e| e.to_string());
        out.set(Some(LensReading { target, rows }));
        state.status.set(match previous {
            Status::Running | Status::Loading | Status::Error => Status::Ready,
            s => s,
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Strategy;
    use crate::state::{Chip, StepRecord};
    // Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn record(step: Step, before: usize) -> StepRecord {
        StepRecord {
            step,
            before,
            point: None,
        }
    }

    fn token(chosen: u32) -> Step {
        Step::Token {
            row: 0,
            chosen,
            candidates: Vec::new(),
            logits: None,
            mirostat_mu: None,
            xtc_coin: None,
            unconditional: None,
        }
    }

    #[test]
    fn a_token_steps_lens_reads_the_prompt_and_the_tokens_before_it() {
        let mut run = RunView::new(Strategy::Greedy, vec![40, 423], None);
        for (i, id) in [257u32, 4320, 13].into_iter().enumerate() {
            run.steps.push(record(token(id), i));
            run.chips.push(Chip {
                id,
                text: String::new(),
                step: i,
            });
        }
        let prefix = |i| LensTarget::of(&run, i).map(|t| (t.step, t.prefix));
        assert_eq!(prefix(0), Some((0, vec![40, 423])));
        assert_eq!(prefix(2), Some((2, vec![40, 423, 257, 4320])));
        assert_eq!(prefix(3), None, "no such step");
    }

    #[test]
    fn a_beam_step_has_no_lens() {
        let mut run = RunView::new(Strategy::Beam, vec![40], None);
        run.steps.push(record(
            Step::Beams {
                beams: Vec::new(),
                pruned: Vec::new(),
            },
            0,
        ));
        assert_eq!(LensTarget::of(&run, 0), None);
    }
}
