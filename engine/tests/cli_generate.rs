//! `gpt2 generate` end to end: every strategy through the command line, its
//! `--json` shape, and invalid combinations as clear errors (exit status 2).

#[path = "common/cli.rs"]
mod cli;
mod common;

use cli::gpt2;
use serde_json::Value;

/// Runs `gpt2 generate --json` on the `odd` fixture model and parses the output.
fn generate(model: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "generate",
        "--model",
        model,
        "--json",
        "--prompt-ids",
        "6214,345",
    ];
    args.extend(extra);
    let (code, stdout, stderr) = gpt2(&args);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    common::ids(&v["sequences"][0]["ids"])
}

#[test]
fn greedy_json_matches_transformers() {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    let out = generate(
        model,
        &["--strategy", "greedy", "--max-new-tokens", "24", "--steps"],
    );
    let fx = common::fixture("odd");
    assert_eq!(ids(&out), common::ids(&fx["greedy"][0]["new_ids"]));
    assert_eq!(out["prompt_ids"], serde_json::json!([6214, 345]));
    assert_eq!(out["stats"]["new_tokens"], 24);
    let steps = out["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 24);
    assert_eq!(steps[0]["kind"], "token");
    assert!(steps[0]["candidates"].as_array().unwrap().len() >= 20);
}

#[test]
fn sampling_is_reproducible_by_seed() {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    let args = [
        "--strategy",
        "sample",
        "--seed",
        "7",
        "--top-p",
        "0.9",
        "--temperature",
        "0.8",
        "--num-return-sequences",
        "3",
    ];
    let a = generate(model, &args);
    let b = generate(model, &args);
    assert_eq!(a["sequences"], b["sequences"]);
    assert_eq!(a["sequences"].as_array().unwrap().len(), 3);
}

#[test]
fn two_model_strategies_run() {
    let target = common::model_dir("odd");
    let other = common::model_dir("tiny");
    let (t, o) = (
        target.path().to_str().unwrap(),
        other.path().to_str().unwrap(),
    );
    let greedy = generate(t, &["--strategy", "greedy", "--max-new-tokens", "12"]);
    let spec = generate(
        t,
        &[
            "--strategy",
            "speculative",
            "--draft",
            o,
            "--gamma",
            "3",
            "--max-new-tokens",
            "12",
        ],
    );
    assert_eq!(
        ids(&spec),
        ids(&greedy),
        "speculative greedy verification equals greedy"
    );
    let rate = spec["stats"]["acceptance_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rate), "acceptance rate {rate}");
    let cd = generate(
        t,
        &[
            "--strategy",
            "contrastive",
            "--amateur",
            o,
            "--alpha",
            "0.1",
            "--max-new-tokens",
            "8",
            "--steps",
        ],
    );
    assert_eq!(cd["steps"][0]["kind"], "contrastive");
}

#[test]
fn invalid_combinations_are_clear_errors() {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    for (extra, needle) in [
        (
            vec!["--strategy", "sample", "--top-p", "0"],
            "--top-p must be in (0, 1]",
        ),
        (
            vec!["--strategy", "greedy", "--top-k", "5"],
            "--top-k does not apply to --strategy greedy",
        ),
        (vec!["--strategy", "speculative"], "needs --draft"),
        (
            vec![
                "--strategy",
                "speculative",
                "--draft",
                model,
                "--gamma",
                "0",
            ],
            "gamma",
        ),
        (
            vec![
                "--strategy",
                "contrastive",
                "--amateur",
                model,
                "--alpha",
                "2",
            ],
            "alpha",
        ),
    ] {
        let mut args = vec!["generate", "--model", model, "--prompt", "Hello"];
        args.extend(&extra);
        let (code, _, stderr) = gpt2(&args);
        assert_eq!(code, 2, "{extra:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{extra:?}: expected {needle:?} in {stderr}"
        );
    }
}

#[test]
fn beam_json_matches_transformers() {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    let args = [
        "--strategy",
        "beam",
        "--num-beams",
        "4",
        "--num-return-sequences",
        "3",
        "--min-new-tokens",
        "5",
        "--max-new-tokens",
        "8",
    ];
    let out = generate(model, &args);
    // transformers: generate(num_beams=4, num_return_sequences=3, min_new_tokens=5, max_new_tokens=8)
    let fx = common::json_fixture("beam.json");
    let case = fx["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["checkpoint"] == "odd" && c["prompt"] == "See you")
        .unwrap();
    for (got, want) in out["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .zip(case["sequences"].as_array().unwrap())
    {
        assert_eq!(common::ids(&got["ids"]), common::ids(&want["new_ids"]));
        let (g, w) = (
            got["score"].as_f64().unwrap(),
            want["score"].as_f64().unwrap(),
        );
        assert!((g - w).abs() < 1e-4, "sequences_scores {g} vs {w}");
    }
}

#[test]
fn wgpu_device_gives_the_same_beams_as_cpu() {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    let run = |device: &str| {
        generate(
            model,
            &[
                "--device",
                device,
                "--strategy",
                "beam",
                "--num-beams",
                "3",
                "--max-new-tokens",
                "8",
            ],
        )
    };
    let (cpu, gpu) = (run("cpu"), run("wgpu"));
    assert_eq!(ids(&cpu), ids(&gpu));
    assert_eq!(cpu["sequences"][0]["text"], gpu["sequences"][0]["text"]);
    let score = |v: &Value| v["sequences"][0]["score"].as_f64().unwrap();
    let diff = (score(&cpu) - score(&gpu)).abs();
    assert!(diff < 1e-4, "scores differ by {diff}");
}
