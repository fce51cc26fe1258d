//! Contrastive search (Su et al. 2022) against transformers 4.55.4's own
//! `_contrastive_search`, on the seeded random checkpoints `tiny`, `odd` and
//! `deep` (fixture `tests/fixtures/search.json`, written by
//! `tests/golden/make_search_fixtures.py`):
//!
//! ```python
//! model.generate(ids, do_sample=False, penalty_alpha=A, top_k=K, max_new_tokens=N,
//!                min_new_tokens=M, pad_token_id=50256, eos_token_id=50256)
//! ```
//!
//! The new ids must be identical on every backend (candle's CPU tensor ops,
//! the CPU kernels, wgpu). Each run prints its smallest margin between the
//! best and the second-best score of a step: how close a tie came.

mod common;
#[path = "search_fixture/mod.rs"]
mod search_fixture;

use common::ids;
use engine::backend::{block_on, Model};
use engine::decoding::steps::Step;
use engine::decoding::{run, ContrastiveSearchParams, Strategy};
use search_fixture::{backends, fixture, options};

#[test]
fn contrastive_search_matches_transformers_on_every_backend() {
    let fx = fixture();
    let mut failures = Vec::new();
    let mut runs = 0;
    for name in ["tiny", "odd", "deep"] {
        for (backend, model) in backends(&fx, name) {
            for case in fx["cases"].as_array().unwrap() {
                if case["checkpoint"] != name || case["method"] != "contrastive_search" {
                    continue;
                }
                let settings = &case["settings"];
                let strategy = Strategy::ContrastiveSearch(ContrastiveSearchParams {
                    penalty_alpha: settings["penalty_alpha"].as_f64().unwrap() as f32,
                    top_k: settings["top_k"].as_u64().unwrap() as usize,
                });
                let prompt = ids(&case["prompt_ids"]);
                let mut margin = f32::INFINITY;
                let mut on_step = |step: Step| {
                    let Step::ContrastiveSearch { candidates, .. } = step else {
                        panic!("a contrastive search step, not {step:?}");
                    };
                    let mut scores: Vec<f32> = candidates.iter().map(|c| c.score).collect();
                    scores.sort_by(|a, b| b.total_cmp(a));
                    if scores.len() > 1 {
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
                eprintln!("{what}: smallest score margin {margin:.2e}");
                if *got != want {
                    failures.push(format!("{what}:\n  got  {got:?}\n  want {want:?}"));
                }
                runs += 1;
            }
        }
    }
    assert_eq!(runs, 30, "10 cases on 3 backends");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
