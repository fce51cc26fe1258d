//! `gpt2 generate --strategy speculative --draft prompt-lookup` end to end:
//! transformers' ids (`prompt_lookup_num_tokens`, fixture
//! `tests/fixtures/prompt_lookup.json`), the speculative steps and counts,
//! sampling, and the flags' mistakes as clear errors (exit status 2).

#[path = "common/cli.rs"]
mod cli;
mod common;

use cli::gpt2;
use serde_json::Value;

/// Runs `gpt2 generate --json` with `args` after the model; (status, output, stderr).
fn generate(model: &str, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["generate", "--model", model, "--json"];
    all.extend(args);
    let (code, stdout, stderr) = gpt2(&all);
    (
        code,
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr,
    )
}

#[test]
fn prompt_lookup_gives_transformers_ids_with_speculative_steps() {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    let path = common::fixtures_dir().join("prompt_lookup.json");
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // transformers: generate(prompt_lookup_num_tokens=4, max_matching_ngram_size=2, max_new_tokens=30)
    let case = fx["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["checkpoint"] == "odd" && c["gamma"] == 4 && c["settings"]["max_new_tokens"] == 30
        })
        .unwrap();
    let prompt: Vec<String> = common::ids(&case["prompt_ids"])
        .iter()
        .map(u32::to_string)
        .collect();
    let prompt = prompt.join(",");
    let (code, out, stderr) = generate(
        model,
        &[
            "--prompt-ids",
            &prompt,
            "--strategy",
            "speculative",
            "--draft",
            "prompt-lookup",
            "--max-matching-ngram-size",
            "2",
            "--gamma",
            "4",
            "--max-new-tokens",
            "30",
            "--steps",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let want = common::ids(&case["new_ids"]);
    assert_eq!(common::ids(&out["sequences"][0]["ids"]), want);
    let steps = out["steps"].as_array().unwrap();
    assert_eq!(steps.len(), case["rounds"].as_array().unwrap().len());
    assert!(steps.iter().all(|s| s["kind"] == "speculative"));
    let copies: Vec<&Value> = steps
        .iter()
        .flat_map(|s| s["drafted"].as_array().unwrap())
        .collect();
    assert!(
        !copies.is_empty() && copies.iter().all(|d| d["q"] == 1.0),
        "{copies:?}"
    );
    let stats = &out["stats"];
    assert_eq!(stats["target_passes"], steps.len());
    let rate = stats["acceptance_rate"].as_f64().unwrap();
    assert!(rate > 0.0 && rate <= 1.0, "acceptance {rate}");

    // Sampling: reproducible by seed.
    let sampled = |seed: &str| {
        let (code, out, stderr) = generate(
            model,
            &[
                "--prompt-ids",
                &prompt,
                "--strategy",
                "speculative",
                "--draft",
                "prompt-lookup",
                "--sample",
                "--temperature",
                "0.7",
                "--seed",
                seed,
                "--max-new-tokens",
                "16",
            ],
        );
        assert_eq!(code, 0, "{stderr}");
        out["sequences"].clone()
    };
    assert_eq!(sampled("3"), sampled("3"));
}

#[test]
fn prompt_lookup_flag_mistakes_are_clear_errors() {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    let spec = ["--prompt", "Hello", "--strategy", "speculative"];
    for (extra, needle) in [
        (
            vec!["--draft", "prompt-lookup", "--max-matching-ngram-size", "0"],
            "--max-matching-ngram-size must be at least 1, got 0",
        ),
        (
            vec!["--draft", model, "--max-matching-ngram-size", "2"],
            "--max-matching-ngram-size goes with --draft prompt-lookup only",
        ),
        (
            vec!["--max-matching-ngram-size", "2"],
            "needs --draft MODEL (e.g. --draft gpt2) or --draft prompt-lookup",
        ),
        (
            vec!["--draft", model, "--draft", "prompt-lookup"],
            "--draft",
        ),
    ] {
        let args: Vec<&str> = spec.iter().copied().chain(extra.iter().copied()).collect();
        let (code, _, stderr) = generate(model, &args);
        assert_eq!(code, 2, "{extra:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{extra:?}: expected {needle:?} in {stderr}"
        );
    }
    for (strategy, flags, needle) in [
        (
            "greedy",
            vec!["--draft", "prompt-lookup"],
            "--draft does not apply to --strategy greedy",
        ),
        (
            "sample",
            vec!["--max-matching-ngram-size", "2"],
            "--max-matching-ngram-size does not apply to --strategy sample",
        ),
    ] {
        let mut args = vec!["--prompt", "Hello", "--strategy", strategy];
        args.extend(flags);
        let (code, _, stderr) = generate(model, &args);
        assert_eq!(code, 2, "{strategy}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{strategy}: expected {needle:?} in {stderr}"
        );
    }
}
