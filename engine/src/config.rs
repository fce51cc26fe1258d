//! GPT-2's shape, read from a Hugging Face `config.json`, with the presets of the
//! published checkpoints (distilgpt2, gpt2, gpt2-medium, gpt2-large, gpt2-xl).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The hyper-parameters of a GPT-2 model, named as in `transformers`' `GPT2Config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    /// Number of transformer blocks.
    pub n_layer: usize,
    /// Number of attention heads per block.
    pub n_head: usize,
    /// Width of the residual stream.
    pub n_embd: usize,
    /// Longest sequence the position embedding covers.
    pub n_positions: usize,
    /// Number of tokens in the vocabulary.
    pub vocab_size: usize,
    /// Width of the MLP's hidden layer; `None` means 4 × `n_embd`.
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// Epsilon of every layer norm.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// The MLP's activation; GPT-2 uses the tanh approximation `gelu_new`.
    #[serde(default = "default_activation")]
    pub activation_function: String,
    /// Token that starts a text (`<|endoftext|>` for GPT-2).
    #[serde(default = "default_eos")]
    pub bos_token_id: u32,
    /// Token that ends a text (`<|endoftext|>` for GPT-2).
    #[serde(default = "default_eos")]
    pub eos_token_id: u32,
}

fn default_eps() -> f64 {
    1e-5
}
fn default_activation() -> String {
    "gelu_new".into()
}
fn default_eos() -> u32 {
    50256
}

/// Most layers a config may have (GPT-2 XL has 48); more is a broken file.
pub const MAX_LAYERS: usize = 1024;

/// Most parameters a config may describe: 2^36 (about 69 billion, 44 times
/// GPT-2 XL). Every size computed from the config then fits in memory
/// arithmetic without overflow, and a hostile config is refused before
/// anything is allocated from it.
pub const MAX_PARAMS: u64 = 1 << 36;

/// Activations GPT-2 checkpoints use that all compute the tanh form of GELU.
const TANH_GELUS: [&str; 3] = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"];

impl Gpt2Config {
    /// A config of the given shape, with GPT-2's vocabulary and defaults.
    pub fn new(n_layer: usize, n_head: usize, n_embd: usize, n_positions: usize) -> Self {
        Gpt2Config {
            n_layer,
            n_head,
            n_embd,
            n_positions,
            vocab_size: 50257,
            n_inner: None,
            layer_norm_epsilon: default_eps(),
            activation_function: default_activation(),
            bos_token_id: default_eos(),
            eos_token_id: default_eos(),
        }
    }

    /// The published checkpoints' shapes, by Hub name.
    pub fn preset(name: &str) -> Option<Self> {
        let (layers, heads, embd) = match name {
            "distilgpt2" => (6, 12, 768),
            "gpt2" => (12, 12, 768),
            "gpt2-medium" => (24, 16, 1024),
            "gpt2-large" => (36, 20, 1280),
            "gpt2-xl" => (48, 25, 1600),
            _ => return None,
        };
        Some(Gpt2Config::new(layers, heads, embd, 1024))
    }

