//! The wgpu backend in a real browser's WebGPU (headless Chromium; on
//! machines without a GPU its SwiftShader adapter), against the
//! `transformers` fixture of the tiny checkpoint: next-token log-probs to
//! 1e-4 and greedy ids exactly. Built for wasm32-unknown-unknown and run by
//! `scripts/browser-test` (wasm-bindgen-test-runner driving chromedriver).
#![cfg(all(target_arch = "wasm32", feature = "wgpu"))]

use engine::backend::{Device, LanguageModel, Model};
use engine::config::Gpt2Config;
use engine::decoding::{greedy, log_softmax, GenerateOptions};
use engine::weights::random::RandomCheckpoint;
use engine::weights::{Gpt2Checkpoint, SafetensorsFile};
use serde_json::Value;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

async fn tiny_model(fx: &Value) -> Model {
    let r = &fx["checkpoint"];
    let n = |k: &str| r[k].as_u64().unwrap() as usize;
    assert_eq!(r["dtype"], "f32");
    let config = Gpt2Config::new(n("layers"), n("heads"), n("embd"), n("positions"));
    let bytes = RandomCheckpoint::new(config.clone(), n("seed") as u64).safetensors_bytes();
    let file = SafetensorsFile::from_bytes(bytes, "model.safetensors").unwrap();
    let ckpt = Gpt2Checkpoint::new(file, &config).unwrap();
    // A small binding limit splits wte into slices, as gpt2-xl's would be.
    let options = engine::backend::wgpu::GpuOptions {
        max_binding_bytes: Some(4 << 20),
        ..Default::default()
    };
    Model::load(&ckpt, &config, &Device::Wgpu(options))
        .await
        .unwrap_or_else(|e| panic!("loading on the browser's WebGPU: {e}"))
}

#[wasm_bindgen_test]
async fn forward_matches_transformers_in_the_browser() {
    let fx: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/golden_tiny.json")).unwrap();
    let model = tiny_model(&fx).await;
    web_sys_log(&format!("device: {}", model.device_name()));
    let mut worst = 0f32;
    for case in fx["next"].as_array().unwrap() {
        let prompt = ids(&case["prompt_ids"]);
        let mut cache = model.new_cache(1).unwrap();
        let logits = model.forward(&mut cache, &[&prompt], 1).await.unwrap();
        let lp = log_softmax(logits.last(0));
        for pair in case["top"]
            .as_array()
            .unwrap()
            .iter()
            .chain(case["probes"].as_array().unwrap())
        {
            let (id, want) = (
                pair[0].as_u64().unwrap() as usize,
                pair[1].as_f64().unwrap() as f32,
            );
            worst = worst.max((lp[id] - want).abs());
        }
    }
    web_sys_log(&format!("max |Δ logprob| vs transformers: {worst:.2e}"));
    assert!(
        worst <= 1e-4,
        "max |Δ logprob| vs transformers = {worst:e} > 1e-4"
    );

    for case in fx["greedy"].as_array().unwrap().iter().take(2) {
        let prompt = ids(&case["prompt_ids"]);
        let options = GenerateOptions {
            max_new_tokens: case["max_new_tokens"].as_u64().unwrap() as usize,
            min_new_tokens: case["min_new_tokens"].as_u64().unwrap() as usize,
            eos_token_id: Some(50256),
            forced: Vec::new(),
            whole_rows: false,
        };
        let out = greedy(&model, &prompt, &options, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(out.ids, ids(&case["new_ids"]), "greedy from {prompt:?}");
    }
}

fn web_sys_log(message: &str) {
    wasm_bindgen_test::console_log!("{message}");
}
