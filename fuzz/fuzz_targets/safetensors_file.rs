//! Any bytes as a `model.safetensors`: parsing, then checking against a small
//! GPT-2 config, then reading every tensor, refuse with an `Error` or succeed;
//! never a panic, an overflow or an allocation the size of a lie.
#![no_main]

use engine::config::Gpt2Config;
use engine::weights::{expected_tensors, Gpt2Checkpoint, SafetensorsFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = SafetensorsFile::from_bytes(data.to_vec(), "model.safetensors") else {
        return;
    };
    let names: Vec<String> = file.names().map(String::from).collect();
    for name in &names {
        let view = file.get(name).expect("a listed tensor is there");
        let values = view.to_f32();
        assert!(values.len() <= view.numel());
    }
    // The shape of the seed checkpoints (scripts/fuzz writes them).
    let mut config = Gpt2Config::new(1, 2, 8, 8);
    config.vocab_size = 16;
    if let Ok(checkpoint) = Gpt2Checkpoint::new(file, &config) {
        for (name, shape) in expected_tensors(&config) {
            let values = checkpoint.f32(&name).expect("a checked tensor reads");
            assert_eq!(values.len(), shape.iter().product::<usize>(), "{name}");
        }
    }
});
