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

use common::search::{check_cases, margin};
use engine::decoding::steps::Step;
use engine::decoding::{ContrastiveSearchParams, Strategy};

#[test]
fn contrastive_search_matches_transformers_on_every_backend() {
    let strategy = |settings: &serde_json::Value| {
        Strategy::ContrastiveSearch(ContrastiveSearchParams {
            penalty_alpha: settings["penalty_alpha"].as_f64().unwrap() as f32,
            top_k: settings["top_k"].as_u64().unwrap() as usize,
        })
    };
    let note = |steps: &[Step]| {
        let smallest = steps
            .iter()
            .map(|step| {
                let Step::ContrastiveSearch { candidates, .. } = step else {
                    panic!("a contrastive search step, not {step:?}");
                };
                margin(candidates.iter().map(|c| c.score))
            })
            .fold(f32::INFINITY, f32::min);
        format!("smallest score margin {smallest:.2e}")
    };
    let runs = check_cases("contrastive_search", strategy, note);
    assert_eq!(runs, 30, "10 cases on 3 backends");
}
