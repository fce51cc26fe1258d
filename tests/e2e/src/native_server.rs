//! `gpt2 serve --device cpu` on the mirror's checkpoints, started by the
//! tests themselves (the built `target/release/gpt2`), and `gpt2 generate`
//! run on the same folders: what the page on a native server must match.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::expected::first_sequence_ids;

/// The built command line; a clear failure when it is not built.
pub fn gpt2_binary() -> PathBuf {
    let binary = crate::repo_root().join("target/release/gpt2");
    assert!(
        binary.is_file(),
        "{} is missing: the page-on-a-server tests run it; build it with \
         `cargo build --release -p engine` (the test suite's `cargo test --workspace --release` does)",
        binary.display()
    );
    binary
}

/// A running `gpt2 serve`, killed when dropped.
pub struct NativeServer {
    child: Child,
    /// `ws://127.0.0.1:PORT`, from its `ready` line.
    pub url: String,
    pub token: String,
    log: Arc<Mutex<String>>,
}

impl NativeServer {
    /// `gpt2 serve --device cpu --port 0 --model MODEL [--second SECOND]`.
    pub fn start(model: &Path, second: Option<&Path>) -> NativeServer {
        let mut command = Command::new(gpt2_binary());
        command
            .arg("serve")
            .arg("--model")
            .arg(model)
            .args(["--device", "cpu", "--port", "0"]);
        if let Some(second) = second {
            command.arg("--second").arg(second);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting gpt2 serve: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).unwrap_or(0) > 0 {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut ready = String::new();
        let _ = stdout.read_line(&mut ready);
        // Keep reading stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let _ = stdout.read_to_end(&mut Vec::new());
        });
        let parsed = ready
            .trim()
            .strip_prefix("ready ")
            .and_then(|rest| rest.split_once(" token="));
        let Some((url, token)) = parsed else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "gpt2 serve printed {ready:?}, not `ready ws://HOST:PORT token=TOKEN`; its log:\n{}",
                log.lock().unwrap()
            );
        };
        NativeServer {
            url: url.to_string(),
            token: token.to_string(),
            child,
            log,
        }
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for NativeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The new ids `gpt2 generate --model MODEL --prompt PROMPT ARGS --json` prints.
pub fn generate_ids(model: &Path, prompt: &str, args: &[&str]) -> Vec<u32> {
    let binary = gpt2_binary();
    let output = Command::new(&binary)
        .arg("generate")
        .arg("--model")
        .arg(model)
        .args(["--prompt", prompt, "--json"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", binary.display()));
    assert!(
        output.status.success(),
        "gpt2 generate {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("gpt2 generate --json printed no JSON ({e})"));
    first_sequence_ids(&json)
}
