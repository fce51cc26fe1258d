//! Typical-p, ε- and η-sampling and top-H against `transformers`' own warpers
//! (`TypicalLogitsWarper`, `EpsilonLogitsWarper`, `EtaLogitsWarper`,
//! `TopHLogitsWarper`; fixture `warper_chains` of `tests/fixtures/processors.json`
//! by `tests/golden/make_processor_fixtures.py`, transformers 5.23.0, torch 2.15):
//! the same support and probabilities within 1e-5, alone at edge values and
//! chained with temperature, top-k, top-p, min-p, the repetition penalty and
//! the n-gram ban in transformers' order; then edge cases, the errors for
//! values out of range, and properties that hold for any logits.
//!
//! ```python
//! for p in [RepetitionPenaltyLogitsProcessor(θ), NoRepeatNGramLogitsProcessor(n), TemperatureLogitsWarper(T),
//!           TopHLogitsWarper(h), TopKLogitsWarper(k), TopPLogitsWarper(p), MinPLogitsWarper(m),
//!           TypicalLogitsWarper(t), EpsilonLogitsWarper(ε), EtaLogitsWarper(η)]:   # those set
//!     scores = p(input_ids, scores)
//! torch.softmax(scores, -1)
//! ```

mod common;

use common::processors::{check_cases, processor_fixture, support};
use engine::decoding::steps::Cut;
use engine::decoding::{argmax, SamplingParams};
use proptest::prelude::*;

#[test]
fn every_warper_chain_matches_transformers() {
    let worst = check_cases(&processor_fixture(), "warper_chains");
    eprintln!("typical / ε / η / top-H chains: max |Δp| vs transformers = {worst:.2e}");
}

fn with(x: &[f32], f: impl Fn(&mut SamplingParams)) -> engine::decoding::Processed {
    let mut p = SamplingParams::default();
    f(&mut p);
    p.validate().unwrap();
    p.process(x, &[])
}

#[test]
fn edge_cases() {
    let x = [1.0, 3.0, 2.0, 3.0, f32::NEG_INFINITY, -1.0];
    let all_finite = vec![0, 1, 2, 3, 5];
    // typical_p = 1 and ε = η = 0 are no cut at all (transformers leaves them out).
    assert_eq!(support(&with(&x, |p| p.typical_p = Some(1.0))), all_finite);
    assert_eq!(
        support(&with(&x, |p| p.epsilon_cutoff = Some(0.0))),
        all_finite
    );
    assert_eq!(support(&with(&x, |p| p.eta_cutoff = Some(0.0))), all_finite);
    // A tiny mass keeps the tokens closest to the entropy, ties together...
    let t = with(&x, |p| p.typical_p = Some(1e-6));
    assert_eq!(support(&t), vec![1, 3]);
    assert_eq!((t.cut[2], t.cut[4]), (Some(Cut::Typical), None));
    // ... and they need not be the most likely: one token at 40% among 30 at
    // 2% is further from the entropy (2.7 nats) than they are.
    let mut spread = vec![0.0f32; 31];
    spread[0] = 3.0;
    let t = with(&spread, |p| p.typical_p = Some(1e-6));
    assert_eq!(support(&t), (1..31).collect::<Vec<u32>>());
    assert_eq!(t.cut[0], Some(Cut::Typical));
    // ε above every probability keeps the tied maxima, both of them.
    let e = with(&x, |p| p.epsilon_cutoff = Some(0.9));
    assert_eq!(support(&e), vec![1, 3]);
    assert_eq!(e.cut[0], Some(Cut::Epsilon));
    let n = with(&x, |p| p.eta_cutoff = Some(0.9));
    assert_eq!(support(&n), vec![1, 3]);
    assert_eq!(n.cut[2], Some(Cut::Eta));
    // Top-H with a tiny share keeps the most likely token only: of tied ones,
    // the lower id.
    let h = with(&x, |p| p.top_h = Some(1e-6));
    assert_eq!(support(&h), vec![1]);
    assert_eq!((h.cut[3], h.cut[4]), (Some(Cut::TopH), None));
    // Top-H considers the 100 most likely tokens only, even at 1.
    let flat = vec![0.0f32; 300];
    assert_eq!(support(&with(&flat, |p| p.top_h = Some(1.0))).len(), 100);
    // Greedy skips the warpers, as transformers' greedy search does.
    let g = with(&x, |p| {
        p.temperature = 0.0;
        p.typical_p = Some(1e-6);
    });
    assert_eq!(support(&g), vec![1]);
}

