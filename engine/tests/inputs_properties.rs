//! Properties of the engine's three input parsers, on generated input: a
//! `model.safetensors` checked against a config, a `config.json`, and token
//! ids streamed through the incremental detokenizer. Whatever the input, a
//! parser answers with a value or an `Error` that says what was wrong, never a
//! panic; what the project writes, it reads back equal. The fuzz targets in
//! `fuzz/` (scripts/fuzz) search the same inputs by coverage; what they found
//! is pinned in the tests at the end.

use std::sync::OnceLock;

use engine::config::{Gpt2Config, MAX_PARAMS};
use engine::tokenizer::{IncrementalDecoder, Tokenizer};
use engine::weights::random::{write_safetensors, Layout, RandomCheckpoint};
use engine::weights::{expected_tensors, Dtype, Gpt2Checkpoint, SafetensorsFile};
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

/// A refusal of `model.safetensors`: a checkpoint error naming the file.
fn assert_checkpoint_error(e: &Error) {
    assert!(matches!(e, Error::Checkpoint { .. }), "{e:?}");
    let message = e.to_string();
    assert!(message.starts_with("model.safetensors: "), "{message}");
    assert!(
        message.len() > "model.safetensors: ".len() + 10,
        "{message}"
    );
}

/// Parses `bytes`, checks them against `config` and reads every tensor:
/// either all of it works or the first failure is a checkpoint error.
fn parse_and_check(bytes: Vec<u8>, config: &Gpt2Config) {
    let file = match SafetensorsFile::from_bytes(bytes, "model.safetensors") {
        Ok(file) => file,
        Err(e) => return assert_checkpoint_error(&e),
    };
    let names: Vec<String> = file.names().map(String::from).collect();
    for name in &names {
        let view = file.get(name).expect("a listed tensor is there");
        assert!(view.to_f32().len() <= view.numel());
    }
    match Gpt2Checkpoint::new(file, config) {
        Ok(checkpoint) => {
            for (name, shape) in expected_tensors(config) {
                let values = checkpoint.f32(&name).expect("a checked tensor reads");
                assert_eq!(values.len(), shape.iter().product::<usize>(), "{name}");
            }
        }
        Err(e) => assert_checkpoint_error(&e),
    }
}

/// A header entry: a name, a dtype (some unknown to safetensors), a shape
/// and data offsets, each sometimes absurd.
fn header_entry() -> impl Strategy<Value = (String, String, Vec<u64>, (u64, u64))> {
    let name = prop_oneof![
        "[a-z_.0-9]{0,12}",
        Just("transformer.h.0.ln_1.weight".to_string()),
        Just("h.7.attn.bias".to_string()),
        Just("__metadata__".to_string()),
    ];
    let dtype = prop::sample::select(vec!["F32", "F16", "BF16", "I64", "U8", "F4", "Q4_K", ""])
        .prop_map(String::from);
    let dim = prop_oneof![0u64..10, Just(u64::MAX), Just(u64::MAX / 8), any::<u64>()];
    let offset = prop_oneof![0u64..64, Just(u64::MAX), any::<u64>()];
    (
        name,
        dtype,
        prop::collection::vec(dim, 0..4),
        (offset.clone(), offset),
    )
}

/// A file whose header is JSON of the right form, with any values in it.
fn hostile_file() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(header_entry(), 0..6),
        prop::collection::vec(any::<u8>(), 0..96),
        prop_oneof![Just(0i64), -8i64..8],
    )
        .prop_map(|(entries, data, skew)| {
            let mut header = serde_json::Map::new();
            for (name, dtype, shape, (start, end)) in entries {
                header.insert(
                    name,
                    serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, end]}),
                );
            }
            let header = serde_json::to_vec(&header).unwrap();
            let declared = (header.len() as i64 + skew).max(0) as u64;
            let mut out = declared.to_le_bytes().to_vec();
            out.extend_from_slice(&header);
            out.extend_from_slice(&data);
            out
        })
}

