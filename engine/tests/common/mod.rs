//! Shared helpers for the integration tests: golden fixtures and the seeded
//! random checkpoints they were made from.
#![allow(dead_code)]

pub mod beam;
pub mod beam_tree;
pub mod fixed;
pub mod processors;
#[cfg(feature = "wgpu")]
pub mod search;

use std::path::{Path, PathBuf};

use engine::backend::{block_on, Device, Model};
use engine::config::Gpt2Config;
use engine::weights::random::{Layout, RandomCheckpoint};
use engine::weights::{Dtype, Gpt2Checkpoint, SafetensorsFile};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The repository's `tests/fixtures` folder, or `GPT2_FIXTURES` (for test
/// binaries run away from the checkout they were built in, e.g. on a GPU machine).
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("GPT2_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures"),
    }
}

/// The JSON fixture `tests/fixtures/{file}`.
pub fn json_fixture(file: &str) -> Value {
    let path = fixtures_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// A golden fixture written by `tests/golden/make_fixtures.py`.
pub fn fixture(name: &str) -> Value {
    json_fixture(&format!("golden_{name}.json"))
}

/// The recipe recorded in a fixture.
pub fn recipe(fixture: &Value) -> RandomCheckpoint {
    let r = &fixture["checkpoint"];
    let n = |k: &str| r[k].as_u64().unwrap() as usize;
    let config = Gpt2Config::new(n("layers"), n("heads"), n("embd"), n("positions"));
    RandomCheckpoint {
        config,
        seed: n("seed") as u64,
        dtype: match r["dtype"].as_str().unwrap() {
            "f16" => Dtype::F16,
            "bf16" => Dtype::BF16,
            _ => Dtype::F32,
        },
        layout: match r["layout"].as_str().unwrap() {
            "hub" => Layout::Hub,
            _ => Layout::Transformers,
        },
    }
}

/// The device the model tests run on: `GPT2_TEST_DEVICE=cpu` (the default),
/// `wgpu` (natively: Vulkan, e.g. Mesa's lavapipe without a GPU) or `cuda`
/// (a build with `--features cuda`, on an NVIDIA GPU).
pub fn test_device() -> Device {
    match std::env::var("GPT2_TEST_DEVICE").as_deref() {
        Err(_) | Ok("") | Ok("cpu") => Device::Cpu,
        Ok("wgpu") => Device::Wgpu(Default::default()),
        Ok("cuda") => Device::Cuda(0),
        Ok(other) => panic!("GPT2_TEST_DEVICE={other}: expected cpu, wgpu or cuda"),
    }
}

/// A checked checkpoint from safetensors bytes of a model of shape `config`.
pub fn checkpoint(bytes: Vec<u8>, config: &Gpt2Config) -> Gpt2Checkpoint {
    let file = SafetensorsFile::from_bytes(bytes, "model.safetensors").unwrap();
    Gpt2Checkpoint::new(file, config).unwrap()
}

/// Loads safetensors bytes of a model of shape `config` on the test device.
pub fn load_bytes(bytes: Vec<u8>, config: &Gpt2Config) -> Model {
    let ckpt = checkpoint(bytes, config);
    block_on(Model::load(&ckpt, config, &test_device())).unwrap()
}

/// Regenerates the fixture's checkpoint, checks it is byte-identical to the one
/// `transformers` saw, and loads it on the test device.
pub fn model_for(fixture: &Value) -> Model {
    let recipe = recipe(fixture);
    let bytes = recipe.safetensors_bytes();
    let sha = format!("{:x}", Sha256::digest(&bytes));
    assert_eq!(
        sha,
        fixture["sha256"].as_str().unwrap(),
        "regenerated checkpoint differs from the fixture's"
    );
    load_bytes(bytes, &recipe.config)
}

/// Writes a fixture's checkpoint as a model folder (for command-line tests).
pub fn model_dir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    recipe(&fixture(name)).write(dir.path()).unwrap();
    dir
}

/// A JSON array of numbers as `u32`s.
pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}
