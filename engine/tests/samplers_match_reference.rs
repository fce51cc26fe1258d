//! The samplers `transformers` does not have — top-nσ, XTC, DRY, mirostat v2,
//! presence/frequency penalties — against written references
//! (`tests/golden/reference_samplers.py`, from the papers and from llama.cpp's
//! and text-generation-webui's implementations, cited there): the same support
//! and probabilities within 1e-5 for every case of
//! `tests/fixtures/sampler_references.json` (made by
//! `tests/golden/make_sampler_reference_fixtures.py`), and mirostat's μ over
//! several steps with given chosen tokens; then properties that hold for any
//! logits.

mod common;

use std::collections::BTreeMap;

use common::processors::{compare, floats, params, support};
use common::{ids, json_fixture};
use engine::decoding::processors::mirostat;
use engine::decoding::steps::Cut;
use engine::decoding::{Mirostat, Processed, SamplingParams, StepInputs, Xtc};
use proptest::prelude::*;
use serde_json::Value;

/// μ is a float32 updated once a step; the reference runs in float64.
const MU_TOLERANCE: f32 = 1e-4;

/// Every logit vector by name: the fixture's own and those it shares with
/// `processors.json`.
fn all_logits(fx: &Value) -> BTreeMap<String, Vec<f32>> {
    let shared = json_fixture(fx["shared_logits"].as_str().unwrap());
    shared["logits"]
        .as_object()
        .unwrap()
        .iter()
        .chain(fx["logits"].as_object().unwrap())
        .map(|(k, v)| (k.clone(), floats(v)))
        .collect()
}

/// Same support as the case's, probabilities within the tolerance; returns the max |Δp|.
fn compare_case(name: &str, p: &Processed, case: &Value) -> f32 {
    compare(name, p, &ids(&case["support"]), &floats(&case["probs"]))
}

fn step(params: &SamplingParams, x: &[f32], case: &Value, mu: Option<f32>) -> Processed {
    let context = case.get("context").map(ids).unwrap_or_default();
    let prompt_len = case
        .get("prompt_len")
        .map_or(0, |v| v.as_u64().unwrap() as usize);
    let inputs = StepInputs {
        context: &context,
        prompt_len,
        bans: &[],
        xtc_coin: case.get("xtc_coin").map(|c| c.as_f64().unwrap()),
        mirostat_mu: mu,
        ..Default::default()
    };
    params.process_step(x, &inputs)
}

#[test]
fn every_case_matches_the_reference() {
    let fx = json_fixture("sampler_references.json");
    let logits = all_logits(&fx);
    let mut worst: BTreeMap<&str, f32> = BTreeMap::new();
    for case in fx["cases"].as_array().unwrap() {
        let p = params(&case["params"]);
        p.validate().unwrap();
        let name = format!(
            "{} {} context {} coin {}",
            case["logits"], case["params"], case["context"], case["xtc_coin"]
        );
        let x = &logits[case["logits"].as_str().unwrap()];
        let mu = case.get("mirostat_mu").map(|m| m.as_f64().unwrap() as f32);
        let processed = step(&p, x, case, mu);
        let total: f32 = processed.probs.iter().sum();
        assert!((total - 1.0).abs() < 1e-4, "{name}: sums to {total}");
        let d = compare_case(&name, &processed, case);
        println!(
            "{name}: support {}, max |Δp| = {d:e}",
            support(&processed).len()
        );
        let kind = [
            "xtc",
            "dry",
            "mirostat",
            "top_n_sigma",
            "presence_penalty",
            "frequency_penalty",
        ]
        .into_iter()
        .find(|k| case["params"].get(k).is_some())
        .unwrap();
        let w = worst.entry(kind).or_default();
        *w = w.max(d);
    }
    for (kind, d) in worst {
        println!("{kind}: max |Δp| = {d:e}");
    }
}

