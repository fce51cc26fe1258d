//! `gpt2 generate --strategy beam --num-beam-groups G --diversity-penalty D`
//! end to end: the sequences of transformers 4.55's group beam search (fixture
//! `tests/fixtures/group_beam.json`), each with its group in `--json` and in
//! the text for people, the steps' beams with theirs, and bad settings as
//! clear errors (exit status 2).

#[path = "common/cli.rs"]
mod cli;
mod common;

use cli::{assert_bad_input, gpt2, json_out};

/// The fixture's `odd` "See you" case: K 4, G 2, D 3, R 3, 5 to 8 new tokens.
const ARGS: [&str; 14] = [
    "--strategy",
    "beam",
    "--num-beams",
    "4",
    "--num-beam-groups",
    "2",
    "--diversity-penalty",
    "3",
    "--num-return-sequences",
    "3",
    "--min-new-tokens",
    "5",
    "--max-new-tokens",
    "8",
];

/// `gpt2 generate` on `model` after "See you" (6214, 345) with `extra`.
fn generate_args<'a>(model: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["generate", "--model", model, "--prompt-ids", "6214,345"];
    args.extend(extra);
    args
}

fn run(model: &str, extra: &[&str]) -> (i32, String, String) {
    gpt2(&generate_args(model, extra))
}

#[test]
fn json_gives_transformers_sequences_and_their_groups() {
    let dir = common::model_dir("odd");
    let mut args = ARGS.to_vec();
    args.extend(["--json", "--steps"]);
    let out = json_out(run(dir.path().to_str().unwrap(), &args));
    let fx = common::json_fixture("group_beam.json");
    let case = fx["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            let s = &c["settings"];
            c["checkpoint"] == "odd" && c["prompt"] == "See you" && s["diversity_penalty"] == 3.0
        })
        .unwrap();
    let (got, want) = (
        out["sequences"].as_array().unwrap(),
        case["sequences"].as_array().unwrap(),
    );
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(common::ids(&g["ids"]), common::ids(&w["new_ids"]));
        let (a, b) = (g["score"].as_f64().unwrap(), w["score"].as_f64().unwrap());
        assert!((a - b).abs() < 1e-4, "sequences_scores {a} vs {b}");
        assert!(g["group"].as_u64().unwrap() < 2, "{g}");
    }
    let steps = out["steps"].as_array().unwrap();
    assert_eq!(steps[0]["kind"], "beams");
    let groups: Vec<u64> = steps[0]["beams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["group"].as_u64().unwrap())
        .collect();
    assert!(groups.contains(&0) && groups.contains(&1), "{groups:?}");
}

#[test]
fn text_names_the_groups() {
    let dir = common::model_dir("odd");
    let mut args = ARGS.to_vec();
    args.push("--steps");
    let (code, stdout, stderr) = run(dir.path().to_str().unwrap(), &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("--- sequence 1 (score "), "{stdout}");
    assert!(stdout.contains(", group "), "{stdout}");
    assert!(stdout.contains("beams | group 0:"), "{stdout}");
    assert!(stdout.contains(" group 1:"), "{stdout}");
    // Without groups, nothing says "group".
    let (code, stdout, stderr) = run(
        dir.path().to_str().unwrap(),
        &["--strategy", "beam", "--num-beams", "2", "--steps"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("group"), "{stdout}");
}

#[test]
fn bad_group_settings_are_clear_errors() {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    for (extra, needle) in [
        (
            &["--strategy", "greedy", "--num-beam-groups", "2"][..],
            "--num-beam-groups does not apply to --strategy greedy",
        ),
        (
            &["--strategy", "sample", "--diversity-penalty", "1"],
            "--diversity-penalty does not apply to --strategy sample",
        ),
    ] {
        assert_bad_input(&generate_args(model, extra), needle);
    }
    // Beam search with 4 beams and
    for (groups, needle) in [
        (
            &["--num-beam-groups", "3"][..],
            "--num-beam-groups (3) must divide --num-beams (4)",
        ),
        (
            &["--num-beam-groups", "0"],
            "--num-beam-groups must be at least 1",
        ),
        (
            &["--diversity-penalty", "0.5"],
            "--diversity-penalty (0.5) needs --num-beam-groups above 1",
        ),
        (
            &["--num-beam-groups", "2", "--diversity-penalty=-1"],
            "--diversity-penalty must be a finite number ≥ 0, got -1",
        ),
        (
            &["--num-beam-groups", "2", "--diversity-penalty", "nan"],
            "--diversity-penalty must be a finite number ≥ 0, got NaN",
        ),
    ] {
        let mut extra = vec!["--strategy", "beam", "--num-beams", "4"];
        extra.extend(groups);
        assert_bad_input(&generate_args(model, &extra), needle);
    }
}
