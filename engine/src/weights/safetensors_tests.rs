//! Safetensors files, good and broken: values read back exactly, and every
//! way a header can be wrong or hostile gets its own message, never a panic
//! or an allocation the size of a lie.

use super::random::write_safetensors;
use super::{Dtype, SafetensorsFile};

/// A file of `header` (JSON) and `data`, the header left unpadded.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// The message for `bytes`, which must be refused.
fn refused(bytes: Vec<u8>) -> String {
    match SafetensorsFile::from_bytes(bytes, "model.safetensors") {
        Ok(_) => panic!("a broken file was accepted"),
        Err(e) => e.to_string(),
    }
}

fn assert_refused(bytes: Vec<u8>, needle: &str) {
    let message = refused(bytes);
    assert!(
        message.contains(needle),
        "expected {needle:?} in: {message}"
    );
    assert!(message.starts_with("model.safetensors: "), "{message}");
}

#[test]
fn values_of_every_float_dtype_read_back_exactly() {
    let values = [1.5f32, -2.0, 0.25, 65504.0];
    let halves: Vec<half::f16> = values.iter().map(|&v| half::f16::from_f32(v)).collect();
    let brains: Vec<half::bf16> = values.iter().map(|&v| half::bf16::from_f32(v)).collect();
    let tensors = vec![
        (
            "a".to_string(),
            "F32",
            vec![2, 2],
            bytemuck::cast_slice(&values).to_vec(),
        ),
        (
            "b".to_string(),
            "F16",
            vec![4],
            bytemuck::cast_slice(&halves).to_vec(),
        ),
        (
            "c".to_string(),
            "BF16",
            vec![4],
            bytemuck::cast_slice(&brains).to_vec(),
        ),
        ("d".to_string(), "I64", vec![1], vec![7; 8]),
    ];
    let f = SafetensorsFile::from_bytes(write_safetensors(&tensors), "m").unwrap();
    assert_eq!(f.names().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    assert_eq!(f.get("a").unwrap().to_f32(), values);
    assert_eq!(f.get("a").unwrap().shape, [2, 2]);
    assert_eq!(f.get("b").unwrap().to_f32(), values);
    let bf = f.get("c").unwrap().to_f32();
    assert_eq!(bf, brains.iter().map(|b| b.to_f32()).collect::<Vec<_>>());
    let other = f.get("d").unwrap();
    assert_eq!((other.dtype, other.dtype_name), (Dtype::Other, "I64"));
    assert!(f.get("e").is_none());
}

#[test]
fn half_floats_at_an_odd_address_read_back() {
    // A 1-byte pad before the f16 data leaves it unaligned in memory.
    let h = [half::f16::from_f32(3.0), half::f16::from_f32(-0.5)];
    let header = r#"{"pad":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"h":{"dtype":"F16","shape":[2],"data_offsets":[1,5]}}"#;
    let mut data = vec![0u8];
    data.extend_from_slice(bytemuck::cast_slice(&h));
    let f = SafetensorsFile::from_bytes(file(header, &data), "m").unwrap();
    assert_eq!(f.get("h").unwrap().to_f32(), [3.0, -0.5]);
}

#[test]
fn files_too_short_or_with_a_lying_header_length() {
    assert_refused(vec![1, 2, 3], "3 bytes long, too short");
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    assert_refused(huge, "implausible");
    let mut long = 1000u64.to_le_bytes().to_vec();
    long.extend_from_slice(b"{}");
    assert_refused(
        long,
        "truncated: its header needs 1008 bytes but the file has 10",
    );
}

#[test]
fn headers_that_are_not_json_or_not_text() {
    assert_refused(file("this is not json", &[]), "not valid JSON");
    assert_refused(file("\u{0}\u{1}", &[]), "not valid JSON");
    let mut bytes = file("{}", &[]);
    bytes[8] = 0xff;
    assert_refused(bytes, "not UTF-8");
    assert_refused(file("[1, 2]", &[]), "not a JSON object of tensors");
}

#[test]
fn malformed_entries_name_the_tensor() {
    let missing_shape = r#"{"w":{"dtype":"F32","data_offsets":[0,4]}}"#;
    assert_refused(
        file(missing_shape, &[0; 4]),
        "header entry for w is malformed",
    );
    let unknown = r#"{"w":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,4]}}"#;
    assert_refused(
        file(unknown, &[0; 4]),
        "w has dtype Q4_K, which safetensors",
    );
    let negative = r#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#;
    assert_refused(file(negative, &[0; 4]), "header entry for w is malformed");
    let metadata =
        r#"{"__metadata__":{"n":1},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    assert_refused(file(metadata, &[0; 4]), "__metadata__ is malformed");
}

#[test]
fn sizes_that_disagree_name_the_tensor() {
    let short = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#;
    assert_refused(
        file(short, &[0; 4]),
        "tensor w: shape [2] of F32 needs 8 bytes but the header gives 4",
    );
    let gap = r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}"#;
    assert_refused(
        file(gap, &[0; 3]),
        "tensor b: data_offsets [2, 3] should start at 1",
    );
    let backwards = r#"{"w":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"v":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}}"#;
    assert_refused(file(backwards, &[0; 1]), "tensor v: data_offsets [1, 0]");
    let trailing = r#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#;
    assert_refused(file(trailing, &[0; 5]), "4 bytes after its last tensor");
    let nibbles = r#"{"w":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#;
    assert_refused(file(nibbles, &[0; 2]), "does not fill whole bytes");
}

#[test]
fn hostile_sizes_are_refused_without_overflow_or_allocation() {
    let max = usize::MAX;
    let cases = [
        // The shape's product overflows.
        format!(r#"{{"w":{{"dtype":"F32","shape":[{max},{max}],"data_offsets":[0,4]}}}}"#),
        // The product fits, times the dtype's bits it does not.
        format!(
            r#"{{"w":{{"dtype":"F32","shape":[{}],"data_offsets":[0,4]}}}}"#,
            max / 8
        ),
    ];
    for header in cases {
        assert_refused(file(&header, &[0; 4]), "too large to address");
    }
    // Offsets far past the end: truncated, not a slice out of bounds.
    let far = format!(r#"{{"w":{{"dtype":"U8","shape":[{max}],"data_offsets":[0,{max}]}}}}"#);
    assert_refused(file(&far, &[0; 4]), "truncated: tensor w needs bytes 0..");
    // A zero-sized dimension makes any other dimension harmless.
    let empty = format!(r#"{{"w":{{"dtype":"F32","shape":[0,{max}],"data_offsets":[0,0]}}}}"#);
    let f = SafetensorsFile::from_bytes(file(&empty, &[]), "m").unwrap();
    assert!(f.get("w").unwrap().to_f32().is_empty());
}

#[test]
fn cutting_a_real_checkpoint_anywhere_is_a_clear_error() {
    let config = crate::config::Gpt2Config::preset("gpt2").unwrap();
    let tiny = crate::config::Gpt2Config {
        n_layer: 1,
        n_embd: 8,
        n_head: 2,
        n_positions: 8,
        vocab_size: 16,
        ..config
    };
    let bytes = super::random::RandomCheckpoint::new(tiny, 0).safetensors_bytes();
    for cut in (0..bytes.len()).step_by(97) {
        let message = refused(bytes[..cut].to_vec());
        assert!(
            ["too short", "truncated"]
                .iter()
                .any(|n| message.contains(n)),
            "cut at {cut}: {message}"
        );
    }
}
