//! Out-of-range values of the later samplers' flags (top-nσ, XTC, DRY, mirostat,
//! presence/frequency penalties) through `gpt2 generate`, and the strategies
//! they do not apply to: each is exit status 2 with a message naming the flag,
//! never a panic, and nothing generated.

#[path = "common/cli.rs"]
mod cli;
mod common;

use cli::gpt2;

/// `gpt2 generate --strategy sample` with `extra`: exit 2, `needle` on stderr.
fn assert_bad(model: &str, extra: &[&str], needle: &str) {
    let mut args = vec![
        "generate",
        "--model",
        model,
        "--prompt",
        "Hello",
        "--max-new-tokens",
        "2",
    ];
    if !extra.contains(&"--strategy") {
        args.extend(["--strategy", "sample"]);
    }
    args.extend(extra);
    let (code, stdout, stderr) = gpt2(&args);
    println!("{extra:?}: {}", stderr.trim());
    assert_eq!(code, 2, "{extra:?}: exit status; stderr: {stderr}");
    assert!(
        stderr.contains(needle),
        "{extra:?}: expected {needle:?} in: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{extra:?}: {stderr}"
    );
    assert!(stdout.is_empty(), "{extra:?}: printed {stdout:?}");
}

/// `flag=value` for every value: each is out of range.
fn each(flag: &str, values: &[&str]) -> Vec<String> {
    values.iter().map(|v| format!("{flag}={v}")).collect()
}

#[test]
fn top_n_sigma_must_be_positive() {
    let dir = common::model_dir("odd");
    let m = dir.path().to_str().unwrap();
    for arg in each("--top-n-sigma", &["0", "-1", "NaN", "inf"]) {
        assert_bad(m, &[&arg], "--top-n-sigma must be > 0");
    }
}

#[test]
fn xtc_probability_and_threshold_in_range() {
    let dir = common::model_dir("odd");
    let m = dir.path().to_str().unwrap();
    for arg in each("--xtc-probability", &["-0.1", "1.5", "NaN"]) {
        let args = ["--xtc-threshold", "0.1", &arg];
        assert_bad(m, &args, "--xtc-probability must be in [0, 1]");
    }
    for arg in each("--xtc-threshold", &["-0.1", "1.5", "NaN"]) {
        let args = [&arg, "--xtc-probability", "0.5"];
        assert_bad(m, &args, "--xtc-threshold must be in [0, 1]");
    }
}

#[test]
fn mirostat_tau_and_eta_in_range() {
    let dir = common::model_dir("odd");
    let m = dir.path().to_str().unwrap();
    for arg in each("--mirostat-tau", &["0", "-2", "NaN", "inf"]) {
        assert_bad(m, &[&arg], "--mirostat-tau must be > 0");
    }
    for arg in each("--mirostat-eta", &["0", "-0.1", "NaN", "inf"]) {
        let args = ["--mirostat-tau", "5", &arg];
        assert_bad(m, &args, "--mirostat-eta must be > 0");
    }
}

#[test]
fn dry_values_in_range() {
    let dir = common::model_dir("odd");
    let m = dir.path().to_str().unwrap();
    for arg in each("--dry-multiplier", &["-1", "NaN", "inf"]) {
        assert_bad(m, &[&arg], "--dry-multiplier must be");
    }
    for arg in each("--dry-base", &["0.5", "NaN", "inf"]) {
        let args = ["--dry-multiplier", "0.8", &arg];
        assert_bad(m, &args, "--dry-base must be");
    }
    let with = |extra: &str| ["--dry-multiplier".to_string(), "0.8".into(), extra.into()];
    for (arg, needle) in [
        (
            "--dry-allowed-length=0",
            "--dry-allowed-length must be at least 1",
        ),
        ("--dry-allowed-length=-1", "--dry-allowed-length"),
        ("--dry-penalty-last-n=-1", "--dry-penalty-last-n"),
        ("--dry-sequence-breakers=[1, 2", "--dry-sequence-breakers"),
    ] {
        let args = with(arg);
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        assert_bad(m, &args, needle);
    }
}

#[test]
fn presence_and_frequency_penalties_in_openai_range() {
    let dir = common::model_dir("odd");
    let m = dir.path().to_str().unwrap();
    for flag in ["--presence-penalty", "--frequency-penalty"] {
        for arg in each(flag, &["2.5", "-3", "NaN", "inf"]) {
            assert_bad(m, &[&arg], &format!("{flag} must be in [-2, 2]"));
        }
    }
}

#[test]
fn xtc_and_mirostat_apply_to_sampling_only() {
    let dir = common::model_dir("odd");
    let m = dir.path().to_str().unwrap();
    let xtc = ["--xtc-threshold", "0.1", "--xtc-probability", "0.5"];
    let mirostat = ["--mirostat-tau", "5", "--mirostat-eta", "0.1"];
    for extra in [xtc, mirostat] {
        // Speculative decoding verifies against a distribution that depends on
        // the context only; XTC's coin and mirostat's μ do not.
        let mut args = vec!["--strategy", "speculative", "--draft", m, "--sample"];
        args.extend(extra);
        assert_bad(
            m,
            &args,
            "does not apply to --strategy speculative: speculative sampling verifies",
        );
        let mut args = vec!["--strategy", "greedy"];
        args.extend(extra);
        assert_bad(m, &args, "does not apply to --strategy greedy");
    }
}
