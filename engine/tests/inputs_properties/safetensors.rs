//! `model.safetensors` on generated input: any bytes, hostile headers,
//! damaged checkpoints; and what `write_safetensors` and the random
//! checkpoints write reads back equal.

use engine::config::Gpt2Config;
use engine::weights::random::{write_safetensors, Layout, RandomCheckpoint};
use engine::weights::{expected_tensors, Dtype, Gpt2Checkpoint, SafetensorsFile};
use engine::Error;
use proptest::prelude::*;

use super::{cases, tiny_config};

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
