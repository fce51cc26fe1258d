//! The sampling processors against `transformers`' own (fixture by
//! `tests/golden/make_processor_fixtures.py`; transformers 5.23.0, torch 2.15):
//! the same support and probabilities within 1e-5 for every chain, then the
//! edge cases and properties that hold for any logits.

mod common;

use common::processors::{check_cases, processor_fixture, support};
use engine::decoding::steps::Cut;
use engine::decoding::{argmax, log_softmax, SamplingParams};
use proptest::prelude::*;

#[test]
fn every_chain_matches_transformers() {
    let worst = check_cases(&processor_fixture(), "chains");
    println!("all chains: max |Δp| = {worst:e}");
}

#[test]
fn edge_cases() {
    let x = [1.0, 3.0, 2.0, 3.0, f32::NEG_INFINITY, -1.0];
    let all_finite: Vec<u32> = vec![0, 1, 2, 3, 5];
    let with = |f: &dyn Fn(&mut SamplingParams)| {
        let mut p = SamplingParams::default();
        f(&mut p);
        p.validate().unwrap();
        p.process(&x, &[])
    };
    // Temperature 0: greedy, the first of tied maxima, no randomness needed.
    let g = with(&|p| p.temperature = 0.0);
    assert_eq!(support(&g), vec![1]);
    assert_eq!(
        g.cut[3],
        Some(Cut::Greedy),
        "greedy keeps the argmax only: the others are cut by greedy, not top-k"
    );
    assert_eq!(g.cut[4], None, "a -inf logit is not reported as cut");
    // Top-k larger than the vocabulary and top-p = 1 keep everything finite.
    assert_eq!(support(&with(&|p| p.top_k = Some(60_000))), all_finite);
    assert_eq!(support(&with(&|p| p.top_p = Some(1.0))), all_finite);
    assert_eq!(support(&with(&|p| p.min_p = Some(0.0))), all_finite);
    // Ties at the cut: top-k keeps every token tied with the k-th.
    assert_eq!(support(&with(&|p| p.top_k = Some(1))), vec![1, 3]);
    // Top-p with the tie straddling the cut keeps the lower id.
    let t = with(&|p| p.top_p = Some(0.3));
    assert_eq!(support(&t), vec![1]);
    assert_eq!(t.cut[3], Some(Cut::TopP));
    // All but one cut.
    let peaked = [0.0, 40.0, 0.0, 0.0];
    let p = SamplingParams {
        min_p: Some(0.5),
        ..Default::default()
    }
    .process(&peaked, &[]);
    assert_eq!(p.probs, vec![0.0, 1.0, 0.0, 0.0]);
    assert_eq!(
        p.cut,
        vec![Some(Cut::MinP), None, Some(Cut::MinP), Some(Cut::MinP)]
    );
    // Every logit -inf: zeros, never NaN.
    let none = SamplingParams::default().process(&[f32::NEG_INFINITY; 3], &[]);
    assert_eq!(none.probs, vec![0.0; 3]);
    // No-repeat-n-gram: "1 2 ... 1" bans 2; min-new-tokens bans are reported.
    let ctx = [1, 2, 5, 1];
    let n = SamplingParams {
        no_repeat_ngram_size: Some(2),
        ..Default::default()
    };
    let banned = n.process_with_bans(&x, &ctx, &[(5, Cut::MinNewTokens)]);
    assert_eq!(banned.cut[2], Some(Cut::NoRepeatNgram));
    assert_eq!(banned.cut[5], Some(Cut::MinNewTokens));
    assert_eq!(support(&banned), vec![0, 1, 3]);
    // Candidates: the top raw tokens plus the kept ones, by raw probability.
    let c = with(&|p| p.top_k = Some(1)).top_candidates(2);
    assert_eq!(c.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1, 3]);
    assert!((c[0].prob - 0.5).abs() < 1e-6 && c[0].cut.is_none());
}

#[test]
fn invalid_params_say_what_is_wrong() {
    let check = |p: SamplingParams, want: &str| {
        let e = p.validate().unwrap_err();
        assert!(e.is_bad_input());
        assert_eq!(e.to_string(), want);
    };
    let d = SamplingParams::default;
    check(
        SamplingParams {
            top_p: Some(0.0),
            ..d()
        },
        "--top-p must be in (0, 1], got 0",
    );
    check(
        SamplingParams {
            top_p: Some(1.5),
            ..d()
        },
        "--top-p must be in (0, 1], got 1.5",
    );
    check(
        SamplingParams {
            min_p: Some(-0.1),
            ..d()
        },
        "--min-p must be in [0, 1], got -0.1",
    );
    check(
        SamplingParams {
            top_k: Some(0),
            ..d()
        },
        "--top-k must be at least 1, got 0",
    );
    check(
        SamplingParams {
            temperature: -1.0,
            ..d()
        },
        "--temperature must be finite and ≥ 0 (0 means greedy), got -1",
    );
    check(
        SamplingParams {
            temperature: f32::NAN,
            ..d()
        },
        "--temperature must be finite and ≥ 0 (0 means greedy), got NaN",
    );
    check(
        SamplingParams {
            repetition_penalty: Some(0.0),
            ..d()
        },
        "--repetition-penalty must be finite and > 0 (1 means none), got 0",
    );
    check(
        SamplingParams {
            no_repeat_ngram_size: Some(0),
            ..d()
        },
        "--no-repeat-ngram-size must be at least 1, got 0",
    );
}

