//! The fixture `tests/fixtures/search.json` (written by
//! `tests/golden/make_search_fixtures.py` with transformers 4.55.4) and the
//! backends its cases run on: candle's CPU tensor ops, the CPU kernels and
//! wgpu (Vulkan; Mesa's lavapipe without a GPU).

use engine::backend::candle::CandleModel;
use engine::backend::cpu::CpuModel;
use engine::backend::wgpu::WgpuModel;
use engine::backend::{block_on, Model, Precision};
use engine::decoding::GenerateOptions;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::common::{checkpoint, fixtures_dir, recipe};

pub const EOS: u32 = 50256;

/// The fixture file.
pub fn fixture() -> Value {
    let path = fixtures_dir().join("search.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
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
    }
}
