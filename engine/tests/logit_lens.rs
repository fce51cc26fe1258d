//! The logit lens (`decoding::logit_lens`) and the per-layer hidden states it
//! reads, against `transformers`' `output_hidden_states` on the seeded
//! checkpoints (`tests/fixtures/lens.json`, from
//! `tests/golden/make_lens_fixtures.py`): for each case, at the prompt's last
//! position, every layer's state and its lens — the top 5 ids of
//! `lm_head(ln_f(hidden_states[i]))` with their logits and probabilities.
//! On the test device (`GPT2_TEST_DEVICE`) and on candle's tensor ops.
//!
//! ```python
//! out = model(ids, output_hidden_states=True)
//! lens = [model.lm_head(model.transformer.ln_f(h[0, -1])) for h in out.hidden_states[:-1]]
//! lens.append(out.logits[0, -1])
//! ```

mod common;

use common::{checkpoint, ids, json_fixture, model_for, recipe};
use engine::backend::candle::CandleModel;
use engine::backend::{block_on, HiddenRequest, KvCache, LanguageModel, Precision};
use engine::decoding::logit_lens;
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Checks one model's lens and states against every case of its checkpoint.
fn check<M: LanguageModel>(backend: &str, model: &M, name: &str, fixture: &Value) {
    let n_layer = model.config().n_layer;
    for case in fixture["cases"].as_array().unwrap() {
        if case["checkpoint"] != name {
            continue;
        }
        let prompt = ids(&case["prompt_ids"]);
        let label = format!("{backend} {name} {:?}", case["prompt"].as_str().unwrap());
        let lens = block_on(logit_lens(model, &prompt, 5)).unwrap();
        let want = case["layers"].as_array().unwrap();
        assert_eq!(lens.len(), n_layer + 1, "{label}: layers");
        let (mut logit_diff, mut prob_diff) = (0f32, 0f32);
        for (got, want) in lens.iter().zip(want) {
            let got_ids: Vec<u32> = got.top.iter().map(|t| t.0).collect();
            assert_eq!(
                got_ids,
                ids(&want["top_ids"]),
                "{label}: layer {} top ids",
                got.layer
            );
            let logits: Vec<f32> = got.top.iter().map(|t| t.1).collect();
            let probs: Vec<f32> = got.top.iter().map(|t| t.2).collect();
            logit_diff = logit_diff.max(max_diff(&logits, &floats(&want["top_logits"])));
            prob_diff = prob_diff.max(max_diff(&probs, &floats(&want["top_probs"])));
        }
        // The states the lens reads, at the same position.
        let layers: Vec<usize> = (0..=n_layer).collect();
        let want_states = HiddenRequest {
            layers: &layers,
            positions: 1,
            heads: &[],
            lens: false,
        };
        let mut cache = model.new_cache(1).unwrap();
        cache.reserve(prompt.len()).unwrap();
        let hidden =
            block_on(model.forward_hidden(&mut cache, &[&prompt], 1, &want_states)).unwrap();
        let state_diff = (0..=n_layer)
            .map(|i| max_diff(hidden.state(i, 0, 0), &floats(&case["states"][i])))
            .fold(0.0, f32::max);
        eprintln!(
            "{label}: max |Δ| lens logits {logit_diff:.2e}, probabilities {prob_diff:.2e}, \
             states {state_diff:.2e}"
        );
        for (what, d) in [
            ("lens logits", logit_diff),
            ("probabilities", prob_diff),
            ("states", state_diff),
        ] {
            assert!(d <= TOLERANCE, "{label}: {what} differ by {d:e}");
        }
    }
}

#[test]
fn logit_lens_matches_transformers_output_hidden_states() {
    let fixture = json_fixture("lens.json");
    for (name, entry) in fixture["checkpoints"].as_object().unwrap() {
        let model = model_for(entry);
        check("test device", &model, name, &fixture);
        let r = recipe(entry);
        let ckpt = checkpoint(r.safetensors_bytes(), &r.config);
        let device = candle_core::Device::Cpu;
        let candle = CandleModel::load(&ckpt, &r.config, &device, Precision::F32).unwrap();
        check("candle", &candle, name, &fixture);
    }
}

#[test]
fn a_lens_of_nothing_is_an_error() {
    let fixture = json_fixture("lens.json");
    let model = model_for(&fixture["checkpoints"]["tiny"]);
    let e = block_on(logit_lens(&model, &[], 5)).unwrap_err();
    assert!(
        e.is_bad_input() && e.to_string().contains("at least one token"),
        "{e}"
    );
}
