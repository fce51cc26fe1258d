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
