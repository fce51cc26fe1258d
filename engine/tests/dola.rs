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
#[path = "search_fixture/mod.rs"]
mod search_fixture;

use common::ids;
use engine::backend::{block_on, Model};
use engine::decoding::steps::Step;
use engine::decoding::{run, DolaLayers, DolaParams, Strategy};
use search_fixture::{backends, fixture, options};
use serde_json::Value;

fn layers(v: &Value) -> DolaLayers {
    match v {
        Value::String(s) => s.parse().unwrap(),
        list => DolaLayers::List(ids(list).into_iter().map(|i| i as usize).collect()),
    }
}

#[test]
fn dola_matches_transformers_on_every_backend() {
    let fx = fixture();
    let mut failures = Vec::new();
    let mut runs = 0;
    for name in ["tiny", "odd", "deep"] {
        for (backend, model) in backends(&fx, name) {
            for case in fx["cases"].as_array().unwrap() {
                if case["checkpoint"] != name || case["method"] != "dola" {
                    continue;
                }
                let settings = &case["settings"];
                let strategy = Strategy::Dola(DolaParams {
                    layers: layers(&settings["dola_layers"]),
                    repetition_penalty: settings["repetition_penalty"].as_f64().map(|r| r as f32),
                });
                let prompt = ids(&case["prompt_ids"]);
                let mut margin = f32::INFINITY;
                let mut chosen_layers = Vec::new();
                let mut on_step = |step: Step| {
                    let Step::Dola {
                        candidates,
                        premature_layer,
                        ..
                    } = step
                    else {
                        panic!("a DoLa step, not {step:?}");
                    };
                    chosen_layers.push(premature_layer);
                    let mut scores: Vec<f32> = candidates.iter().map(|c| c.score).collect();
                    scores.sort_by(|a, b| b.total_cmp(a));
                    if scores.len() > 1 && scores[1].is_finite() {
                        margin = margin.min(scores[0] - scores[1]);
                    }
                };
                let outcome = block_on(run(
                    &strategy,
                    &model,
                    None::<&Model>,
                    &prompt,
                    &options(settings),
                    &mut on_step,
                ))
                .unwrap();
                let got = &outcome.sequences[0].ids;
                let want = ids(&case["new_ids"]);
                let what = format!("{backend} {name} {:?} {settings}", case["prompt"]);
                eprintln!(
                    "{what}: smallest contrast margin {margin:.2e}, layers {chosen_layers:?}"
                );
                if *got != want {
                    failures.push(format!("{what}:\n  got  {got:?}\n  want {want:?}"));
                }
                runs += 1;
            }
        }
    }
    assert_eq!(runs, 33, "11 cases on 3 backends");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
