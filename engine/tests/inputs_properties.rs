//! Properties of the engine's three input parsers, on generated input: a
//! `model.safetensors` checked against a config (in `inputs_properties/`), a
//! `config.json`, and token ids streamed through the incremental
//! detokenizer. Whatever the input, a parser answers with a value or an
//! `Error` that says what was wrong, never a panic; what the project writes,
//! it reads back equal. The fuzz targets in `fuzz/` (scripts/fuzz) search the
//! same inputs by coverage; what they found is pinned in the tests at the end.

#[path = "inputs_properties/safetensors.rs"]
mod safetensors;

use std::sync::OnceLock;

use engine::config::{Gpt2Config, MAX_PARAMS};
use engine::tokenizer::{IncrementalDecoder, Tokenizer};
use engine::weights::random::{Layout, RandomCheckpoint};
use engine::weights::Dtype;
use engine::Error;
use proptest::prelude::*;

fn cases() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

/// The shape the fuzz targets check checkpoints against.
fn tiny_config() -> Gpt2Config {
    Gpt2Config {
        vocab_size: 16,
        ..Gpt2Config::new(1, 2, 8, 8)
    }
}

/// A valid config: every size in range, any positive finite epsilon, a tanh GELU.
fn valid_config() -> impl Strategy<Value = Gpt2Config> {
    (
        (
            1usize..=48,
            1usize..=32,
            1usize..=128,
            1usize..=4096,
            1usize..=60_000,
        ),
        (
            prop::option::of(1usize..=8192),
            any::<f64>(),
            0usize..3,
            any::<u32>(),
            any::<u32>(),
        ),
    )
        .prop_map(
            |((layers, heads, head_dim, positions, vocab), (inner, eps, act, bos, eos))| {
                Gpt2Config {
                    vocab_size: vocab,
                    n_inner: inner,
                    layer_norm_epsilon: if eps.is_finite() && eps > 0.0 {
                        eps
                    } else {
                        1e-5
                    },
                    activation_function: ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"][act].into(),
                    bos_token_id: bos,
                    eos_token_id: eos,
                    ..Gpt2Config::new(layers, heads, heads * head_dim, positions)
                }
            },
        )
}

/// A JSON value for one config field: sizes of every kind, and the wrong types.
fn field_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        (0u64..100).prop_map(|v| json!(v)),
        any::<u64>().prop_map(|v| json!(v)),
        any::<i64>().prop_map(|v| json!(v)),
        any::<f64>().prop_map(|v| json!(v)),
        Just(json!(null)),
        Just(json!("gelu_new")),
        "[a-z_]{0,8}".prop_map(|s| json!(s)),
        Just(json!([1, 2])),
    ]
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn any_text_as_config_json_is_refused_clearly_or_valid(text in "\\PC{0,64}") {
        match Gpt2Config::from_json(&text) {
            Ok(config) => config.validate().unwrap(),
            Err(e) => {
                prop_assert!(matches!(e, Error::Input(_)), "{:?}", e);
                prop_assert!(e.to_string().starts_with("config.json"), "{}", e);
            }
        }
    }

    #[test]
    fn config_objects_with_any_values_are_refused_clearly_or_fit(
        fields in prop::collection::btree_map(
            prop::sample::select(vec![
                "n_layer", "n_head", "n_embd", "n_positions", "n_ctx", "vocab_size", "n_inner",
                "layer_norm_epsilon", "activation_function", "bos_token_id", "eos_token_id",
            ]),
            field_value(),
            0..11,
        ),
    ) {
        let text = serde_json::to_string(&fields).unwrap();
        match Gpt2Config::from_json(&text) {
            Ok(config) => {
                prop_assert!(config.num_params() as u64 <= MAX_PARAMS);
                prop_assert!(config.n_embd.is_multiple_of(config.n_head));
                prop_assert_eq!(Gpt2Config::from_json(&config.to_json()).unwrap(), config);
            }
            Err(e) => {
                prop_assert!(matches!(e, Error::Input(_)), "{:?}", e);
                prop_assert!(e.to_string().starts_with("config.json"), "{}", e);
            }
        }
    }

    #[test]
    fn a_valid_config_survives_to_json_and_from_json(config in valid_config()) {
        let text = config.to_json();
        prop_assert_eq!(Gpt2Config::from_json(&text).unwrap(), config, "{}", text);
    }
}

