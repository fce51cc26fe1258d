//! GPT-2 checkpoints in the safetensors format, read by Hugging Face tensor names.
//!
//! Two layouts are found in the wild: what `save_pretrained` writes today
//! (`transformer.h.0.attn.c_attn.weight`, ...) and the Hub's original
//! `openai-community/gpt2` file (no `transformer.` prefix, plus the causal-mask
//! buffers `h.{i}.attn.bias`). Both are read. GPT-2 uses Conv1D, so linear
//! weights are stored `[in, out]`; `lm_head` is tied to `wte`.

pub mod random;
mod safetensors_errors;
mod safetensors_file;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod safetensors_tests;

pub use safetensors_file::{Dtype, SafetensorsFile, TensorView};

use crate::config::Gpt2Config;
use crate::{Error, Result};

/// The tensors a GPT-2 checkpoint must hold, with their shapes, by canonical
/// (prefix-less) name: `wte`, `wpe`, `h.{i}.*`, `ln_f.*`.
pub fn expected_tensors(config: &Gpt2Config) -> Vec<(String, Vec<usize>)> {
    let (c, inner) = (config.n_embd, config.n_inner());
    let mut list = vec![
        ("wte.weight".to_string(), vec![config.vocab_size, c]),
        ("wpe.weight".to_string(), vec![config.n_positions, c]),
    ];
    for i in 0..config.n_layer {
        let block = [
            ("ln_1.weight", vec![c]),
            ("ln_1.bias", vec![c]),
            ("attn.c_attn.weight", vec![c, 3 * c]),
            ("attn.c_attn.bias", vec![3 * c]),
            ("attn.c_proj.weight", vec![c, c]),
            ("attn.c_proj.bias", vec![c]),
            ("ln_2.weight", vec![c]),
            ("ln_2.bias", vec![c]),
            ("mlp.c_fc.weight", vec![c, inner]),
            ("mlp.c_fc.bias", vec![inner]),
            ("mlp.c_proj.weight", vec![inner, c]),
            ("mlp.c_proj.bias", vec![c]),
        ];
        list.extend(block.into_iter().map(|(n, s)| (format!("h.{i}.{n}"), s)));
    }
    list.push(("ln_f.weight".to_string(), vec![c]));
    list.push(("ln_f.bias".to_string(), vec![c]));
    list
}

/// A safetensors file checked against a [`Gpt2Config`]: every tensor present,
/// of the right shape and a float dtype, and no layer the config does not have.
pub struct Gpt2Checkpoint {
    file: SafetensorsFile,
    prefix: &'static str,
}

impl Gpt2Checkpoint {
    /// Checks `file` against `config`; errors name the tensor and what was expected.
    pub fn new(file: SafetensorsFile, config: &Gpt2Config) -> Result<Self> {
        let prefix = if file.names().any(|n| n.starts_with("transformer.")) {
            "transformer."
        } else {
            ""
        };
        let checkpoint = Gpt2Checkpoint { file, prefix };
        for (name, shape) in expected_tensors(config) {
            let view = checkpoint.tensor(&name)?;
            if view.shape != shape {
                return Err(checkpoint.error(format!(
                    "tensor {}{name} has shape {:?}, but config.json (n_layer={}, n_head={}, \
                     n_embd={}, n_positions={}, vocab_size={}) needs {:?}: the config does not \
                     match the weights",
                    prefix,
                    view.shape,
                    config.n_layer,
                    config.n_head,
                    config.n_embd,
                    config.n_positions,
                    config.vocab_size,
                    shape
                )));
            }
        }
        for name in checkpoint.file.names() {
            let layer = name
                .strip_prefix(prefix)
                .and_then(|n| n.strip_prefix("h."))
                .and_then(|n| n.split('.').next())
                .and_then(|n| n.parse::<usize>().ok());
            if let Some(layer) = layer.filter(|&l| l >= config.n_layer) {
                return Err(checkpoint.error(format!(
                    "the weights hold layer {layer} ({name}) but config.json says n_layer={}: \
                     the config does not match the weights",
                    config.n_layer
                )));
            }
        }
        Ok(checkpoint)
    }

    /// The tensor with canonical name `name` (e.g. `h.0.attn.c_attn.weight`).
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        let full = format!("{}{name}", self.prefix);
        let view = self.file.get(&full).ok_or_else(|| {
            self.error(format!(
                "tensor {full} is missing: this is not a complete GPT-2 checkpoint"
            ))
        })?;
        if view.dtype == Dtype::Other {
            return Err(self.error(format!(
                "tensor {full} has dtype {}, expected F32, F16 or BF16",
                view.dtype_name
            )));
        }
        Ok(view)
    }

    /// The tensor `name` as f32 values, in the file's layout.
    pub fn f32(&self, name: &str) -> Result<Vec<f32>> {
        Ok(self.tensor(name)?.to_f32())
    }

    fn error(&self, message: String) -> Error {
        Error::checkpoint(self.file.path(), message)
    }
}

/// `dst (cols, rows) = src (rows, cols)ᵀ`, in 32×32 tiles so that both sides
/// are read and written a cache line at a time. The backends use it to turn
/// Conv1D's `[in, out]` weights into `[out, in]`.
pub(crate) fn transpose<T: Copy>(src: &[T], rows: usize, cols: usize, dst: &mut [T]) {
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    dst[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
}
