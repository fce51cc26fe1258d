//! The `LanguageModel` / `KvCache` contract on the candle backend: several rows,
//! token-by-token against one pass, `truncate` and `reorder`.

mod common;

use engine::backend::Model;
use engine::backend::{block_on, KvCache, LanguageModel};

fn model() -> Model {
    common::model_for(&common::fixture("odd"))
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

const A: [u32; 12] = [
    464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13, 198, 50256,
];
const B: [u32; 12] = [40, 423, 257, 4320, 326, 530, 1110, 11, 617, 1110, 318, 0];

#[test]
fn token_by_token_equals_one_pass() {
    let m = model();
    let mut one = m.new_cache(1).unwrap();
    let all = block_on(m.forward(&mut one, &[&A], A.len())).unwrap();
    let mut step = m.new_cache(1).unwrap();
    for (i, &t) in A.iter().enumerate() {
        let l = block_on(m.forward(&mut step, &[&[t]], 1)).unwrap();
        let d = max_diff(l.last(0), all.get(0, i));
        assert!(d < 1e-4, "position {i}: max diff {d:e}");
    }
    assert_eq!(step.len(), A.len());
}

#[test]
fn rows_are_independent() {
    let m = model();
    let mut both = m.new_cache(2).unwrap();
    let l = block_on(m.forward(&mut both, &[&A[..5], &B[..5]], 5)).unwrap();
    let l2 = block_on(m.forward(&mut both, &[&A[5..6], &B[5..6]], 1)).unwrap();
    for (r, seq) in [A, B].iter().enumerate() {
        let mut alone = m.new_cache(1).unwrap();
        let s = block_on(m.forward(&mut alone, &[&seq[..6]], 6)).unwrap();
        for p in 0..5 {
            let d = max_diff(l.get(r, p), s.get(0, p));
            assert!(d < 1e-4, "row {r} position {p}: max diff {d:e}");
        }
        let d = max_diff(l2.last(r), s.get(0, 5));
        assert!(d < 1e-4, "row {r} decode step: max diff {d:e}");
    }
}

#[test]
fn truncate_rolls_back() {
    let m = model();
    let mut cache = m.new_cache(1).unwrap();
    block_on(m.forward(&mut cache, &[&A[..6]], 1)).unwrap();
    let want = block_on(m.forward(&mut cache, &[&A[6..7]], 1)).unwrap();
    block_on(m.forward(&mut cache, &[&B[..4]], 4)).unwrap(); // a rejected draft
    cache.truncate(6);
    assert_eq!(cache.len(), 6);
    let got = block_on(m.forward(&mut cache, &[&A[6..7]], 1)).unwrap();
    let d = max_diff(got.last(0), want.last(0));
    assert!(d < 1e-5, "after truncate: max diff {d:e}");
}

#[test]
fn reorder_gathers_rows() {
    let m = model();
    let mut cache = m.new_cache(2).unwrap();
    block_on(m.forward(&mut cache, &[&A[..4], &B[..4]], 1)).unwrap();
    cache.reorder(&[1, 0, 1]).unwrap();
    assert_eq!(cache.rows(), 3);
    let got = block_on(m.forward(&mut cache, &[&[7], &[7], &[9]], 1)).unwrap();
    for (r, (seq, next)) in [(&B, 7u32), (&A, 7), (&B, 9)].iter().enumerate() {
        let mut alone = m.new_cache(1).unwrap();
        let mut ids = seq[..4].to_vec();
        ids.push(*next);
        let want = block_on(m.forward(&mut alone, &[&ids], 1)).unwrap();
        let d = max_diff(got.last(r), want.last(0));
        assert!(d < 1e-4, "row {r}: max diff {d:e}");
    }
    assert!(cache.reorder(&[3]).is_err());
}

#[test]
fn context_limit_and_bad_ids_are_errors() {
    let m = model(); // n_positions = 64
    let mut cache = m.new_cache(1).unwrap();
    let long = vec![1u32; 65];
    let err = block_on(m.forward(&mut cache, &[&long], 1)).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("context of 64"),
        "{err}"
    );
    let err = block_on(m.forward(&mut cache, &[&[50257]], 1)).unwrap_err();
    assert!(err.to_string().contains("outside the vocabulary"), "{err}");
    // The ids a summary names are checked too, on every backend.
    let err = block_on(m.forward_top(&mut cache, &[&[1]], 1, 5, &[50257])).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("outside the vocabulary"),
        "{err}"
    );
    let err = block_on(m.forward_top(&mut cache, &[&[1]], 1, 5, &[0; 9])).unwrap_err();
    assert!(err.to_string().contains("at most 8 named ids"), "{err}");
    assert_eq!(cache.len(), 0, "a failed call leaves the cache as it was");
}