/// GPT-2's tokenizer, parsed once for all cases.
fn gpt2() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER
        .get_or_init(|| Tokenizer::from_bytes(include_bytes!("../assets/tokenizer.json")).unwrap())
}

/// Ids that cut UTF-8 characters often: the 256 single-byte tokens come
/// first in GPT-2's vocabulary.
fn valid_id() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..256, 0u32..50_257]
}

/// Ids in and out of the vocabulary.
fn any_id() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => valid_id(),
        1 => 50_257u32..50_300,
        1 => any::<u32>(),
    ]
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn streaming_valid_ids_gives_the_whole_decode(
        ids in prop::collection::vec(valid_id(), 0..48),
    ) {
        let tokenizer = gpt2();
        let whole = tokenizer.decode(&ids).unwrap();
        let mut decoder = IncrementalDecoder::new();
        let mut streamed = String::new();
        for &id in &ids {
            streamed.push_str(&decoder.push(tokenizer, id).unwrap());
            // What is shown is never taken back.
            prop_assert!(whole.starts_with(&streamed), "{:?} then {:?}", streamed, whole);
        }
        streamed.push_str(&decoder.finish());
        prop_assert_eq!(streamed, whole);
    }

    #[test]
    fn ids_outside_the_vocabulary_are_errors_that_change_nothing(
        ids in prop::collection::vec(any_id(), 0..48),
    ) {
        let tokenizer = gpt2();
        let vocab = tokenizer.vocab_size() as u32;
        let mut decoder = IncrementalDecoder::new();
        let mut streamed = String::new();
        let mut valid = Vec::new();
        for &id in &ids {
            match decoder.push(tokenizer, id) {
                Ok(text) => {
                    streamed.push_str(&text);
                    valid.push(id);
                }
                Err(e) => {
                    prop_assert!(id >= vocab);
                    prop_assert!(matches!(e, Error::Input(_)), "{:?}", e);
                    prop_assert!(e.to_string().contains(&format!("token id {id} is outside")), "{}", e);
                    prop_assert!(tokenizer.token_text(id).is_err());
                }
            }
        }
        streamed.push_str(&decoder.finish());
        prop_assert_eq!(streamed, tokenizer.decode(&valid).unwrap());
        prop_assert_eq!(tokenizer.decode(&ids).is_err(), valid.len() < ids.len());
    }
}

/// The fuzz targets' seed checkpoints and config (`fuzz/seeds/`), written by
/// the project's own writers; `FUZZ_WRITE_SEEDS=1` writes them again.
#[test]
fn fuzz_seeds_are_what_the_writers_write() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let tiny = tiny_config();
    let hub_f16 = RandomCheckpoint {
        dtype: Dtype::F16,
        layout: Layout::Hub,
        ..RandomCheckpoint::new(tiny.clone(), 1)
    };
    let files = [
        (
            "safetensors_file/tiny_f32",
            RandomCheckpoint::new(tiny.clone(), 0).safetensors_bytes(),
        ),
        ("safetensors_file/tiny_f16_hub", hub_f16.safetensors_bytes()),
        ("config_json/tiny", tiny.to_json().into_bytes()),
    ];
    for (name, bytes) in files {
        let path = seeds.join(name);
        if std::env::var_os("FUZZ_WRITE_SEEDS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == bytes,
            "{} is stale: run with FUZZ_WRITE_SEEDS=1",
            path.display()
        );
    }
}
