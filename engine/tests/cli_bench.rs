//! `gpt2 bench` end to end: every strategy timed on the fixture models, its
//! runs making the same tokens as `gpt2 generate`, and bad flags as errors.

#[path = "common/cli.rs"]
mod cli;
mod common;

use cli::gpt2;
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let (code, stdout, stderr) = gpt2(args);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn every_strategy_is_timed_and_makes_what_generate_makes() {
    let (target, second) = (common::model_dir("odd"), common::model_dir("tiny"));
    let (target, second) = (
        target.path().to_str().unwrap(),
        second.path().to_str().unwrap(),
    );
    let new = "8";
    let out = json(&[
        "bench",
        "--model",
        target,
        "--json",
        "--strategies",
        "greedy,beam,sample,speculative,contrastive",
        "--draft",
        second,
        "--amateur",
        second,
        "--prompt-tokens",
        "6",
        "--new-tokens",
        new,
        "--runs",
        "2",
    ]);
    let prompt: Vec<String> = common::ids(&out["prompt_ids"])
        .iter()
        .map(u32::to_string)
        .collect();
    assert_eq!(prompt.len(), 6);
    let prompt = prompt.join(",");
    let strategies = out["strategies"].as_array().unwrap();
    assert_eq!(strategies.len(), 5);
    let by_name = |name: &str| {
        strategies
            .iter()
            .find(|s| s["strategy"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {out}"))
    };
    for s in strategies {
        for key in ["prefill_tokens_per_second", "decode_tokens_per_second"] {
            let rate = s[key].as_f64().unwrap();
            assert!(rate.is_finite() && rate > 0.0, "{key} = {rate}: {s}");
        }
        assert_eq!(common::ids(&s["ids"]).len(), 8, "{s}");
    }
    // The same tokens as `gpt2 generate` with the same settings.
    let generated = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--model",
            target,
            "--json",
            "--prompt-ids",
            &prompt,
            "--max-new-tokens",
            new,
            "--min-new-tokens",
            new,
        ];
        args.extend(extra);
        common::ids(&json(&args)["sequences"][0]["ids"])
    };
    let greedy = generated(&["--strategy", "greedy"]);
    assert_eq!(common::ids(&by_name("greedy")["ids"]), greedy);
    assert_eq!(common::ids(&by_name("speculative")["ids"]), greedy);
    assert_eq!(
        common::ids(&by_name("beam")["ids"]),
        generated(&["--strategy", "beam", "--num-beams", "4"])
    );
    assert_eq!(
        common::ids(&by_name("contrastive")["ids"]),
        generated(&["--strategy", "contrastive", "--amateur", second])
    );
    let p = &out["speculative_prediction"];
    let per_pass = p["tokens_per_target_pass"].as_f64().unwrap();
    let alpha = p["alpha"].as_f64().unwrap();
    assert!((1.0..=5.0).contains(&per_pass), "{p}");
    assert!((0.0..=1.0).contains(&alpha), "{p}");
    assert!(p["predicted_speedup"].as_f64().unwrap() > 0.0, "{p}");
}

#[test]
fn the_table_for_people_names_each_strategy() {
    let dir = common::model_dir("odd");
    let (code, stdout, stderr) = gpt2(&[
        "bench",
        "--model",
        dir.path().to_str().unwrap(),
        "--strategies",
        "greedy,sample",
        "--new-tokens",
        "4",
        "--runs",
        "1",
    ]);
    assert_eq!(code, 0, "{stderr}");
    for needle in ["prefill tok/s", "decode tok/s", "greedy", "sample"] {
        assert!(stdout.contains(needle), "{needle:?} in {stdout}");
    }
}

#[test]
fn bad_bench_flags_are_explained() {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--strategies", "speculative"], "needs --draft"),
        (&["--strategies", "contrastive"], "needs --amateur"),
        (&["--new-tokens", "1"], "at least 2"),
        (
            &["--prompt-tokens", "100", "--new-tokens", "100"],
            "exceed the context",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["bench", "--model", model];
        args.extend(extra);
        let (code, _, stderr) = gpt2(&args);
        assert_eq!(code, 2, "{extra:?}: {stderr}");
        assert!(stderr.contains(needle), "{needle:?} in {stderr}");
    }
}
