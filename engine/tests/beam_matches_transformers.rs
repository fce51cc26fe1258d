//! Beam search against Hugging Face `transformers` 5.23 on the seeded random
//! checkpoints `tiny` and `odd` (fixture `tests/fixtures/beam.json`, written by
//! `tests/golden/make_beam_fixtures.py`):
//!
//! ```python
//! model.generate(ids, do_sample=False, num_beams=K, length_penalty=..., early_stopping=...,
//!                num_return_sequences=R, no_repeat_ngram_size=N, max_new_tokens=..., min_new_tokens=...,
//!                output_scores=True, return_dict_in_generate=True, pad_token_id=50256, eos_token_id=50256)
//! ```
//!
//! Every returned sequence's ids must be identical and its score within 1e-4
//! of `sequences_scores` (`num_beams = 1` cases are transformers' greedy search,
//! which has no `sequences_scores`: ids only). A few cases make a frequent token
//! the end token (`eos_token_id`) so that the `early_stopping` modes differ.

mod common;

use common::beam::{
    assert_refused, expected, first_step_after_refuses, mismatch, options, params, same, until_eos,
    EOS, TOLERANCE,
};
use common::beam_tree::check_tree;
use common::{fixture, ids, json_fixture, model_for};
use engine::backend::block_on;
use engine::decoding::steps::Step;
use engine::decoding::{beam_search, greedy, BeamParams, GenerateOptions};

#[test]
fn beam_search_matches_transformers() {
    let fx = json_fixture("beam.json");
    let mut failures = Vec::new();
    let mut eos_endings = 0;
    for name in ["tiny", "odd"] {
        let model = model_for(&fx["checkpoints"][name]);
        for case in fx["cases"].as_array().unwrap() {
            if case["checkpoint"] != name {
                continue;
            }
            let prompt = ids(&case["prompt_ids"]);
            let settings = &case["settings"];
            let mut steps = Vec::new();
            let got = block_on(beam_search(
                &model,
                &prompt,
                &options(settings),
                &params(settings),
                &mut |step| steps.push(step),
            ))
            .unwrap();
            assert!(!steps.is_empty());
            if let Err(e) = check_tree(&steps, &params(settings)) {
                failures.push(format!("{name} {}: the tree: {e}", case["settings"]));
            }
            let want = expected(case);
            eos_endings += want.iter().filter(|w| w.0.last() == Some(&EOS)).count();
            if !same(&got, &want) {
                let got: Vec<_> = got.iter().map(|g| (&g.ids, g.score)).collect();
                failures.push(mismatch(name, case, &want, got));
            }
        }
    }
    assert!(
        eos_endings > 0,
        "no case ends a hypothesis with end-of-text"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn one_beam_is_greedy() {
    let model = model_for(&fixture("tiny"));
    let prompt = [40, 423, 257, 4320];
    for min_new_tokens in [0, 5] {
        let options = GenerateOptions {
            min_new_tokens,
            ..until_eos(12)
        };
        let want = block_on(greedy(&model, &prompt, &options, &mut |_| {})).unwrap();
        let got = block_on(beam_search(
            &model,
            &prompt,
            &options,
            &BeamParams::default(),
            &mut |_| {},
        ))
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].ids, want.ids);
        // Beam scores are length-normalized (length_penalty 1: the mean).
        let mean = want.score / want.ids.len() as f32;
        assert!(
            (got[0].score - mean).abs() < TOLERANCE,
            "{} vs {mean}",
            got[0].score
        );
    }
}

#[test]
fn steps_report_live_and_finished_beams() {
    let model = model_for(&fixture("tiny"));
    let params = BeamParams {
        num_beams: 3,
        ..BeamParams::default()
    };
    let Step::Beams { beams, .. } = first_step_after_refuses(&model, &params) else {
        unreachable!()
    };
    let live: Vec<_> = beams.iter().filter(|b| !b.finished).collect();
    assert_eq!(live.len(), 3);
    assert!(live.windows(2).all(|w| w[0].logprob >= w[1].logprob));
    assert!(live.iter().all(|b| b.ids.len() == 1 && b.ids[0] != EOS));
    assert!(beams.iter().any(|b| b.finished && b.ids == [EOS]));
}

#[test]
fn invalid_params_are_clear_errors() {
    let model = model_for(&fixture("tiny"));
    let options = until_eos(4);
    let cases = [
        (
            BeamParams {
                num_beams: 0,
                ..BeamParams::default()
            },
            "--num-beams must be at least 1",
        ),
        (
            BeamParams {
                num_beams: 2,
                num_return_sequences: 3,
                ..BeamParams::default()
            },
            "--num-return-sequences must be between 1 and --num-beams (2), got 3",
        ),
        (
            BeamParams {
                num_return_sequences: 0,
                ..BeamParams::default()
            },
            "--num-return-sequences must be between 1",
        ),
        (
            BeamParams {
                length_penalty: f32::NAN,
                ..BeamParams::default()
            },
            "--length-penalty must be a finite number",
        ),
        (
            BeamParams {
                no_repeat_ngram_size: Some(0),
                ..BeamParams::default()
            },
            "--no-repeat-ngram-size must be at least 1",
        ),
    ];
    for (params, message) in cases {
        assert_refused(&model, &params, message);
    }
    let err = block_on(beam_search(
        &model,
        &[],
        &options,
        &BeamParams::default(),
        &mut |_| {},
    ))
    .unwrap_err();
    assert!(err.to_string().contains("prompt is empty"), "{err}");
}
