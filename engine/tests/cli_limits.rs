//! Sizes a user controls through the `gpt2` command line are bounded before
//! anything is allocated: a huge count is a clear message and exit status 2,
//! at once, never an out-of-memory kill or an overflow panic.

#[path = "common/cli.rs"]
mod cli;
mod common;

use std::time::{Duration, Instant};

use cli::gpt2;

/// `gpt2 generate` on the `odd` fixture model (n_positions = 64) with `extra`:
/// (exit status, stdout, stderr), and how long it took.
fn generate(extra: &[&str]) -> (i32, String, String, Duration) {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    let mut args = vec!["generate", "--model", model, "--prompt-ids", "6214,345"];
    args.extend(extra.iter().map(|a| if *a == "MODEL" { model } else { a }));
    let start = Instant::now();
    let (code, stdout, stderr) = gpt2(&args);
    (code, stdout, stderr, start.elapsed())
}

/// Exit 2 within a few seconds, `needle` in the message, no panic.
fn assert_refused(extra: &[&str], needle: &str) {
    let (code, _, stderr, took) = generate(extra);
    assert_eq!(code, 2, "{extra:?}: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(30), "{extra:?} took {took:?}");
}

#[test]
fn huge_beam_counts_are_refused_at_once() {
    assert_refused(
        &["--strategy", "beam", "--num-beams", "100000"],
        "--num-beams is 100000, more than the limit of 1024",
    );
    assert_refused(
        &[
            "--strategy",
            "beam",
            "--num-beams",
            "4",
            "--num-return-sequences",
            "100000",
        ],
        "--num-return-sequences must be between 1 and --num-beams (4)",
    );
}

#[test]
fn huge_numbers_of_returned_sequences_are_refused() {
    assert_refused(
        &[
            "--strategy",
            "sample",
            "--num-return-sequences",
            "18446744073709551615",
        ],
        "--num-return-sequences is 18446744073709551615, more than the limit of 1024",
    );
    assert_refused(
        &[
            "--strategy",
            "speculative",
            "--draft",
            "MODEL",
            "--sample",
            "--num-return-sequences",
            "100000000",
        ],
        "more than the limit of 1024",
    );
}

#[test]
fn huge_gamma_is_refused() {
    assert_refused(
        &[
            "--strategy",
            "speculative",
            "--draft",
            "MODEL",
            "--gamma",
            "1000000",
        ],
        "--gamma is 1000000, more than the limit of 64",
    );
    assert_refused(
        &[
            "--strategy",
            "speculative",
            "--draft",
            "MODEL",
            "--gamma",
            "0",
        ],
        "--gamma must be at least 1",
    );
}

#[test]
fn new_tokens_past_the_context_stop_at_its_end() {
    // usize::MAX new tokens: no overflow, generation stops at position 64.
    for strategy in [
        &["--strategy", "greedy"][..],
        &["--strategy", "beam", "--num-beams", "2"],
    ] {
        let mut args = strategy.to_vec();
        args.extend(["--max-new-tokens", "18446744073709551615", "--json"]);
        let (code, stdout, stderr, _) = generate(&args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        let out: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let n = out["sequences"][0]["ids"].as_array().unwrap().len();
        assert!(
            n <= 62,
            "{n} new tokens after a 2-token prompt in 64 positions"
        );
    }
    let (code, _, stderr, _) = generate(&[
        "--strategy",
        "speculative",
        "--draft",
        "MODEL",
        "--gamma",
        "64",
        "--max-new-tokens",
        "18446744073709551615",
    ]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn bench_refuses_a_huge_prompt_before_making_it() {
    let dir = common::model_dir("odd");
    let model = dir.path().to_str().unwrap();
    let huge = "1000000000000000";
    let (code, _, stderr) = gpt2(&["bench", "--model", model, "--prompt-tokens", huge]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("exceed the context of 64 positions"),
        "{stderr}"
    );
    let (code, _, stderr) = gpt2(&[
        "bench",
        "--model",
        model,
        "--new-tokens",
        "18446744073709551615",
    ]);
    assert_eq!(code, 2, "{stderr}");
}