    /// Parses and checks a `config.json`.
    pub fn from_json(text: &str) -> Result<Self> {
        // Older configs name the context `n_ctx`; accept it where `n_positions` is absent.
        let mut value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::input(format!("config.json is not valid JSON: {e}")))?;
        if let Some(obj) = value.as_object_mut() {
            if !obj.contains_key("n_positions") {
                if let Some(n_ctx) = obj.get("n_ctx").cloned() {
                    obj.insert("n_positions".into(), n_ctx);
                }
            }
        }
        let config: Gpt2Config = serde_json::from_value(value)
            .map_err(|e| Error::input(format!("config.json is not a GPT-2 config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and checks a `config.json` file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text).map_err(|e| Error::checkpoint(path, e.to_string()))
    }

    /// The config as `config.json` text, in the form `transformers` reads.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("config serializes");
        let obj = value.as_object_mut().expect("config is an object");
        obj.insert("model_type".into(), "gpt2".into());
        obj.insert(
            "architectures".into(),
            serde_json::json!(["GPT2LMHeadModel"]),
        );
        obj.insert("n_ctx".into(), self.n_positions.into());
        serde_json::to_string_pretty(&value).expect("config serializes")
    }

    /// Checks the values make a model this engine can run.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_embd", self.n_embd),
            ("n_positions", self.n_positions),
            ("vocab_size", self.vocab_size),
            ("n_inner", self.n_inner()),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::input(format!(
                    "config.json: {name} must be positive"
                )));
            }
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(Error::input(format!(
                "config.json: n_embd ({}) must be a multiple of n_head ({})",
                self.n_embd, self.n_head
            )));
        }
        if self.n_layer > MAX_LAYERS {
            return Err(Error::input(format!(
                "config.json: n_layer is {}, more than the {MAX_LAYERS} layers this engine \
                 loads (GPT-2 XL has 48): the file is not a GPT-2 config",
                self.n_layer
            )));
        }
        match self.checked_num_params() {
            Some(n) if n <= MAX_PARAMS => {}
            n => {
                return Err(Error::input(format!(
                    "config.json: n_layer={}, n_embd={}, n_inner={}, n_positions={} and \
                     vocab_size={} make {} parameters, more than the {MAX_PARAMS} this engine \
                     loads (GPT-2 XL has 1.6 billion): the sizes are not those of a GPT-2 model",
                    self.n_layer,
                    self.n_embd,
                    self.n_inner(),
                    self.n_positions,
                    self.vocab_size,
                    n.map_or("more than 2^64".to_string(), |n| n.to_string()),
                )));
            }
        }
        let eps = self.layer_norm_epsilon;
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::input(format!(
                "config.json: layer_norm_epsilon must be finite and > 0 (GPT-2 uses 1e-5), got {eps}"
            )));
        }
        if !TANH_GELUS.contains(&self.activation_function.as_str()) {
            return Err(Error::input(format!(
                "config.json: activation_function {:?} is not supported (GPT-2 uses gelu_new)",
                self.activation_function
            )));
        }
        Ok(())
    }

    /// Width of the MLP's hidden layer.
    pub fn n_inner(&self) -> usize {
        self.n_inner.unwrap_or(self.n_embd.saturating_mul(4))
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// Number of parameters (embeddings included, the tied `lm_head` counted
    /// once); [`Self::validate`] has checked that it fits.
    pub fn num_params(&self) -> usize {
        self.checked_num_params()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(usize::MAX)
    }

    /// [`Self::num_params`] in checked arithmetic: `None` when it overflows.
    fn checked_num_params(&self) -> Option<u64> {
        let n = |v: usize| u64::try_from(v).ok();
        let (c, i) = (n(self.n_embd)?, n(self.n_inner())?);
        let mul = |a: u64, b: u64| a.checked_mul(b);
        // ln_1, ln_2; c_attn; attn.c_proj; mlp.c_fc; mlp.c_proj (weights, biases).
        let block = [
            mul(4, c)?,
            mul(mul(3, c)?, c)?,
            mul(3, c)?,
            mul(c, c)?,
            c,
            mul(c, i)?,
            i,
            mul(i, c)?,
            c,
        ];
        let block = block.into_iter().try_fold(0u64, u64::checked_add)?;
        [
            mul(n(self.vocab_size)?, c)?,
            mul(n(self.n_positions)?, c)?,
            mul(n(self.n_layer)?, block)?,
            mul(2, c)?,
        ]
        .into_iter()
        .try_fold(0u64, u64::checked_add)
        .filter(|&p| usize::try_from(p).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_published_parameter_counts() {
        // transformers: sum(p.numel() for p in GPT2LMHeadModel.from_pretrained(name).parameters())
        assert_eq!(
            Gpt2Config::preset("gpt2").unwrap().num_params(),
            124_439_808
        );
        assert_eq!(
            Gpt2Config::preset("gpt2-xl").unwrap().num_params(),
            1_557_611_200
        );
    }

    #[test]
    fn round_trips_through_json_and_reads_n_ctx() {
        let config = Gpt2Config::new(3, 5, 80, 64);
        assert_eq!(Gpt2Config::from_json(&config.to_json()).unwrap(), config);
        let old = r#"{"n_layer":2,"n_head":2,"n_embd":8,"n_ctx":16,"vocab_size":10}"#;
        assert_eq!(Gpt2Config::from_json(old).unwrap().n_positions, 16);
    }

    #[test]
    fn an_epsilon_of_any_size_reads_back_exactly() {
        // serde_json's default float parsing read 2.2326137721566868e141 back
        // a rounding away from what it wrote.
        for eps in [2.2326137721566868e141, 1e-5, 9.999999747378752e-6] {
            let config = Gpt2Config {
                layer_norm_epsilon: eps,
                ..Gpt2Config::new(1, 1, 1, 1)
            };
            assert_eq!(Gpt2Config::from_json(&config.to_json()).unwrap(), config);
        }
    }

    #[test]
    fn rejects_an_epsilon_that_is_not_positive() {
        for eps in ["0", "-1e-5"] {
            let text = format!(
                r#"{{"n_layer":2,"n_head":2,"n_embd":8,"n_positions":16,"vocab_size":10,"layer_norm_epsilon":{eps}}}"#
            );
            let err = Gpt2Config::from_json(&text).unwrap_err().to_string();
            assert!(
                err.contains("layer_norm_epsilon must be finite and > 0"),
                "{err}"
            );
        }
    }

    #[test]
    fn rejects_sizes_no_gpt2_has_without_overflowing() {
        let huge = |field: &str, value: &str| {
            let text = format!(
                r#"{{"n_layer":2,"n_head":2,"n_embd":8,"n_positions":16,"vocab_size":10,"{field}":{value}}}"#
            );
            Gpt2Config::from_json(&text).unwrap_err().to_string()
        };
        // With 32-bit sizes (wasm32) these values do not even parse as sizes:
        // the parser's own error, which names config.json, says so.
        let says = |err: String, want: &str| {
            let want = if cfg!(target_pointer_width = "64") {
                want
            } else {
                "config.json"
            };
            assert!(err.contains(want), "{err}");
        };
        says(huge("n_embd", "4611686018427387904"), "more than 2^64"); // 2^62: 3 × n_embd² overflows
        says(
            huge("vocab_size", "100000000000"),
            "more than the 68719476736",
        );
        says(
            huge("n_layer", "1000000000000"),
            "more than the 1024 layers",
        );
        says(huge("n_inner", "18446744073709551615"), "parameters");
    }

    #[test]
    fn rejects_heads_that_do_not_divide_the_width() {
        let bad = r#"{"n_layer":2,"n_head":3,"n_embd":8,"n_positions":16,"vocab_size":10}"#;
        let err = Gpt2Config::from_json(bad).unwrap_err().to_string();
        assert!(err.contains("multiple of n_head"), "{err}");
    }
}
