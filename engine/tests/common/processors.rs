//! The processor fixtures (`tests/fixtures/processors.json`, written by
//! `tests/golden/make_processor_fixtures.py`, and
//! `tests/fixtures/sampler_references.json`) and the comparison of one
//! processed distribution with `transformers`' or a written reference's.

use std::collections::BTreeSet;

use engine::decoding::{Dry, Guidance, Mirostat, Processed, SamplingParams, StepInputs, Xtc};
use serde_json::Value;

use super::{ids, json_fixture};

/// Probabilities must agree within this, on the same support.
pub const TOLERANCE: f32 = 1e-5;

/// The whole fixture.
pub fn processor_fixture() -> Value {
    json_fixture("processors.json")
}

/// Fixture logits or probabilities: shortest float32 decimals, parsed as f64
/// then rounded to f32; "-inf" for -inf.
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| match x.as_str() {
            Some("-inf") => f32::NEG_INFINITY,
            _ => x.as_f64().unwrap() as f32,
        })
        .collect()
}

/// The engine's settings for a case's `params` (`greedy`: temperature 0),
/// with the same names as the engine's fields.
pub fn params(v: &Value) -> SamplingParams {
    let f = |k: &str| v.get(k).map(|x| x.as_f64().unwrap() as f32);
    let n = |k: &str| v.get(k).map(|x| x.as_u64().unwrap() as usize);
    let greedy = v.get("greedy").and_then(Value::as_bool) == Some(true);
    SamplingParams {
        temperature: if greedy {
            0.0
        } else {
            f("temperature").unwrap_or(1.0)
        },
        top_k: n("top_k"),
        top_p: f("top_p"),
        min_p: f("min_p"),
        repetition_penalty: f("repetition_penalty"),
        no_repeat_ngram_size: n("no_repeat_ngram_size"),
        typical_p: f("typical_p"),
        epsilon_cutoff: f("epsilon_cutoff"),
        eta_cutoff: f("eta_cutoff"),
        top_h: f("top_h"),
        guidance: f("guidance_scale").map(|scale| Guidance {
            scale,
            negative_prompt: Vec::new(),
        }),
        top_n_sigma: f("top_n_sigma"),
        presence_penalty: f("presence_penalty"),
        frequency_penalty: f("frequency_penalty"),
        xtc: v.get("xtc").map(|x| Xtc {
            threshold: x["threshold"].as_f64().unwrap() as f32,
            probability: x["probability"].as_f64().unwrap() as f32,
        }),
        dry: v.get("dry").map(|d| Dry {
            multiplier: d["multiplier"].as_f64().unwrap() as f32,
            base: d["base"].as_f64().unwrap() as f32,
            allowed_length: d["allowed_length"].as_u64().unwrap() as usize,
            penalty_last_n: d["penalty_last_n"].as_u64().unwrap() as usize,
            breakers: ids(&d["breakers"]),
        }),
        mirostat: v.get("mirostat").map(|m| Mirostat {
            tau: m["tau"].as_f64().unwrap() as f32,
            eta: m["eta"].as_f64().unwrap() as f32,
        }),
        ..SamplingParams::default()
    }
}

/// The ids with positive probability.
pub fn support(p: &Processed) -> Vec<u32> {
    (0..p.probs.len() as u32)
        .filter(|&i| p.probs[i as usize] > 0.0)
        .collect()
}

/// Same support as the reference's `ids`, probabilities within [`TOLERANCE`]
/// of its `probs`; returns the max difference.
pub fn compare(name: &str, p: &Processed, ids: &[u32], probs: &[f32]) -> f32 {
    let got = support(p);
    if got != ids {
        let ours: Vec<_> = got.iter().filter(|i| !ids.contains(i)).collect();
        let theirs: Vec<_> = ids.iter().filter(|i| !got.contains(i)).collect();
        panic!(
            "{name}: support differs (sizes {} vs {}): only the engine keeps {ours:?}, \
             only the reference keeps {theirs:?}",
            got.len(),
            ids.len()
        );
    }
    let (mut max_diff, mut worst) = (0f32, 0);
    for (&id, &want) in ids.iter().zip(probs) {
        let d = (p.probs[id as usize] - want).abs();
        if d > max_diff {
            (max_diff, worst) = (d, id);
        }
    }
    assert!(
        max_diff < TOLERANCE,
        "{name}: max |Δp| = {max_diff:e} at id {worst}"
    );
    max_diff
}

/// Runs every case of `fx[key]` through [`SamplingParams::process_step`]
/// (`unconditional`: the fixture's unconditional logits, for guidance) and
/// checks it against transformers; prints each case and returns the largest
/// difference.
pub fn check_cases(fx: &Value, key: &str) -> f32 {
    let unconditional = floats(&fx["logits"]["unconditional"]);
    let mut overall = 0f32;
    let cases = fx[key].as_array().unwrap();
    assert!(!cases.is_empty(), "{key}: no cases");
    for case in cases {
        let name = format!("{} {}", case["logits"], case["params"]);
        let x = floats(&fx["logits"][case["logits"].as_str().unwrap()]);
        let p = params(&case["params"]);
        p.validate().unwrap();
        let context = ids(&case["context"]);
        let inputs = StepInputs {
            context: &context,
            prompt_len: context.len(),
            unconditional: p.guidance.as_ref().map(|_| &unconditional[..]),
            ..StepInputs::default()
        };
        let processed = p.process_step(&x, &inputs);
        let total: f32 = processed.probs.iter().sum();
        assert!(
            (total - 1.0).abs() < 1e-4,
            "{name}: probabilities sum to {total}"
        );
        let d = if case.get("tie_rule_support").is_some() {
            // transformers' unstable sort (or topk) chose among tied tokens:
            // the same count survives, and the ids differ only within one tie.
            let (ours, theirs) = (support(&processed), ids(&case["support"]));
            assert_eq!(ours.len(), theirs.len(), "{name}: support size");
            let a: BTreeSet<u32> = ours.iter().copied().collect();
            let b: BTreeSet<u32> = theirs.iter().copied().collect();
            let tied: BTreeSet<u32> = a
                .symmetric_difference(&b)
                .map(|&i| x[i as usize].to_bits())
                .collect();
            assert!(tied.len() <= 1, "{name}: support differs beyond one tie");
            let (ids_, probs_) = (
                ids(&case["tie_rule_support"]),
                floats(&case["tie_rule_probs"]),
            );
            compare(&name, &processed, &ids_, &probs_)
        } else {
            compare(
                &name,
                &processed,
                &ids(&case["support"]),
                &floats(&case["probs"]),
            )
        };
        println!(
            "{name}: support {}, max |Δp| = {d:e}",
            support(&processed).len()
        );
        overall = overall.max(d);
    }
    println!("{key}: {} cases, max |Δp| = {overall:e}", cases.len());
    overall
}
