//! The binary frames round trip bit for bit, and every malformed frame is
//! an error that says what is wrong.

use super::*;

#[test]
fn frames_round_trip_bit_for_bit() {
    let logits = Logits {
        rows: 2,
        positions: 1,
        vocab: 3,
        data: vec![1.5, f32::NEG_INFINITY, -0.0, 3.0, f32::MIN_POSITIVE, 7.0],
    };
    let id = (7u64 << 32) | 9;
    let back = decode_logits(id, &encode_logits(id, &logits)).unwrap();
    assert_eq!(back.data.len(), 6);
    for (a, b) in back.data.iter().zip(&logits.data) {
        assert_eq!(a.to_bits(), b.to_bits());
    }
    let top = TopLogits::from_logits(&logits, 2, &[1]);
    assert_eq!(decode_top(id, &encode_top(id, &top)).unwrap(), top);
}

#[test]
fn short_or_foreign_frames_are_errors() {
    let logits = Logits {
        rows: 1,
        positions: 1,
        vocab: 2,
        data: vec![1.0, 2.0],
    };
    let bytes = encode_logits(3, &logits);
    let short = decode_logits(3, &bytes[..bytes.len() - 4]).unwrap_err();
    assert!(short.to_string().contains("1 words"), "{short}");
    assert!(decode_logits(4, &bytes).is_err(), "another request's frame");
    assert!(decode_top(3, &bytes).is_err(), "another kind of frame");
    assert!(decode_logits(3, &bytes[..5]).is_err());
}

fn hidden() -> Hidden {
    let logits = |base: f32| Logits {
        rows: 2,
        positions: 1,
        vocab: 3,
        data: (0..6).map(|i| base + i as f32).collect(),
    };
    Hidden {
        logits: logits(0.5),
        layers: vec![4, 0],
        rows: 2,
        positions: 2,
        n_embd: 3,
        states: (0..24).map(|i| -(i as f32) / 7.0).collect(),
        heads: vec![logits(10.0), logits(f32::NEG_INFINITY)],
    }
}

fn same_hidden(a: &Hidden, b: &Hidden) {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.logits.data), bits(&b.logits.data));
    assert_eq!(
        (a.layers.clone(), a.rows, a.positions),
        (b.layers.clone(), b.rows, b.positions)
    );
    assert_eq!(a.n_embd, b.n_embd);
    assert_eq!(bits(&a.states), bits(&b.states));
    assert_eq!(a.heads.len(), b.heads.len());
    for (x, y) in a.heads.iter().zip(&b.heads) {
        assert_eq!(
            (x.rows, x.positions, x.vocab),
            (y.rows, y.positions, y.vocab)
        );
        assert_eq!(bits(&x.data), bits(&y.data));
    }
}

#[test]
fn hidden_and_tokenizer_frames_round_trip() {
    let h = hidden();
    let bytes = encode_hidden(5, &h);
    assert_eq!(
        Some(bytes.len()),
        hidden_frame_bytes([2, 1, 3, 3], 2, 2, 2),
        "the size bound is the frame's size"
    );
    same_hidden(&decode_hidden(5, &bytes).unwrap(), &h);
    let none = Hidden {
        layers: vec![],
        positions: 0,
        states: vec![],
        heads: vec![],
        ..h
    };
    same_hidden(&decode_hidden(6, &encode_hidden(6, &none)).unwrap(), &none);
    for json in [&b""[..], b"{", b"{\"a\": 1}\n"] {
        let bytes = encode_tokenizer(9, json);
        assert_eq!(bytes.len(), tokenizer_frame_bytes(json.len()));
        assert_eq!(decode_tokenizer(9, &bytes).unwrap(), json);
    }
}

#[test]
fn malformed_hidden_and_tokenizer_frames_are_errors() {
    let bytes = encode_hidden(5, &hidden());
    let word = |bytes: &mut Vec<u8>, i: usize, v: u32| {
        bytes[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes())
    };
    let err = |bytes: &[u8]| decode_hidden(5, bytes).unwrap_err().to_string();
    assert!(err(&bytes[..bytes.len() - 4]).contains("words for the shape"));
    assert!(err(&bytes[..HEADER_WORDS * 4 + 8]).contains("words for the shape"));
    assert!(err(&bytes[..HEADER_WORDS * 4]).contains("words for the shape"));
    for (at, value) in [
        (HEADER_WORDS, 3),            // one layer more than the frame holds
        (HEADER_WORDS + 1, 1),        // fewer positions
        (HEADER_WORDS + 2, u32::MAX), // exits past any frame
        (7, u32::MAX),                // n_embd: the sizes overflow
        (4, u32::MAX),                // rows
    ] {
        let mut bad = bytes.clone();
        word(&mut bad, at, value);
        assert!(err(&bad).contains("cannot read"), "word {at} = {value}");
    }
    let mut old = bytes.clone();
    word(&mut old, 1, 1);
    assert!(err(&old).contains("protocol version 1"), "{}", err(&old));
    assert!(decode_hidden(6, &bytes).is_err(), "another request's frame");
    assert!(decode_top(5, &bytes).is_err(), "another kind of frame");

    let tok = encode_tokenizer(2, b"{\"x\"}");
    assert!(decode_tokenizer(2, &tok[..tok.len() - 4]).is_err(), "short");
    assert!(decode_hidden(2, &tok).is_err(), "another kind of frame");
    let mut long = tok.clone();
    word(&mut long, 4, 9);
    assert!(decode_tokenizer(2, &long).is_err(), "more bytes than sent");
    let mut padded = tok.clone();
    *padded.last_mut().unwrap() = b'!';
    let e = decode_tokenizer(2, &padded).unwrap_err().to_string();
    assert!(e.contains("padded"), "{e}");
}