fn logit() -> impl Strategy<Value = f32> {
    prop_oneof![1 => Just(f32::NEG_INFINITY), 9 => -30.0f32..30.0]
}

fn logits_strategy() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(logit(), 2..200)
        .prop_filter("a finite logit", |x| x.iter().any(|v| v.is_finite()))
}

fn params_strategy() -> impl Strategy<Value = SamplingParams> {
    (
        0.05f32..3.0,
        prop::option::of(1usize..250),
        prop::option::of(0.01f32..=1.0),
        prop::option::of(0.0f32..=1.0),
        prop::option::of(0.5f32..2.0),
        prop::option::of(1usize..4),
    )
        .prop_map(
            |(temperature, top_k, top_p, min_p, repetition_penalty, no_repeat_ngram_size)| {
                SamplingParams {
                    temperature,
                    top_k,
                    top_p,
                    min_p,
                    repetition_penalty,
                    no_repeat_ngram_size,
                    ..SamplingParams::default()
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(300) })]

    #[test]
    fn normalized_and_never_nan(x in logits_strategy(), p in params_strategy(), ctx in prop::collection::vec(0u32..200, 0..12)) {
        let out = p.process(&x, &ctx);
        for v in out.raw.iter().chain(&out.scaled).chain(&out.probs) {
            prop_assert!(v.is_finite() && *v >= 0.0, "{v}");
        }
        let total: f32 = out.probs.iter().sum();
        if total == 0.0 {
            // Only when the n-gram ban removed every finite token.
            prop_assert!((0..x.len()).all(|i| x[i] == f32::NEG_INFINITY || out.cut[i] == Some(Cut::NoRepeatNgram)));
        } else {
            prop_assert!((total - 1.0).abs() < 1e-4, "sum {total}");
        }
        for i in 0..x.len() {
            // A token loses its probability only by a cut, and a cut token has none.
            if out.scaled[i] > 0.0 && out.probs[i] == 0.0 {
                prop_assert!(out.cut[i].is_some());
            }
            if out.cut[i].is_some() {
                prop_assert_eq!(out.probs[i], 0.0);
            }
        }
    }

    #[test]
    fn top_k_one_is_greedy(x in logits_strategy(), t in 0.05f32..3.0) {
        let greedy = SamplingParams { temperature: 0.0, ..Default::default() }.process(&x, &[]);
        let top1 = SamplingParams { temperature: t, top_k: Some(1), ..Default::default() }.process(&x, &[]);
        let best = argmax(&x);
        let chosen = argmax(&log_softmax(&x)) as u32;
        prop_assert_eq!(support(&greedy), vec![chosen]);
        let s = support(&top1);
        prop_assert!(s.contains(&(best as u32)) && s.contains(&chosen));
        prop_assert!(s.iter().all(|&i| x[i as usize] / t == x[best] / t));
    }

    #[test]
    fn truncation_keeps_the_argmax_and_only_shrinks(x in logits_strategy(), p in params_strategy()) {
        let base = SamplingParams { temperature: p.temperature, ..Default::default() };
        let scaled: Vec<f32> = x.iter().map(|v| v / p.temperature).collect();
        let best = argmax(&scaled);
        let mut previous = support(&base.process(&x, &[]));
        let steps = [
            SamplingParams { top_k: p.top_k, ..base.clone() },
            SamplingParams { top_k: p.top_k, top_p: p.top_p, ..base.clone() },
            SamplingParams { top_k: p.top_k, top_p: p.top_p, min_p: p.min_p, ..base.clone() },
            SamplingParams { top_p: p.top_p, ..base.clone() },
            SamplingParams { min_p: p.min_p, ..base.clone() },
        ];
        for (i, params) in steps.iter().enumerate() {
            let s = support(&params.process(&x, &[]));
            prop_assert!(s.contains(&(best as u32)), "{params:?} dropped the argmax");
            if i < 3 {
                prop_assert!(s.iter().all(|id| previous.contains(id)), "{params:?} grew the support");
                previous = s;
            }
        }
    }
}
