//! f16 and bf16 against the f32 reference, on the test device
//! (`GPT2_TEST_DEVICE`: the CPU by default, `cuda` on an NVIDIA GPU, `wgpu`
//! for f16 weights with f32 arithmetic; WebGPU has no bf16).
//!
//! The stated tolerances, on next-token log-probabilities over the whole
//! vocabulary of the golden checkpoints: f16 within 0.04, bf16 within 0.25
//! (bf16 keeps 8 bits of mantissa to f16's 11). Greedy decoding in f16 or bf16
//! follows f32 until f32's top two tokens are closer than twice that
//! tolerance, where rounding may pick either.

mod common;

use common::{fixture, ids, recipe};
use engine::backend::{block_on, LanguageModel, Logits, Model, Precision};
use engine::decoding::{greedy, log_softmax, GenerateOptions};

const CHECKPOINTS: [&str; 2] = ["tiny", "odd"];

fn tolerance(p: Precision) -> f32 {
    match p {
        Precision::F32 => 0.0,
        Precision::F16 => 0.04,
        Precision::Bf16 => 0.25,
    }
}

/// The half precisions the test device runs.
fn half_precisions() -> Vec<Precision> {
    match common::test_device() {
        #[cfg(feature = "wgpu")]
        engine::backend::Device::Wgpu(_) => vec![Precision::F16],
        _ => vec![Precision::F16, Precision::Bf16],
    }
}

fn load(name: &str, precision: Precision) -> Model {
    let recipe = recipe(&fixture(name));
    let ckpt = common::checkpoint(recipe.safetensors_bytes(), &recipe.config);
    block_on(Model::load_as(
        &ckpt,
        &recipe.config,
        &common::test_device(),
        precision,
    ))
    .unwrap()
}

fn max_logprob_diff(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = (log_softmax(a), log_softmax(b));
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The logits of every prompt position in one pass, then of the same prompt
/// fed one token at a time through the cache (the decode path).
fn both_paths(model: &Model, prompt: &[u32]) -> (Logits, Vec<Vec<f32>>) {
    let mut cache = model.new_cache(1).unwrap();
    let all = block_on(model.forward(&mut cache, &[prompt], prompt.len())).unwrap();
    let mut cache = model.new_cache(1).unwrap();
    let steps = prompt
        .iter()
        .map(|&t| {
            block_on(model.forward(&mut cache, &[&[t]], 1))
                .unwrap()
                .last(0)
                .to_vec()
        })
        .collect();
    (all, steps)
}

#[test]
fn half_precisions_stay_within_tolerance_of_f32() {
    for name in CHECKPOINTS {
        let fx = fixture(name);
        let reference = load(name, Precision::F32);
        for precision in half_precisions() {
            let model = load(name, precision);
            let mut worst = 0f32;
            for case in fx["next"].as_array().unwrap() {
                let prompt = ids(&case["prompt_ids"]);
                let (want_all, want_steps) = both_paths(&reference, &prompt);
                let (got_all, got_steps) = both_paths(&model, &prompt);
                for pos in 0..prompt.len() {
                    let prefill = max_logprob_diff(want_all.get(0, pos), got_all.get(0, pos));
                    let decode = max_logprob_diff(&want_steps[pos], &got_steps[pos]);
                    worst = worst.max(prefill).max(decode);
                }
            }
            eprintln!(
                "{name} {precision}: max |Δ logprob| vs f32 = {worst:.4} (tolerance {})",
                tolerance(precision)
            );
            assert!(
                worst < tolerance(precision),
                "{name} {precision}: max |Δ logprob| vs f32 = {worst} ≥ {}",
                tolerance(precision)
            );
        }
    }
}

#[test]
fn rows_of_a_batch_stay_within_tolerance_of_f32() {
    // Two prompts side by side (the beam-search path): each row as alone, in f32.
    let fx = fixture("tiny");
    let cases = fx["next"].as_array().unwrap();
    let (a, b) = (ids(&cases[2]["prompt_ids"]), ids(&cases[1]["prompt_ids"]));
    assert_eq!(a.len(), b.len(), "fixture prompts of equal length");
    let reference = load("tiny", Precision::F32);
    for precision in half_precisions() {
        let model = load("tiny", precision);
        let mut cache = model.new_cache(2).unwrap();
        let got = block_on(model.forward(&mut cache, &[&a, &b], 1)).unwrap();
        let next = [got.last(0), got.last(1)].map(|l| engine::decoding::argmax(l) as u32);
        let got2 = block_on(model.forward(&mut cache, &[&[next[0]], &[next[1]]], 1)).unwrap();
        for (row, prompt) in [&a, &b].into_iter().enumerate() {
            let mut c = reference.new_cache(1).unwrap();
            let want = block_on(reference.forward(&mut c, &[prompt], 1)).unwrap();
            let want2 = block_on(reference.forward(&mut c, &[&[next[row]]], 1)).unwrap();
            let d = max_logprob_diff(want.last(0), got.last(row))
                .max(max_logprob_diff(want2.last(0), got2.last(row)));
            assert!(
                d < tolerance(precision),
                "{precision} row {row}: max |Δ logprob| vs f32 = {d}"
            );
        }
    }
}

#[test]
fn greedy_follows_f32_until_a_near_tie() {
    let fx = fixture("tiny");
    let reference = load("tiny", Precision::F32);
    let options = GenerateOptions {
        max_new_tokens: 24,
        min_new_tokens: 0,
        eos_token_id: None,
        forced: Vec::new(),
        whole_rows: false,
    };
    for precision in half_precisions() {
        let model = load("tiny", precision);
        for case in fx["greedy"].as_array().unwrap() {
            let prompt = ids(&case["prompt_ids"]);
            let want = block_on(greedy(&reference, &prompt, &options, &mut |_| {}))
                .unwrap()
                .ids;
            let got = block_on(greedy(&model, &prompt, &options, &mut |_| {}))
                .unwrap()
                .ids;
            let Some(i) = want.iter().zip(&got).position(|(w, g)| w != g) else {
                continue;
            };
            // Where they part, f32's two best tokens must be within rounding.
            let mut context = prompt.clone();
            context.extend(&want[..i]);
            let mut cache = reference.new_cache(1).unwrap();
            let logits = block_on(reference.forward(&mut cache, &[&context], 1)).unwrap();
            let mut lp = log_softmax(logits.last(0));
            lp.sort_by(|x, y| y.total_cmp(x));
            let margin = lp[0] - lp[1];
            assert!(
                margin < 2.0 * tolerance(precision),
                "{precision} {prompt:?}: greedy parts from f32 at token {i} where f32's \
                 top-2 margin is {margin}, beyond rounding: f32 {want:?}, {precision} {got:?}"
            );
        }
    }
}

#[test]
fn dtype_names_round_trip_and_bad_ones_are_explained() {
    for p in Precision::ALL {
        assert_eq!(Precision::parse(p.name()).unwrap(), p);
    }
    let e = Precision::parse("fp8").unwrap_err().to_string();
    assert!(e.contains("f32, f16 or bf16"), "{e}");
}
