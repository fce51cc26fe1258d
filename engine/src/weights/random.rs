//! Seeded random GPT-2 checkpoints in the Hub's file layout, for tests and
//! benchmarks where real weights are not at hand. The values come from a
//! splitmix64 stream per tensor, so a (config, seed) pair always gives the same
//! bytes on every machine. Weights do not change speed, so a random checkpoint
//! of a real shape is as good as the real one for benchmarks.

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use crate::config::Gpt2Config;
use crate::decoding::rng::SplitMix64;
use crate::weights::{expected_tensors, Dtype};

/// How tensor names are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `transformer.h.0.…`, as `save_pretrained` writes.
    Transformers,
    /// `h.0.…` without prefix, plus the causal-mask buffers `h.{i}.attn.bias`,
    /// as in the Hub's `openai-community/gpt2` file.
    Hub,
}

/// A recipe for a random checkpoint.
#[derive(Debug, Clone)]
pub struct RandomCheckpoint {
    pub config: Gpt2Config,
    pub seed: u64,
    pub dtype: Dtype,
    pub layout: Layout,
}

/// GPT-2's tokenizer, copied into every generated model folder.
#[cfg(not(target_arch = "wasm32"))]
const TOKENIZER_JSON: &[u8] = include_bytes!("../../assets/tokenizer.json");

impl RandomCheckpoint {
    /// An f32 checkpoint in the `transformers` layout.
    pub fn new(config: Gpt2Config, seed: u64) -> Self {
        RandomCheckpoint {
            config,
            seed,
            dtype: Dtype::F32,
            layout: Layout::Transformers,
        }
    }

    /// The f32 values of tensor `name` (canonical name, file layout `[in, out]`).
    pub fn values(&self, name: &str, numel: usize) -> Vec<f32> {
        let c = self.config.n_embd as f32;
        let inner = self.config.n_inner() as f32;
        // Scales chosen so attention and the output distribution are far from
        // uniform: tests then see peaked, varied distributions, as with real weights.
        let (mean, std) = if name.ends_with("ln_1.weight")
            || name.ends_with("ln_2.weight")
            || name.ends_with("ln_f.weight")
        {
            (1.0, 0.1)
        } else if name == "wte.weight" {
            (0.0, 2.0 / c.sqrt())
        } else if name.ends_with("mlp.c_proj.weight") {
            (0.0, 1.0 / inner.sqrt())
        } else if name.ends_with(".weight") {
            (0.0, 1.0 / c.sqrt())
        } else {
            (0.0, 0.02)
        };
        let mut rng = Normal::new(self.seed ^ fnv1a(name));
        (0..numel).map(|_| mean + std * rng.normal()).collect()
    }

    /// The whole `model.safetensors` file.
    pub fn safetensors_bytes(&self) -> Vec<u8> {
        let prefix = match self.layout {
            Layout::Transformers => "transformer.",
            Layout::Hub => "",
        };
        let mut tensors: Vec<(String, &'static str, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, shape) in expected_tensors(&self.config) {
            let values = self.values(&name, shape.iter().product());
            let (dtype, bytes) = encode(&values, self.dtype);
            tensors.push((format!("{prefix}{name}"), dtype, shape, bytes));
        }
        if self.layout == Layout::Hub {
            let n = self.config.n_positions;
            let mask: Vec<f32> = (0..n * n)
                .map(|k| if k % n <= k / n { 1.0 } else { 0.0 })
                .collect();
            for i in 0..self.config.n_layer {
                let (_, bytes) = encode(&mask, Dtype::F32);
                tensors.push((format!("h.{i}.attn.bias"), "F32", vec![1, 1, n, n], bytes));
            }
        }
        write_safetensors(&tensors)
    }

    /// Writes `config.json`, `model.safetensors` and `tokenizer.json` into `dir`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn write(&self, dir: &Path) -> crate::Result<()> {
        use crate::Error;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| Error::io(path, e))
        };
        write("config.json", self.config.to_json().as_bytes())?;
        write("model.safetensors", &self.safetensors_bytes())?;
        write("tokenizer.json", TOKENIZER_JSON)
    }
}

fn encode(values: &[f32], dtype: Dtype) -> (&'static str, Vec<u8>) {
    match dtype {
        Dtype::F16 => {
            let halves: Vec<half::f16> = values.iter().map(|&v| half::f16::from_f32(v)).collect();
            ("F16", bytemuck::cast_slice(&halves).to_vec())
        }
        Dtype::BF16 => {
            let halves: Vec<half::bf16> = values.iter().map(|&v| half::bf16::from_f32(v)).collect();
            ("BF16", bytemuck::cast_slice(&halves).to_vec())
        }
        _ => ("F32", bytemuck::cast_slice(values).to_vec()),
    }
}

/// Serialises tensors as safetensors, with the `{"format": "pt"}` metadata
/// `transformers` expects, the header padded to 8 bytes.
pub fn write_safetensors(tensors: &[(String, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut offset = 0;
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape,
                               "data_offsets": [offset, offset + bytes.len()]}),
        );
        offset += bytes.len();
    }
    let mut header = serde_json::to_vec(&header).expect("header serializes");
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for (_, _, _, bytes) in tensors {
        out.extend_from_slice(bytes);
    }
    out
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Normal draws from splitmix64 (tiny, fast and the same everywhere).
struct Normal(SplitMix64);

impl Normal {
    fn new(seed: u64) -> Self {
        Normal(SplitMix64::new(seed))
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller; the second value is dropped for simplicity).
    fn normal(&mut self) -> f32 {
        let (u1, u2) = (self.uniform(), self.uniform());
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}
