//! The tokenizer against Hugging Face `transformers`: ids and decodings of a
//! corpus written by `tests/golden/make_tokenizer_fixture.py`, plus the
//! streaming decoder and the errors.

use std::path::PathBuf;

use engine::tokenizer::{IncrementalDecoder, Tokenizer};
use engine::Error;

#[derive(serde::Deserialize)]
struct Entry {
    text: String,
    ids: Vec<u32>,
    decoded: String,
}

fn manifest_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn gpt2() -> Tokenizer {
    Tokenizer::from_file(&manifest_path("assets/tokenizer.json")).expect("load tokenizer.json")
}

fn corpus() -> Vec<Entry> {
    let path = manifest_path("../tests/fixtures/tokenizer_corpus.json");
    let json = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&json).expect("parse the corpus")
}

/// Decodes `ids` one push at a time and checks the stream adds up to `decode`.
fn stream(tok: &Tokenizer, ids: &[u32]) -> Vec<String> {
    let mut decoder = IncrementalDecoder::new();
    let mut pieces: Vec<String> = ids
        .iter()
        .map(|&id| decoder.push(tok, id).unwrap())
        .collect();
    pieces.push(decoder.finish());
    assert_eq!(pieces.concat(), tok.decode(ids).unwrap(), "ids {ids:?}");
    pieces
}

#[test]
fn corpus_matches_transformers() {
    let tok = gpt2();
    let corpus = corpus();
    assert!(corpus.len() >= 60, "corpus has {} entries", corpus.len());
    let mut failures = Vec::new();
    for entry in &corpus {
        let ids = tok.encode(&entry.text).unwrap();
        if ids != entry.ids {
            failures.push(format!(
                "encode {:?}\n  expected {:?}\n  got      {:?}",
                entry.text, entry.ids, ids
            ));
        }
        let decoded = tok.decode(&entry.ids).unwrap();
        if decoded != entry.decoded {
            failures.push(format!(
                "decode {:?}\n  expected {:?}\n  got      {:?}",
                entry.text, entry.decoded, decoded
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seed_checks() {
    let tok = gpt2();
    let cases: &[(&str, &[u32])] = &[
        ("Hello, world!", &[15496, 11, 995, 0]),
        ("I have a dream", &[40, 423, 257, 4320]),
        ("See you", &[6214, 345]),
        (
            "<|endoftext|>See you later, alligator.<|endoftext|>",
            &[50256, 6214, 345, 1568, 11, 477, 23823, 13, 50256],
        ),
    ];
    for &(text, ids) in cases {
        assert_eq!(tok.encode(text).unwrap(), ids, "encode {text:?}");
        assert_eq!(tok.decode(ids).unwrap(), text, "decode {ids:?}");
    }
    let alligator = tok.encode("alligator").unwrap();
    let pieces: Vec<String> = alligator
        .iter()
        .map(|&id| tok.token_text(id).unwrap())
        .collect();
    assert_eq!(pieces, ["all", "igator"]);
}

#[test]
fn vocabulary_and_special_token() {
    let tok = gpt2();
    assert_eq!(tok.vocab_size(), 50257);
    assert_eq!(tok.eos_token_id(), Some(50256));
    assert_eq!(tok.token_text(50256).unwrap(), "<|endoftext|>");
    assert_eq!(tok.token_text(1332).unwrap(), " test");
    assert_eq!(tok.token_bytes(220).unwrap(), b" ");
    assert_eq!(tok.token_bytes(198).unwrap(), b"\n");
    assert!(tok.encode("").unwrap().is_empty());
    // Every byte is a token of its own, so every byte sequence can be decoded.
    let mut singles: Vec<Vec<u8>> = (0..256).map(|id| tok.token_bytes(id).unwrap()).collect();
    singles.sort();
    assert_eq!(singles, (0..=255u8).map(|b| vec![b]).collect::<Vec<_>>());
}

#[test]
fn partial_utf8_tokens() {
    let tok = gpt2();
    let hug = tok.encode("🤗").unwrap();
    assert_eq!(hug, [8582, 97, 245]);
    assert_eq!(tok.token_bytes(8582).unwrap(), [0xF0, 0x9F]);
    assert_eq!(tok.token_text(8582).unwrap(), "\u{FFFD}");
    // A cut-off character decodes to U+FFFD, like transformers.
    assert_eq!(tok.decode(&hug[..2]).unwrap(), "\u{FFFD}");
    assert_eq!(tok.decode(&[245, 8582]).unwrap(), "\u{FFFD}\u{FFFD}");
}

#[test]
fn incremental_decoder_holds_back_partial_characters() {
    let tok = gpt2();
    let ids = tok.encode("I love 🤗!").unwrap();
    let pieces = stream(&tok, &ids);
    assert_eq!(pieces.concat(), "I love 🤗!");
    // The emoji's first two tokens complete nothing; the third releases it whole.
    let hug = pieces.iter().position(|p| p.contains('🤗')).unwrap();
    assert_eq!(pieces[hug], "🤗");
    assert_eq!(pieces[hug - 1], "");
    assert_eq!(pieces[hug - 2], " ");
    assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')));

    for text in [
        "🤗",
        "你好，世界！今天天气很好。",
        "👨‍👩‍👧‍👦 🇫🇷 e\u{301}",
        "Привет",
    ] {
        let pieces = stream(&tok, &tok.encode(text).unwrap());
        assert_eq!(pieces.concat(), text);
        assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')), "{pieces:?}");
    }
}

#[test]
fn incremental_decoder_matches_decode_on_invalid_utf8() {
    let tok = gpt2();
    let hug = tok.encode("🤗").unwrap();
    // Cut off at the end: flushed by `finish` as U+FFFD.
    let pieces = stream(&tok, &hug[..2]);
    assert_eq!(pieces.concat(), "\u{FFFD}");
    assert_eq!(pieces.last().unwrap(), "\u{FFFD}");
    // Cut off in the middle, out of order, stray continuation bytes.
    stream(
        &tok,
        &[hug[0], hug[1], 40, hug[2], hug[0], 50256, hug[1], hug[2]],
    );
    stream(&tok, &[hug[2], hug[2], hug[1], hug[0], hug[0]]);
    // Every single byte token, in order and reversed.
    let bytes: Vec<u32> = (0..256).collect();
    stream(&tok, &bytes);
    stream(&tok, &bytes.iter().rev().copied().collect::<Vec<_>>());
    // The whole corpus.
    for entry in corpus() {
        stream(&tok, &entry.ids);
    }
}

#[test]
fn out_of_vocabulary_id_is_an_input_error() {
    let tok = gpt2();
    let err = tok.decode(&[15496, 60000]).unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "token id 60000 is outside the vocabulary (0..50257)"
    );
    assert!(tok.token_text(50257).is_err());
    assert!(tok.token_bytes(u32::MAX).is_err());
    let mut decoder = IncrementalDecoder::new();
    assert!(matches!(decoder.push(&tok, 60000), Err(Error::Input(_))));
}

#[test]
fn invalid_tokenizer_json_is_a_clear_error() {
    let err = Tokenizer::from_bytes(b"this is not json").unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err:?}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");

    let err = Tokenizer::from_bytes(br#"{"model": 3}"#).unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err:?}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let err = Tokenizer::from_file(&missing).unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err:?}");
    assert!(err.to_string().contains("missing.json"), "{err}");

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{").unwrap();
    let err = Tokenizer::from_file(&bad).unwrap_err();
    assert!(err.is_bad_input(), "{err:?}");
    assert!(err.to_string().contains("bad.json"), "{err}");
}