#[test]
fn invalid_values_say_what_is_wrong() {
    let check = |f: &dyn Fn(&mut SamplingParams), want: &str| {
        let mut p = SamplingParams::default();
        f(&mut p);
        let e = p.validate().unwrap_err();
        assert!(e.is_bad_input());
        assert_eq!(e.to_string(), want);
    };
    check(
        &|p| p.typical_p = Some(0.0),
        "--typical-p must be in (0, 1], got 0",
    );
    check(
        &|p| p.typical_p = Some(1.5),
        "--typical-p must be in (0, 1], got 1.5",
    );
    check(
        &|p| p.typical_p = Some(f32::NAN),
        "--typical-p must be in (0, 1], got NaN",
    );
    let e = "--epsilon-cutoff must be in [0, 1)";
    check(
        &|p| p.epsilon_cutoff = Some(-0.1),
        &format!("{e}, got -0.1"),
    );
    check(&|p| p.epsilon_cutoff = Some(1.0), &format!("{e}, got 1"));
    let e = "--eta-cutoff must be in [0, 1)";
    check(&|p| p.eta_cutoff = Some(-1e-3), &format!("{e}, got -0.001"));
    check(
        &|p| p.eta_cutoff = Some(f32::INFINITY),
        &format!("{e}, got inf"),
    );
    check(&|p| p.top_h = Some(0.0), "--top-h must be in (0, 1], got 0");
    check(
        &|p| p.top_h = Some(1.01),
        "--top-h must be in (0, 1], got 1.01",
    );
}

fn logits_strategy() -> impl Strategy<Value = Vec<f32>> {
    let logit = prop_oneof![1 => Just(f32::NEG_INFINITY), 9 => -30.0f32..30.0];
    prop::collection::vec(logit, 2..300)
        .prop_filter("a finite logit", |x| x.iter().any(|v| v.is_finite()))
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(300) })]

    #[test]
    fn normalized_never_nan_and_only_shrinking(
        x in logits_strategy(),
        t in 0.05f32..3.0,
        typical in prop::option::of(1e-6f32..=1.0),
        epsilon in prop::option::of(0.0f32..0.999),
        eta in prop::option::of(0.0f32..0.999),
        top_h in prop::option::of(1e-6f32..=1.0),
    ) {
        let base = SamplingParams { temperature: t, ..Default::default() };
        let steps = [
            SamplingParams { top_h, ..base.clone() },
            SamplingParams { top_h, typical_p: typical, ..base.clone() },
            SamplingParams { top_h, typical_p: typical, epsilon_cutoff: epsilon, ..base.clone() },
            SamplingParams { top_h, typical_p: typical, epsilon_cutoff: epsilon, eta_cutoff: eta, ..base.clone() },
        ];
        let mut previous = support(&base.process(&x, &[]));
        for params in &steps {
            let out = params.process(&x, &[]);
            for v in out.scaled.iter().chain(&out.probs) {
                prop_assert!(v.is_finite() && *v >= 0.0, "{v}");
            }
            let total: f32 = out.probs.iter().sum();
            prop_assert!((total - 1.0).abs() < 1e-4, "{params:?}: sum {total}");
            let s = support(&out);
            prop_assert!(s.iter().all(|id| previous.contains(id)), "{params:?} grew the support");
            for i in 0..x.len() {
                // A token loses its probability only by a cut (or underflow
                // under temperature), and a cut token has none.
                if out.scaled[i] > 0.0 && out.probs[i] == 0.0 {
                    prop_assert!(out.cut[i].is_some());
                }
                if out.cut[i].is_some() {
                    prop_assert_eq!(out.probs[i], 0.0);
                }
            }
            previous = s;
        }
        // ε, η and top-H never cut the most likely token (typical may).
        let best = argmax(&x) as u32;
        for params in [
            SamplingParams { epsilon_cutoff: epsilon, ..base.clone() },
            SamplingParams { eta_cutoff: eta, ..base.clone() },
            SamplingParams { top_h, ..base.clone() },
        ] {
            prop_assert!(support(&params.process(&x, &[])).contains(&best), "{params:?}");
        }
    }
}
