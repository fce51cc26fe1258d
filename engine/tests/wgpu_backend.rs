//! What is particular to the wgpu backend, natively (Vulkan; Mesa's lavapipe
//! without a GPU): weights split across bindings where a binding is small,
//! logits read in several blocks, GPU failures as clear errors, misuse as typed ones.

mod common;

use common::{checkpoint, fixture, ids, recipe};
use engine::backend::cpu::CpuModel;
use engine::backend::wgpu::{GpuOptions, WgpuModel};
use engine::backend::Precision;
use engine::backend::{block_on, LanguageModel};
use engine::decoding::{log_softmax, score};
use engine::{Error, Misuse};

fn load(name: &str, options: GpuOptions) -> engine::Result<WgpuModel> {
    let r = recipe(&fixture(name));
    let ckpt = checkpoint(r.safetensors_bytes(), &r.config);
    block_on(WgpuModel::load(&ckpt, &r.config, &options))
}

fn small_bindings() -> GpuOptions {
    // wte (50257 x 64 f32, 12.9 MB) in four slices; 20 logits rows per block.
    GpuOptions {
        max_binding_bytes: Some(4 << 20),
        ..Default::default()
    }
}

#[test]
fn split_weights_and_logits_blocks_match_transformers() {
    let fx = fixture("tiny");
    let model = load("tiny", small_bindings()).unwrap();
    let mut worst = 0f32;
    for case in fx["next"].as_array().unwrap() {
        let prompt = ids(&case["prompt_ids"]);
        let mut cache = model.new_cache(1).unwrap();
        let logits = block_on(model.forward(&mut cache, &[&prompt], 1)).unwrap();
        let lp = log_softmax(logits.last(0));
        for pair in case["top"].as_array().unwrap() {
            let (id, want) = (
                pair[0].as_u64().unwrap() as usize,
                pair[1].as_f64().unwrap() as f32,
            );
            worst = worst.max((lp[id] - want).abs());
        }
    }
    // Scoring reads every position's logits: more rows than one block holds.
    for case in fx["score"].as_array().unwrap() {
        let text = ids(&case["ids"]);
        let got = block_on(score(&model, &text)).unwrap();
        for (g, w) in got.iter().zip(case["token_logprobs"].as_array().unwrap()) {
            worst = worst.max((g - w.as_f64().unwrap() as f32).abs());
        }
    }
    // Every position of a 70-token prompt: four blocks of logits rows, against the CPU backend.
    let r = recipe(&fx);
    let ckpt = checkpoint(r.safetensors_bytes(), &r.config);
    let cpu = CpuModel::load(&ckpt, &r.config, Precision::F32).unwrap();
    let prompt: Vec<u32> = (0..70).map(|i| (i * 7919) % 50257).collect();
    let (mut c1, mut c2) = (cpu.new_cache(1).unwrap(), model.new_cache(1).unwrap());
    let want = block_on(cpu.forward(&mut c1, &[&prompt], 70)).unwrap();
    let got = block_on(model.forward(&mut c2, &[&prompt], 70)).unwrap();
    let logit_diff = got
        .data
        .iter()
        .zip(&want.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("70 positions of logits in blocks: max |Δ logit| vs the CPU = {logit_diff:.2e}");
    assert!(logit_diff <= 1e-4, "max |Δ logit| = {logit_diff:e}");
    eprintln!("split wte, blocked logits: max |Δ logprob| vs transformers = {worst:.2e}");
    assert!(worst <= 1e-4, "max |Δ logprob| = {worst:e}");
}

#[test]
fn a_binding_too_small_for_one_row_is_a_clear_error() {
    let options = GpuOptions {
        max_binding_bytes: Some(128),
        ..Default::default()
    };
    let err = load("tiny", options).err().expect("must fail");
    assert!(matches!(err, Error::Backend(_)), "{err:?}");
    assert!(
        err.to_string().contains("does not fit a GPU binding"),
        "{err}"
    );
}

#[test]
fn a_cache_too_large_for_a_binding_is_a_clear_error() {
    // 300 KB bindings: wte slices fit, but 64 rows of a 128-position cache do not.
    let options = GpuOptions {
        max_binding_bytes: Some(300 << 10),
        ..Default::default()
    };
    let model = load("tiny", options).unwrap();
    let mut cache = model.new_cache(64).unwrap();
    let prompt: Vec<u32> = (0..100).collect();
    let rows: Vec<&[u32]> = (0..64).map(|_| &prompt[..]).collect();
    let err = block_on(model.forward(&mut cache, &rows, 1)).unwrap_err();
    assert!(err.is_bad_input(), "{err:?}");
    assert!(err.to_string().contains("use fewer rows"), "{err}");
}

#[test]
fn a_lost_device_is_an_error_not_a_panic_or_a_hang() {
    let model = load("tiny", GpuOptions::default()).unwrap();
    let mut cache = model.new_cache(1).unwrap();
    block_on(model.forward(&mut cache, &[&[1, 2, 3]], 1)).unwrap();
    model.release();
    let err = block_on(model.forward(&mut cache, &[&[4]], 1)).unwrap_err();
    assert!(matches!(err, Error::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("lost"), "{err}");
}

#[test]
fn a_cache_of_another_model_is_a_typed_misuse() {
    let (a, b) = (
        load("tiny", GpuOptions::default()).unwrap(),
        load("tiny", GpuOptions::default()).unwrap(),
    );
    let mut cache = a.new_cache(1).unwrap();
    let err = block_on(b.forward(&mut cache, &[&[1, 2]], 1)).unwrap_err();
    assert!(
        matches!(err, Error::Misuse(Misuse::ForeignCache)),
        "{err:?}"
    );
    assert!(err.to_string().contains("new_cache"), "{err}");
    block_on(a.forward(&mut cache, &[&[1, 2]], 1)).unwrap();
}
