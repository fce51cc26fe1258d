//! Running the `gpt2` command line from the tests.

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
