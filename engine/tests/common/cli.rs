//! Running the `gpt2` command line from the tests.
#![allow(dead_code)]

use std::process::Command;

/// Runs `gpt2 args`: (exit status, stdout, stderr).
pub fn gpt2(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gpt2"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// The JSON a run printed, once it exited 0.
pub fn json_out((code, stdout, stderr): (i32, String, String)) -> serde_json::Value {
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// Asserts that `gpt2 args` fails as bad input should: exit status 2 and
/// `needle` in what it says, never a panic.
pub fn assert_bad_input(args: &[&str], needle: &str) {
    let (code, _, stderr) = gpt2(args);
    assert_eq!(code, 2, "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: expected {needle:?} in {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
