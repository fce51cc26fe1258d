//! `gpt2 generate --strategy contrastive-search | dola` end to end: the ids
//! of transformers 4.55.4's fixtures through the command line, the `--json`
//! steps, the text for people, and bad values or misplaced flags as clear
//! errors (exit status 2).

#[path = "common/cli.rs"]
mod cli;
mod common;

use cli::{assert_bad_input, gpt2, json_out};
use serde_json::Value;

/// The case of `tests/fixtures/search.json` on `odd` with `prompt` and `method`.
fn case(method: &str, prompt: &str) -> Value {
    common::json_fixture("search.json")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["checkpoint"] == "odd" && c["method"] == method && c["prompt"] == prompt)
        .unwrap()
        .clone()
}

fn prompt_ids(case: &Value) -> String {
    let ids: Vec<String> = common::ids(&case["prompt_ids"])
        .iter()
        .map(u32::to_string)
        .collect();
    ids.join(",")
}

/// `gpt2 generate` on `model` with `extra`: exit status, stdout, stderr.
fn generate(model: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["generate", "--model", model];
    args.extend(extra);
    gpt2(&args)
}

/// The `--json --steps` output of 16 new tokens after `case`'s prompt with
/// `strategy`; its ids must be the case's.
fn json_steps(model: &str, case: &Value, strategy: &[&str]) -> Value {
    let ids = prompt_ids(case);
    let mut args = strategy.to_vec();
    args.extend([
        "--max-new-tokens",
        "16",
        "--prompt-ids",
        &ids,
        "--json",
        "--steps",
    ]);
    let out = json_out(generate(model, &args));
    assert_eq!(out["sequences"][0]["ids"], case["new_ids"]);
    out
}

#[test]
fn contrastive_search_and_dola_give_transformers_ids() {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    let cs = case("contrastive_search", "See you");
    let strategy = [
        "--strategy",
        "contrastive-search",
        "--penalty-alpha",
        "0.5",
        "--top-k",
        "6",
    ];
    let out = json_steps(model, &cs, &strategy);
    let step = &out["steps"][0];
    assert_eq!(step["kind"], "contrastive_search");
    assert_eq!(step["candidates"].as_array().unwrap().len(), 6);
    for key in ["id", "prob", "penalty", "score"] {
        assert!(step["candidates"][0].get(key).is_some(), "{key} in {step}");
    }

    let dola = case("dola", "See you");
    let strategy = [
        "--strategy",
        "dola",
        "--dola-layers",
        "0,1,2",
        "--repetition-penalty",
        "1.2",
    ];
    let out = json_steps(model, &dola, &strategy);
    let step = &out["steps"][0];
    assert_eq!(step["kind"], "dola");
    assert!(step["premature_layer"].as_u64().unwrap() <= 2, "{step}");
    assert_eq!(step["layers"].as_array().unwrap().len(), 3);
    for key in ["final_logprob", "premature_logprob", "score", "plausible"] {
        assert!(step["candidates"][0].get(key).is_some(), "{key} in {step}");
    }

    // For people: the text, and a line per step.
    for strategy in [
        &["--strategy", "contrastive-search"][..],
        &["--strategy", "dola"],
    ] {
        let mut args = strategy.to_vec();
        args.extend(["--prompt", "See you", "--max-new-tokens", "3", "--steps"]);
        let (code, stdout, stderr) = generate(model, &args);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("See you"), "{stdout}");
    }
}

#[test]
fn bad_values_and_misplaced_flags_are_clear_errors() {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 11] = [
        (
            &["--strategy", "contrastive-search", "--penalty-alpha", "1.5"],
            "--penalty-alpha must be between 0 and 1",
        ),
        (
            &["--strategy", "contrastive-search", "--top-k", "0"],
            "--top-k",
        ),
        (
            &["--strategy", "contrastive-search", "--top-k", "60000"],
            "--top-k",
        ),
        (
            &["--strategy", "contrastive-search", "--temperature", "0.7"],
            "--temperature does not apply to --strategy contrastive-search",
        ),
        (
            &["--strategy", "contrastive-search", "--dola-layers", "low"],
            "--dola-layers does not apply to --strategy contrastive-search",
        ),
        (
            &["--strategy", "greedy", "--penalty-alpha", "0.6"],
            "--penalty-alpha does not apply to --strategy greedy",
        ),
        (
            &["--strategy", "dola", "--penalty-alpha", "0.6"],
            "--penalty-alpha does not apply to --strategy dola",
        ),
        (
            &["--strategy", "dola", "--top-k", "4"],
            "--top-k does not apply to --strategy dola",
        ),
        (
            &["--strategy", "dola", "--dola-layers", "1,x"],
            "expected low, high or layer numbers",
        ),
        (
            &["--strategy", "dola", "--dola-layers", "3"],
            "layer 3 is not a premature layer",
        ),
        (
            &["--strategy", "dola", "--dola-layers", "low"],
            "leaves no premature layer",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["generate", "--model", model, "--prompt", "See you"];
        args.extend(extra);
        assert_bad_input(&args, needle);
    }
}