#[test]
fn mirostat_mu_follows_the_chosen_tokens() {
    let fx = json_fixture("sampler_references.json");
    let logits = all_logits(&fx);
    let (mut worst_p, mut worst_mu) = (0f32, 0f32);
    for run in fx["mirostat_runs"].as_array().unwrap() {
        let p = params(&run["params"]);
        p.validate().unwrap();
        let m = p.mirostat.unwrap();
        // The engine's μ, from 2τ, fed back step by step.
        let mut mu = mirostat::initial_mu(&m);
        for (t, s) in run["steps"].as_array().unwrap().iter().enumerate() {
            let name = format!("{} step {t} ({})", run["params"], s["logits"]);
            let want = s["mu"].as_f64().unwrap() as f32;
            let d_mu = (mu - want).abs();
            assert!(d_mu < MU_TOLERANCE, "{name}: μ {mu} vs reference {want}");
            worst_mu = worst_mu.max(d_mu);
            let x = &logits[s["logits"].as_str().unwrap()];
            let processed = step(&p, x, s, Some(mu));
            worst_p = worst_p.max(compare_case(&name, &processed, s));
            let chosen = s["chosen"].as_u64().unwrap() as usize;
            mu = mirostat::update(mu, &m, processed.probs[chosen]);
        }
        let want = run["final_mu"].as_f64().unwrap() as f32;
        assert!(
            (mu - want).abs() < MU_TOLERANCE,
            "{}: final μ {mu} vs {want}",
            run["params"]
        );
        worst_mu = worst_mu.max((mu - want).abs());
    }
    println!("mirostat runs: max |Δp| = {worst_p:e}, max |Δμ| = {worst_mu:e}");
}

fn logits_strategy() -> impl Strategy<Value = Vec<f32>> {
    let logit = prop_oneof![1 => Just(f32::NEG_INFINITY), 9 => -20.0f32..20.0];
    prop::collection::vec(logit, 2..120)
        .prop_filter("a finite logit", |x| x.iter().any(|v| v.is_finite()))
}

fn with(x: &[f32], p: SamplingParams, coin: Option<f64>, mu: Option<f32>) -> Processed {
    let inputs = StepInputs {
        xtc_coin: coin,
        mirostat_mu: mu,
        ..Default::default()
    };
    p.process_step(x, &inputs)
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(300) })]

    /// XTC only removes tokens at or above the threshold, keeps the least likely
    /// of them, and does nothing when the coin is not below the probability.
    #[test]
    fn xtc_removes_only_top_choices(x in logits_strategy(), threshold in 0.0f32..0.6, probability in 0.0f32..=1.0, coin in 0.0f64..1.0) {
        let xtc = Some(Xtc { threshold, probability });
        let out = with(&x, SamplingParams { xtc, ..Default::default() }, Some(coin), None);
        let before = with(&x, SamplingParams::default(), None, None).probs;
        let removed: Vec<usize> = (0..x.len()).filter(|&i| out.cut[i] == Some(Cut::Xtc)).collect();
        let above: Vec<usize> = (0..x.len()).filter(|&i| before[i] > 0.0 && before[i] >= threshold).collect();
        if coin >= probability as f64 || above.len() < 2 {
            prop_assert!(removed.is_empty());
        } else {
            prop_assert_eq!(removed.len(), above.len() - 1);
            prop_assert!(removed.iter().all(|i| above.contains(i)));
        }
        prop_assert!(!support(&out).is_empty());
    }

    /// Mirostat keeps the most likely token and every token whose surprise is at
    /// most μ, cutting the rest: a prefix of the tokens by probability.
    #[test]
    fn mirostat_keeps_a_prefix_within_mu(x in logits_strategy(), mu in 0.0f32..12.0) {
        let m = Some(Mirostat { tau: mu / 2.0, eta: 0.1 });
        let out = with(&x, SamplingParams { mirostat: m, ..Default::default() }, None, Some(mu));
        let before = with(&x, SamplingParams::default(), None, None).probs;
        let kept = support(&out);
        prop_assert!(!kept.is_empty());
        let min_kept = kept.iter().map(|&i| before[i as usize]).fold(1.0f32, f32::min);
        for (&p, &q) in before.iter().zip(&out.probs) {
            if p > 0.0 && q == 0.0 {
                prop_assert!(p <= min_kept && -p.log2() > mu);
            }
        }
        prop_assert!(kept.len() == 1 || kept.iter().all(|&i| -before[i as usize].log2() <= mu));
    }

    /// Top-nσ keeps the argmax, and a larger n never keeps fewer tokens.
    #[test]
    fn top_n_sigma_grows_with_n(x in logits_strategy(), n in 0.05f32..4.0, more in 0.0f32..3.0) {
        let run = |n: f32| support(&with(&x, SamplingParams { top_n_sigma: Some(n), ..Default::default() }, None, None));
        let (small, large) = (run(n), run(n + more));
        prop_assert!(small.contains(&(engine::decoding::argmax(&x) as u32)));
        prop_assert!(small.iter().all(|i| large.contains(i)));
    }
}
