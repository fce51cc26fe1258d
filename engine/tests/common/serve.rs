//! Starting `gpt2 serve` from the tests, on the fixtures' tiny checkpoints.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::model_dir;

/// A running `gpt2 serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    pub token: String,
    log: Arc<Mutex<String>>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Server {
    /// `gpt2 serve --device cpu --port 0` on the fixtures' checkpoints
    /// (`models[0]` as `--model`, `models[1]` as `--second`), plus `extra`.
    pub fn start(models: &[&str], extra: &[&str]) -> Server {
        let dirs: Vec<_> = models.iter().map(|m| model_dir(m)).collect();
        let path = |i: usize| dirs[i].path().to_str().unwrap().to_string();
        let mut args = vec!["serve".to_string(), "--model".into(), path(0)];
        if dirs.len() > 1 {
            args.extend(["--second".into(), path(1)]);
        }
        args.extend(["--device", "cpu", "--port", "0"].map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_gpt2"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut line = String::new();
            while stderr.read_line(&mut line).unwrap_or(0) > 0 {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut ready = String::new();
        stdout.read_line(&mut ready).unwrap();
        // Keep reading stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let _ = stdout.read_to_end(&mut Vec::new());
        });
        let rest = ready.trim().strip_prefix("ready ").unwrap_or_else(|| {
            std::thread::sleep(Duration::from_millis(200));
            panic!(
                "no ready line but {ready:?}; stderr:\n{}",
                log.lock().unwrap()
            )
        });
        let (url, token) = rest.split_once(" token=").expect("ready URL token=TOKEN");
        assert!(url.starts_with("ws://"), "{url}");
        assert_eq!(token.len(), 32, "a 128-bit token in hex: {token}");
        Server {
            child,
            url: url.to_string(),
            token: token.to_string(),
            log,
            _dirs: dirs,
        }
    }

    /// The folder of model `i` (its `config.json`, `tokenizer.json`, ...).
    pub fn model_dir(&self, i: usize) -> &std::path::Path {
        self._dirs[i].path()
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) for `needle` in the log; the log on failure.
    pub fn wait_log(&self, needle: &str) {
        let start = Instant::now();
        while !self.log().contains(needle) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no {needle:?} in the server's log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
