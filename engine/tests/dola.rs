//! DoLa (Chuang et al. 2023) against transformers 4.55.4's own
//! `_dola_decoding`, on the seeded random checkpoints `tiny`, `odd` and
//! `deep` (fixture `tests/fixtures/search.json`, written by
//! `tests/golden/make_search_fixtures.py`):
//!
//! ```python
//! model.generate(ids, do_sample=False, dola_layers="low" | "high" | [i, j, ...],
//!                repetition_penalty=R, max_new_tokens=N, min_new_tokens=M,
//!                pad_token_id=50256, eos_token_id=50256)
//! ```
//!
//! The new ids must be identical on every backend (candle's CPU tensor ops,
//! the CPU kernels, wgpu). Each run prints its smallest margin between the
//! best and the second-best contrast of a step, and the premature layers chosen.

mod common;

use common::ids;
use common::search::{check_cases, margin};
use engine::decoding::steps::Step;
use engine::decoding::{DolaLayers, DolaParams, Strategy};
use serde_json::Value;

fn layers(v: &Value) -> DolaLayers {
    match v {
        Value::String(s) => s.parse().unwrap(),
        list => DolaLayers::List(ids(list).into_iter().map(|i| i as usize).collect()),
    }
}

#[test]
fn dola_matches_transformers_on_every_backend() {
    let strategy = |settings: &Value| {
        Strategy::Dola(DolaParams {
            layers: layers(&settings["dola_layers"]),
            repetition_penalty: settings["repetition_penalty"].as_f64().map(|r| r as f32),
        })
    };
    let note = |steps: &[Step]| {
        let (mut smallest, mut chosen_layers) = (f32::INFINITY, Vec::new());
        for step in steps {
            let Step::Dola {
                candidates,
                premature_layer,
                ..
            } = step
            else {
                panic!("a DoLa step, not {step:?}");
            };
            chosen_layers.push(*premature_layer);
            smallest = smallest.min(margin(candidates.iter().map(|c| c.score)));
        }
        format!("smallest contrast margin {smallest:.2e}, layers {chosen_layers:?}")
    };
    let runs = check_cases("dola", strategy, note);
    assert_eq!(runs, 33, "11 cases on 3 backends");
}
