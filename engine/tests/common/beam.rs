//! The beam fixtures (`tests/fixtures/beam.json`, written by
//! `tests/golden/make_beam_fixtures.py` with transformers 5.23, and
//! `group_beam.json`, by `make_group_beam_fixtures.py` with 4.55): a case's
//! settings as the engine's, and the sequences transformers returned.

use std::fmt::Debug;

use engine::backend::{block_on, Model};
use engine::decoding::steps::Step;
use engine::decoding::{beam_search, BeamParams, EarlyStopping, GenerateOptions, Generated};
use serde_json::Value;

use super::ids;

/// Scores must agree with `sequences_scores` within this.
pub const TOLERANCE: f32 = 1e-4;

/// End-of-text: the end token and the padding unless a case says otherwise.
pub const EOS: u32 = 50256;

/// Up to `max_new_tokens`, ending at end-of-text.
pub fn until_eos(max_new_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens,
        min_new_tokens: 0,
        eos_token_id: Some(EOS),
        forced: Vec::new(),
        whole_rows: false,
    }
}

/// The first step's beams after " refuses" (17567), where end-of-text is the
/// most likely first token on `tiny`.
pub fn first_step_after_refuses(model: &Model, params: &BeamParams) -> Step {
    let mut steps = Vec::new();
    block_on(beam_search(
        model,
        &[17567],
        &until_eos(4),
        params,
        &mut |s| steps.push(s),
    ))
    .unwrap();
    let step = steps.swap_remove(0);
    assert!(matches!(step, Step::Beams { .. }), "not a beam step");
    step
}

/// A case's max and min new tokens and end token.
pub fn options(settings: &Value) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens: settings["max_new_tokens"].as_u64().unwrap() as usize,
        min_new_tokens: settings["min_new_tokens"].as_u64().unwrap() as usize,
        eos_token_id: Some(settings["eos_token_id"].as_u64().unwrap() as u32),
        forced: Vec::new(),
        whole_rows: false,
    }
}

/// A case's beam settings (one group, no penalty, where it names none).
pub fn params(settings: &Value) -> BeamParams {
    let n = |k: &str| settings[k].as_u64().unwrap() as usize;
    BeamParams {
        num_beams: n("num_beams"),
        length_penalty: settings["length_penalty"].as_f64().unwrap() as f32,
        early_stopping: match &settings["early_stopping"] {
            Value::Bool(true) => EarlyStopping::True,
            Value::Bool(false) => EarlyStopping::False,
            Value::String(s) if s == "never" => EarlyStopping::Never,
            other => panic!("early_stopping {other}"),
        },
        num_return_sequences: n("num_return_sequences"),
        no_repeat_ngram_size: settings["no_repeat_ngram_size"]
            .as_u64()
            .map(|n| n as usize),
        num_beam_groups: settings
            .get("num_beam_groups")
            .map_or(1, |g| g.as_u64().unwrap() as usize),
        diversity_penalty: settings
            .get("diversity_penalty")
            .map_or(0.0, |d| d.as_f64().unwrap() as f32),
    }
}

/// transformers' sequences for a case: new ids and score (none for greedy
/// search, which has no `sequences_scores`).
pub fn expected(case: &Value) -> Vec<(Vec<u32>, Option<f32>)> {
    case["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (ids(&s["new_ids"]), s["score"].as_f64().map(|v| v as f32)))
        .collect()
}

/// The same sequences in the same order, scores within [`TOLERANCE`].
pub fn same<'a>(
    got: impl IntoIterator<Item = &'a Generated>,
    want: &[(Vec<u32>, Option<f32>)],
) -> bool {
    let got: Vec<&Generated> = got.into_iter().collect();
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, (ids, score))| {
            g.ids == *ids && score.is_none_or(|s| (g.score - s).abs() < TOLERANCE)
        })
}

/// What a failing case says: the checkpoint, prompt and settings, then
/// transformers' sequences over the engine's.
pub fn mismatch(
    name: &str,
    case: &Value,
    want: &[(Vec<u32>, Option<f32>)],
    got: impl Debug,
) -> String {
    format!(
        "{name} {:?} {} {}\n  expected {want:?}\n  got      {got:?}",
        case["prompt"], case["prompt_ids"], case["settings"]
    )
}

/// Asserts that `params` are refused as bad input saying `message`, both by
/// their validation and by a search on `model`.
pub fn assert_refused(model: &Model, params: &BeamParams, message: &str) {
    let err = params.validate().unwrap_err();
    assert!(err.is_bad_input());
    assert!(err.to_string().starts_with(message), "{err}");
    let err = block_on(beam_search(
        model,
        &[1, 2],
        &until_eos(4),
        params,
        &mut |_| {},
    ))
    .unwrap_err();
    assert!(err.to_string().starts_with(message), "{err}");
}
