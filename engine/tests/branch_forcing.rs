//! Branching a run (`GenerateOptions::forced`, `gpt2 generate --force`):
//! forcing the token greedy picks anyway changes nothing; forcing another
//! gives greedy's continuation of prompt + the prefix + the forced token;
//! sampling keeps its other draws; the strategies that do not choose one
//! token per step refuse it, and bad `--force` values are clear errors.

#[path = "common/cli.rs"]
mod cli;
mod common;

use cli::{assert_bad_input, gpt2, json_out};
use common::{fixture, ids, model_for};
use engine::backend::{block_on, Model};
use engine::decoding::{
    run, BeamParams, GenerateOptions, Generated, SamplingParams, Step, Strategy,
};

fn options(max_new_tokens: usize, forced: Vec<(usize, u32)>) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens,
        min_new_tokens: 0,
        eos_token_id: None,
        forced,
        whole_rows: false,
    }
}

/// The first sequence of `strategy` after `prompt`, and its steps' chosen tokens.
fn generate(
    model: &Model,
    strategy: &Strategy,
    prompt: &[u32],
    options: &GenerateOptions,
) -> (Generated, Vec<u32>) {
    let mut chosen = Vec::new();
    let mut on_step = |step: Step| {
        if let Step::Token { chosen: id, .. } = step {
            chosen.push(id);
        }
    };
    let out = block_on(run(
        strategy,
        model,
        None::<&Model>,
        prompt,
        options,
        &mut on_step,
    ))
    .unwrap();
    (out.sequences[0].clone(), chosen)
}

#[test]
fn forcing_greedy_continues_greedily_from_the_forced_prefix() {
    let fx = fixture("tiny");
    let model = model_for(&fx);
    let prompt = ids(&fx["greedy"][0]["prompt_ids"]);
    let n = 12;
    let (plain, _) = generate(&model, &Strategy::Greedy, &prompt, &options(n, vec![]));
    assert_eq!(plain.ids.len(), n);
    for step in [0, 3, n - 1] {
        // The token greedy picks anyway: nothing changes.
        let same = options(n, vec![(step, plain.ids[step])]);
        let (got, chosen) = generate(&model, &Strategy::Greedy, &prompt, &same);
        assert_eq!(
            got.ids, plain.ids,
            "forcing greedy's own token at step {step}"
        );
        assert_eq!(chosen, got.ids, "the steps report the forced token");
        let dscore = (got.score - plain.score).abs();
        assert!(
            dscore < 1e-4,
            "score {} vs {} (step {step})",
            got.score,
            plain.score
        );
        // Another token: greedy from prompt + prefix + that token.
        let other = (plain.ids[step] + 1) % 256;
        let forced = options(n, vec![(step, other)]);
        let (got, chosen) = generate(&model, &Strategy::Greedy, &prompt, &forced);
        let mut context = prompt.clone();
        context.extend(&plain.ids[..step]);
        context.push(other);
        let (rest, _) = generate(
            &model,
            &Strategy::Greedy,
            &context,
            &options(n - step - 1, vec![]),
        );
        let mut want = plain.ids[..step].to_vec();
        want.push(other);
        want.extend(&rest.ids);
        assert_eq!(got.ids, want, "forcing {other} at step {step}");
        assert_eq!(chosen, want);
    }
    // Two forced steps: the second applies to the branch the first made.
    let two = options(n, vec![(1, 7), (4, 9)]);
    let (got, _) = generate(&model, &Strategy::Greedy, &prompt, &two);
    let mut context = prompt.clone();
    context.extend(&got.ids[..4]);
    context.push(9);
    let (rest, _) = generate(&model, &Strategy::Greedy, &context, &options(n - 5, vec![]));
    assert_eq!((got.ids[1], got.ids[4]), (7, 9));
    assert_eq!(&got.ids[5..], &rest.ids[..]);
}

#[test]
fn forcing_a_sampled_step_keeps_the_other_draws() {
    let fx = fixture("tiny");
    let model = model_for(&fx);
    let prompt = ids(&fx["greedy"][0]["prompt_ids"]);
    let sample = Strategy::Sample {
        sampling: SamplingParams::default(),
        seed: 3,
        num_return_sequences: 1,
    };
    let (plain, _) = generate(&model, &sample, &prompt, &options(8, vec![]));
    let own = options(8, vec![(2, plain.ids[2])]);
    let (got, _) = generate(&model, &sample, &prompt, &own);
    assert_eq!(
        got.ids, plain.ids,
        "forcing the drawn token changes nothing"
    );
    let (got, _) = generate(&model, &sample, &prompt, &options(8, vec![(2, 11)]));
    assert_eq!(&got.ids[..3], &[plain.ids[0], plain.ids[1], 11]);
}

#[test]
fn strategies_without_one_token_per_step_refuse_forcing() {
    let fx = fixture("tiny");
    let model = model_for(&fx);
    let beam = Strategy::Beam(BeamParams::default());
    let err = block_on(run(
        &beam,
        &model,
        None::<&Model>,
        &[1, 2],
        &options(4, vec![(0, 5)]),
        &mut |_| {},
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--force applies to the greedy and sample strategies"),
        "{err}"
    );
}

#[test]
fn the_command_line_branches_and_reports_bad_force_values() {
    let dir = common::model_dir("tiny");
    let model = dir.path().to_str().unwrap().to_string();
    let args = |strategy: &str, extra: &[&str]| -> Vec<String> {
        let base = ["generate", "--model", &model, "--prompt-ids", "1,2,3"];
        let more = ["--max-new-tokens", "6", "--strategy", strategy];
        base.iter()
            .chain(&more)
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let call = |a: Vec<String>| gpt2(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let bad = |a: Vec<String>, needle: &str| {
        assert_bad_input(&a.iter().map(String::as_str).collect::<Vec<_>>(), needle)
    };
    let plain = json_out(call(args("greedy", &["--json"])));
    let branch = json_out(call(args("greedy", &["--json", "--force", "2:40"])));
    let plain = ids(&plain["sequences"][0]["ids"]);
    let branch = ids(&branch["sequences"][0]["ids"]);
    assert_eq!((&branch[..2], branch[2]), (&plain[..2], 40));
    bad(args("greedy", &["--force", "2"]), "is not step:id");
    bad(args("greedy", &["--force", "6:1"]), "names step 6");
    bad(
        args("greedy", &["--force", "1:99999999"]),
        "forced choice at step 1",
    );
    bad(args("greedy", &["--force", "3:1,1:2"]), "ascending");
    bad(args("beam", &["--force", "1:2"]), "--force does not apply");
}
