//! Any sequence of token ids, in and out of GPT-2's vocabulary, streamed
//! through the incremental detokenizer: ids outside the vocabulary are an
//! `Error` that changes nothing, and the streamed text equals `decode` of
//! the valid ids.
#![no_main]

use std::sync::OnceLock;

use engine::tokenizer::{IncrementalDecoder, Tokenizer};
use libfuzzer_sys::fuzz_target;

fn tokenizer() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        Tokenizer::from_bytes(include_bytes!("../../engine/assets/tokenizer.json"))
            .expect("GPT-2's tokenizer.json parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let tokenizer = tokenizer();
    let vocab = tokenizer.vocab_size() as u32;
    // Three bytes per id: mostly inside the vocabulary, a few just outside
    // it and a few far away.
    let ids: Vec<u32> = data
        .chunks_exact(3)
        .map(|c| {
            let raw = u32::from_le_bytes([c[0], c[1], c[2], 0]);
            match c[2] {
                0xff => u32::MAX - (raw & 0xff),
                0xfe => vocab + (raw & 0xff),
                _ => raw % (vocab + 1),
            }
        })
        .collect();
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
                assert!(id >= vocab, "id {id} refused: {e}");
                assert!(e.to_string().contains("outside the vocabulary"), "{e}");
            }
        }
    }
    streamed.push_str(&decoder.finish());
    assert_eq!(
        streamed,
        tokenizer.decode(&valid).expect("valid ids decode")
    );
    assert!(tokenizer.decode(&ids).is_err() == (valid.len() != ids.len()));
});