/// Small random-checkpoint recipes: every dtype and both name layouts.
fn small_checkpoint() -> impl Strategy<Value = RandomCheckpoint> {
    (
        1usize..3,
        1usize..3,
        1usize..4,
        1usize..6,
        1usize..20,
        any::<u64>(),
    )
        .prop_flat_map(|(layers, heads, head_dim, positions, vocab, seed)| {
            let dtype = prop::sample::select(vec![Dtype::F32, Dtype::F16, Dtype::BF16]);
            let layout = prop::sample::select(vec![Layout::Transformers, Layout::Hub]);
            (dtype, layout).prop_map(move |(dtype, layout)| RandomCheckpoint {
                config: Gpt2Config {
                    vocab_size: vocab,
                    ..Gpt2Config::new(layers, heads, heads * head_dim, positions)
                },
                seed,
                dtype,
                layout,
            })
        })
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn any_bytes_as_safetensors_are_refused_clearly_or_read(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        parse_and_check(bytes, &tiny_config());
    }

    #[test]
    fn hostile_headers_are_refused_clearly_or_read(bytes in hostile_file()) {
        parse_and_check(bytes, &tiny_config());
    }

    #[test]
    fn a_damaged_checkpoint_is_refused_clearly_or_read(
        seed in any::<u64>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let config = tiny_config();
        let mut bytes = RandomCheckpoint::new(config.clone(), seed).safetensors_bytes();
        for (at, byte) in edits {
            let at = at.index(bytes.len());
            bytes[at] = byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        parse_and_check(bytes, &config);
    }

    #[test]
    fn tensors_written_by_write_safetensors_read_back_equal(
        tensors in prop::collection::vec(
            ("[a-z.]{1,10}", prop::sample::select(vec!["F32", "F16", "BF16", "U8"]),
             prop::collection::vec(0usize..4, 0..3), any::<u64>()),
            0..5,
        ),
    ) {
        let mut by_name = std::collections::BTreeMap::new();
        for (name, dtype, shape, seed) in tensors {
            let size = match dtype { "F32" => 4, "U8" => 1, _ => 2 };
            let n = shape.iter().product::<usize>() * size;
            let bytes: Vec<u8> = (0..n).map(|i| (seed >> (i % 8 * 8)) as u8 ^ i as u8).collect();
            by_name.insert(name, (dtype, shape, bytes));
        }
        let list: Vec<_> = by_name
            .iter()
            .map(|(n, (d, s, b))| (n.clone(), *d, s.clone(), b.clone()))
            .collect();
        let file = SafetensorsFile::from_bytes(write_safetensors(&list), "m").unwrap();
        prop_assert_eq!(file.names().collect::<Vec<_>>(), by_name.keys().collect::<Vec<_>>());
        for (name, (dtype, shape, bytes)) in &by_name {
            let view = file.get(name).unwrap();
            prop_assert_eq!(view.dtype_name, *dtype);
            prop_assert_eq!(&view.shape, shape);
            prop_assert_eq!(view.bytes, bytes.as_slice());
        }
    }

    #[test]
    fn random_checkpoints_pass_the_check_and_read_back_their_values(recipe in small_checkpoint()) {
        let file = SafetensorsFile::from_bytes(recipe.safetensors_bytes(), "m").unwrap();
        let checkpoint = Gpt2Checkpoint::new(file, &recipe.config).unwrap();
        for (name, shape) in expected_tensors(&recipe.config) {
            let values = checkpoint.f32(&name).unwrap();
            let written = recipe.values(&name, shape.iter().product());
            let rounded: Vec<f32> = match recipe.dtype {
                Dtype::F16 => written.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect(),
                Dtype::BF16 => written.iter().map(|&v| half::bf16::from_f32(v).to_f32()).collect(),
                _ => written,
            };
            prop_assert_eq!(values, rounded, "{}", name);
        }
        // A config of another shape is refused by name, not read wrongly.
        let wider = Gpt2Config { vocab_size: recipe.config.vocab_size + 1, ..recipe.config.clone() };
        let file = SafetensorsFile::from_bytes(recipe.safetensors_bytes(), "model.safetensors").unwrap();
        let e = Gpt2Checkpoint::new(file, &wider).err().expect("a wider vocabulary is refused");
        assert_checkpoint_error(&e);
        prop_assert!(e.to_string().contains("wte.weight"), "{}", e);
    }
}

/// A valid config: every size in range, any epsilon, a tanh GELU.
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
                    layer_norm_epsilon: if eps.is_finite() { eps } else { 1e-5 },
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
