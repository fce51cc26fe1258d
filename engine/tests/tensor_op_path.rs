//! The tensor-op forward pass (what CUDA runs: cuBLAS-style
//! matmuls over the head-major KV cache read as strided views) checked on the
//! CPU in f32 against `transformers`' golden fixtures and the CPU kernels, so
//! that every build tests the GPU path's logic; only candle's own kernels
//! differ on a GPU.

mod common;

use common::{fixture, ids, recipe};
use engine::backend::candle::CandleModel;
use engine::backend::cpu::CpuModel;
use engine::backend::{block_on, KvCache, LanguageModel, Precision};
use engine::decoding::{greedy, log_softmax, GenerateOptions};

const TOLERANCE: f32 = 1e-4;

fn load(name: &str) -> CandleModel {
    let recipe = recipe(&fixture(name));
    let ckpt = common::checkpoint(recipe.safetensors_bytes(), &recipe.config);
    CandleModel::load(
        &ckpt,
        &recipe.config,
        &candle_core::Device::Cpu,
        Precision::F32,
    )
    .unwrap()
}

fn load_cpu(name: &str) -> CpuModel {
    let recipe = recipe(&fixture(name));
    let ckpt = common::checkpoint(recipe.safetensors_bytes(), &recipe.config);
    CpuModel::load(&ckpt, &recipe.config, Precision::F32).unwrap()
}

#[test]
fn next_token_logprobs_and_greedy_match_transformers() {
    for name in ["tiny", "odd"] {
        let fx = fixture(name);
        let model = load(name);
        let mut worst = 0f32;
        for case in fx["next"].as_array().unwrap() {
            let prompt = ids(&case["prompt_ids"]);
            let mut cache = model.new_cache(1).unwrap();
            let lp = log_softmax(
                block_on(model.forward(&mut cache, &[&prompt], 1))
                    .unwrap()
                    .last(0),
            );
            for pair in case["top"].as_array().unwrap() {
                let id = pair[0].as_u64().unwrap() as usize;
                let want = pair[1].as_f64().unwrap() as f32;
                worst = worst.max((lp[id] - want).abs());
            }
        }
        assert!(worst < TOLERANCE, "{name}: max |Δ logprob| = {worst:e}");
        for case in fx["greedy"].as_array().unwrap() {
            let prompt = ids(&case["prompt_ids"]);
            let want = ids(&case["new_ids"]);
            let options = GenerateOptions {
                max_new_tokens: case["max_new_tokens"].as_u64().unwrap() as usize,
                min_new_tokens: case["min_new_tokens"].as_u64().unwrap() as usize,
                eos_token_id: Some(50256),
                forced: Vec::new(),
                whole_rows: false,
            };
            let got = block_on(greedy(&model, &prompt, &options, &mut |_| {}))
                .unwrap()
                .ids;
            assert_eq!(got, want, "{name} greedy after {prompt:?}");
        }
    }
}

#[test]
fn cached_steps_rows_and_reorders_match_the_cpu_kernels() {
    let (ops, kernels) = (load("odd"), load_cpu("odd"));
    let prompts: [&[u32]; 2] = [&[464, 3290, 318, 257, 1332], &[40, 423, 257, 4320, 326]];
    let mut caches = (ops.new_cache(2).unwrap(), kernels.new_cache(2).unwrap());
    let mut worst = 0f32;
    let mut compare = |a: &engine::backend::Logits, b: &engine::backend::Logits| {
        for (x, y) in a.data.iter().zip(&b.data) {
            worst = worst.max((x - y).abs());
        }
    };
    // Prefill of two rows, every position's logits.
    let a = block_on(ops.forward(&mut caches.0, &prompts, 5)).unwrap();
    let b = block_on(kernels.forward(&mut caches.1, &prompts, 5)).unwrap();
    compare(&a, &b);
    // Rows swapped and duplicated (beam search), then three cached steps.
    caches.0.reorder(&[1, 0, 0]).unwrap();
    caches.1.reorder(&[1, 0, 0]).unwrap();
    for step in 0..3u32 {
        let t = [[100 + step], [200 + step], [300 + step]];
        let rows: Vec<&[u32]> = t.iter().map(|r| r.as_slice()).collect();
        let a = block_on(ops.forward(&mut caches.0, &rows, 1)).unwrap();
        let b = block_on(kernels.forward(&mut caches.1, &rows, 1)).unwrap();
        compare(&a, &b);
    }
    // Roll back two positions and go on with two at once (speculative decoding).
    caches.0.truncate(6);
    caches.1.truncate(6);
    let rows: [&[u32]; 3] = [&[7, 8], &[9, 10], &[11, 12]];
    let a = block_on(ops.forward(&mut caches.0, &rows, 2)).unwrap();
    let b = block_on(kernels.forward(&mut caches.1, &rows, 2)).unwrap();
    compare(&a, &b);
    assert!(
        worst < 1e-4,
        "max |Δ logit| tensor ops vs CPU kernels = {worst:e}"
    );
}
