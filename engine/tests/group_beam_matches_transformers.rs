//! Diverse (group) beam search against Hugging Face `transformers` 4.55 (the
//! last core `_group_beam_search`) on the seeded random checkpoints `tiny` and
//! `odd` (fixture `tests/fixtures/group_beam.json`, written by
//! `tests/golden/make_group_beam_fixtures.py`):
//!
//! ```python
//! model.generate(ids, do_sample=False, num_beams=K, num_beam_groups=G, diversity_penalty=D,
//!                length_penalty=..., early_stopping=..., num_return_sequences=R,
//!                no_repeat_ngram_size=N, max_new_tokens=..., min_new_tokens=...,
//!                output_scores=True, return_dict_in_generate=True,
//!                eos_token_id=E, pad_token_id=E)
//! ```
//!
//! Every returned sequence's ids must be identical and its score within 1e-4
//! of `sequences_scores`, on the test device (`GPT2_TEST_DEVICE`).

mod common;

use common::beam::{
    assert_refused, expected, first_step_after_refuses, mismatch, options, params, same, EOS,
};
use common::beam_tree::check_tree;
use common::{fixture, ids, json_fixture, model_for};
use engine::backend::block_on;
use engine::decoding::steps::Step;
use engine::decoding::{beam_search_in_groups, BeamParams};

#[test]
fn group_beam_search_matches_transformers() {
    let fx = json_fixture("group_beam.json");
    let (mut failures, mut cases, mut worst) = (Vec::new(), 0, 0.0f32);
    for name in ["tiny", "odd"] {
        let model = model_for(&fx["checkpoints"][name]);
        for case in fx["cases"].as_array().unwrap() {
            if case["checkpoint"] != name {
                continue;
            }
            cases += 1;
            let prompt = ids(&case["prompt_ids"]);
            let settings = &case["settings"];
            let params = params(settings);
            let mut groups_seen = vec![false; params.num_beam_groups];
            let mut steps = Vec::new();
            let got = block_on(beam_search_in_groups(
                &model,
                &prompt,
                &options(settings),
                &params,
                &mut |step| {
                    let Step::Beams { beams, .. } = &step else {
                        panic!("not a beam step")
                    };
                    beams.iter().for_each(|b| groups_seen[b.group] = true);
                    steps.push(step);
                },
            ))
            .unwrap();
            if let Err(e) = check_tree(&steps, &params) {
                failures.push(format!("{name} {}: the tree: {e}", case["settings"]));
            }
            assert!(groups_seen.iter().all(|&s| s), "a group never reported");
            let want = expected(case);
            let gap = got
                .iter()
                .zip(&want)
                .map(|((g, _), w)| (g.score - w.1.unwrap()).abs())
                .fold(0.0, f32::max);
            worst = worst.max(gap);
            if !same(got.iter().map(|(g, _)| g), &want) {
                let got: Vec<_> = got
                    .iter()
                    .map(|(g, group)| (&g.ids, g.score, group))
                    .collect();
                failures.push(mismatch(name, case, &want, got));
            }
        }
    }
    eprintln!("{cases} cases, largest score difference {worst:e}");
    assert!(cases >= 10, "only {cases} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Two groups on " refuses" (end-of-text first on `tiny`): every beam says its
/// group, each group lists its live beams then its finished hypotheses, and a
/// large penalty keeps group 1 off group 0's tokens of the same step.
#[test]
fn steps_report_each_beams_group() {
    let model = model_for(&fixture("tiny"));
    let params = BeamParams {
        num_beams: 4,
        num_beam_groups: 2,
        diversity_penalty: 100.0,
        ..BeamParams::default()
    };
    let step = first_step_after_refuses(&model, &params);
    let Step::Beams { beams, .. } = &step else {
        unreachable!()
    };
    let groups: Vec<usize> = beams.iter().map(|b| b.group).collect();
    assert!(groups.windows(2).all(|w| w[0] <= w[1]), "{groups:?}");
    let live = |g: usize| -> Vec<u32> {
        beams
            .iter()
            .filter(|b| b.group == g && !b.finished)
            .map(|b| b.ids[0])
            .collect()
    };
    assert_eq!(live(0).len(), 2);
    assert_eq!(live(1).len(), 2);
    assert!(live(1).iter().all(|t| !live(0).contains(t)), "{beams:?}");
    assert!(beams
        .iter()
        .any(|b| b.group == 0 && b.finished && b.ids == [EOS]));
    let json = serde_json::to_value(&step).unwrap();
    assert_eq!(json["beams"][0]["group"], 0);
}

#[test]
fn invalid_group_settings_are_clear_errors() {
    let model = model_for(&fixture("tiny"));
    let beams = |num_beams, num_beam_groups, diversity_penalty| BeamParams {
        num_beams,
        num_beam_groups,
        diversity_penalty,
        ..BeamParams::default()
    };
    let cases = [
        (beams(4, 0, 0.0), "--num-beam-groups must be at least 1"),
        (
            beams(4, 3, 1.0),
            "--num-beam-groups (3) must divide --num-beams (4)",
        ),
        (
            beams(2, 4, 1.0),
            "--num-beam-groups (4) must divide --num-beams (2)",
        ),
        (
            beams(4, 2, -1.0),
            "--diversity-penalty must be a finite number ≥ 0, got -1",
        ),
        (
            beams(4, 2, f32::NAN),
            "--diversity-penalty must be a finite number ≥ 0, got NaN",
        ),
        (
            beams(4, 2, f32::INFINITY),
            "--diversity-penalty must be a finite number ≥ 0, got inf",
        ),
        (
            beams(4, 1, 0.5),
            "--diversity-penalty (0.5) needs --num-beam-groups above 1",
        ),
    ];
    for (params, message) in cases {
        assert_refused(&model, &params, message);
    }
    // A zero penalty is allowed: the groups then search alike.
    assert!(beams(4, 2, 0.0).validate().is_ok());
    assert!(beams(4, 4, 2.0).validate().is_ok());
}
