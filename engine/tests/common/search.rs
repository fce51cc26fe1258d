//! The fixture `tests/fixtures/search.json` (written by
//! `tests/golden/make_search_fixtures.py` with transformers 4.55.4), the
//! backends its cases run on: candle's CPU tensor ops, the CPU kernels and
//! wgpu (Vulkan; Mesa's lavapipe without a GPU), and the run of every case of
//! one method on each of them.

use engine::backend::candle::CandleModel;
use engine::backend::cpu::CpuModel;
use engine::backend::wgpu::WgpuModel;
use engine::backend::{block_on, Model, Precision};
use engine::decoding::steps::Step;
use engine::decoding::{run, GenerateOptions, Strategy};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{checkpoint, ids, json_fixture, recipe};

pub const EOS: u32 = 50256;

/// The fixture file.
pub fn fixture() -> Value {
    json_fixture("search.json")
}

/// The checkpoint `name` of the fixture (checked against its sha256) on
/// every backend, named.
pub fn backends(fx: &Value, name: &str) -> Vec<(&'static str, Model)> {
    let entry = &fx["checkpoints"][name];
    let r = recipe(entry);
    let bytes = r.safetensors_bytes();
    let sha = format!("{:x}", Sha256::digest(&bytes));
    assert_eq!(
        sha,
        entry["sha256"].as_str().unwrap(),
        "{name}: regenerated checkpoint differs"
    );
    let ckpt = checkpoint(bytes, &r.config);
    let cpu = candle_core::Device::Cpu;
    vec![
        (
            "candle-cpu",
            Model::Candle(CandleModel::load(&ckpt, &r.config, &cpu, Precision::F32).unwrap()),
        ),
        (
            "cpu",
            Model::Cpu(CpuModel::load(&ckpt, &r.config, Precision::F32).unwrap()),
        ),
        (
            "wgpu",
            Model::Wgpu(block_on(WgpuModel::load(&ckpt, &r.config, &Default::default())).unwrap()),
        ),
    ]
}

/// A case's options: its max and min new tokens, end-of-text 50256.
pub fn options(settings: &Value) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens: settings["max_new_tokens"].as_u64().unwrap() as usize,
        min_new_tokens: settings["min_new_tokens"].as_u64().unwrap() as usize,
        eos_token_id: Some(EOS),
        forced: Vec::new(),
        whole_rows: false,
    }
}

/// Runs every case of `method` on `tiny`, `odd` and `deep`, on every backend,
/// with the case's `strategy`; prints each run with `note` on its steps and
/// panics listing every run whose new ids differ from transformers'. Returns
/// the number of runs.
pub fn check_cases(
    method: &str,
    strategy: impl Fn(&Value) -> Strategy,
    note: impl Fn(&[Step]) -> String,
) -> usize {
    let fx = fixture();
    let mut failures = Vec::new();
    let mut runs = 0;
    for name in ["tiny", "odd", "deep"] {
        for (backend, model) in backends(&fx, name) {
            for case in fx["cases"].as_array().unwrap() {
                if case["checkpoint"] != name || case["method"] != method {
                    continue;
                }
                let settings = &case["settings"];
                let prompt = ids(&case["prompt_ids"]);
                let mut steps = Vec::new();
                let outcome = block_on(run(
                    &strategy(settings),
                    &model,
                    None::<&Model>,
                    &prompt,
                    &options(settings),
                    &mut |step| steps.push(step),
                ))
                .unwrap();
                let got = &outcome.sequences[0].ids;
                let want = ids(&case["new_ids"]);
                let what = format!("{backend} {name} {:?} {settings}", case["prompt"]);
                eprintln!("{what}: {}", note(&steps));
                if *got != want {
                    failures.push(format!("{what}:\n  got  {got:?}\n  want {want:?}"));
                }
                runs += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    runs
}

/// The best score minus the second best (infinite without two finite ones):
/// how close a step came to a tie.
pub fn margin(scores: impl Iterator<Item = f32>) -> f32 {
    let mut scores: Vec<f32> = scores.collect();
    scores.sort_by(|a, b| b.total_cmp(a));
    match scores.get(1) {
        Some(second) if second.is_finite() => scores[0] - second,
        _ => f32::INFINITY,
    }
}
