//! The `gpt2` command line against the fake Hub: two processes downloading one
//! model into one cache at once, and `HF_HUB_OFFLINE`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use engine::config::Gpt2Config;
use engine::weights::random::RandomCheckpoint;

use crate::fake_hub::{sha256, Server, REPO};

const FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];
const WAIT: Duration = Duration::from_secs(60);

/// A small GPT-2 that loads (1 layer, 8 wide), served by a fake Hub as `gpt2`.
fn serve_tiny_model() -> (Server, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = RandomCheckpoint::new(Gpt2Config::new(1, 2, 8, 16), 7);
    checkpoint.write(dir.path()).unwrap();
    let contents: Vec<Vec<u8>> = FILES
        .iter()
        .map(|file| std::fs::read(dir.path().join(file)).unwrap())
        .collect();
    let paths: Vec<String> = FILES.iter().map(|f| format!("{REPO}/{f}")).collect();
    let served: Vec<(&str, &[u8])> = paths
        .iter()
        .zip(&contents)
        .map(|(path, content)| (path.as_str(), content.as_slice()))
        .collect();
    (Server::start(&served), contents)
}

/// `gpt2 score --model gpt2` with the Hub settings pointing at `server` and `cache`.
fn score(server: &Server, cache: &Path, offline: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gpt2"));
    command
        .args([
            "score",
            "--model",
            "gpt2",
            "--ids",
            "50256,464,2068",
            "--json",
        ])
        .env("HF_ENDPOINT", &server.endpoint)
        .env("HF_HUB_CACHE", cache)
        .env("HF_HOME", cache.join("home"))
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE");
    if let Some(value) = offline {
        command.env("HF_HUB_OFFLINE", value);
    }
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Spawns `command`, sending each stderr line (tagged with `id`) to `lines`.
fn spawn(mut command: Command, id: usize, lines: mpsc::Sender<(usize, String)>) -> Child {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send((id, line));
        }
    });
    child
}

/// Waits for `child` (killing it after [`WAIT`], so a deadlock fails the test).
fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gpt2 did not finish within {WAIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The snapshot files of `gpt2` in `cache` match the served bytes.
fn assert_cached(cache: &Path, contents: &[Vec<u8>]) {
    let repo = cache.join("models--openai-community--gpt2");
    let commit = std::fs::read_to_string(repo.join("refs/main")).unwrap();
    for (file, content) in FILES.iter().zip(contents) {
        let cached = std::fs::read(repo.join("snapshots").join(&commit).join(file)).unwrap();
        assert_eq!(sha256(&cached), sha256(content), "{file}");
    }
    let mut blobs: Vec<String> = std::fs::read_dir(repo.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    blobs.retain(|name| name.ends_with(".incomplete"));
    assert!(blobs.is_empty(), "partial downloads left: {blobs:?}");
}

#[test]
fn two_processes_download_one_model_once() {
    let (server, contents) = serve_tiny_model();
    let cache = tempfile::tempdir().unwrap();
    // The first GET of the weights waits at the gate, holding its blob's lock.
    server.gate.close();
    let (tx, lines) = mpsc::channel();
    let first = spawn(score(&server, cache.path(), None), 0, tx.clone());
    let second = spawn(score(&server, cache.path(), None), 1, tx);

    assert!(
        server.gate.wait_held(1, WAIT),
        "no download of the weights began"
    );
    let deadline = Instant::now() + WAIT;
    let mut stderr = [String::new(), String::new()];
    let mut waited = false;
    while !waited {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((id, line)) = lines.recv_timeout(left) else {
            panic!("neither process waited for the other: {stderr:?}");
        };
        waited = line.contains("waiting for another download of model.safetensors");
        stderr[id].push_str(&line);
        stderr[id].push('\n');
    }
    server.gate.open();

    let outputs = [finish(first), finish(second)];
    for (id, line) in lines.try_iter() {
        stderr[id].push_str(&line);
        stderr[id].push('\n');
    }
    for (output, stderr) in outputs.iter().zip(&stderr) {
        assert!(output.status.success(), "{stderr}");
    }
    assert_eq!(text(&outputs[0].stdout), text(&outputs[1].stdout));
    let waits = stderr.concat();
    let waits = waits.matches("waiting for another download of model.safetensors");
    assert_eq!(waits.count(), 1, "{stderr:?}");
    assert_cached(cache.path(), &contents);
    // Each file's content was served once: the waiting process found it done.
    assert_eq!(
        server.count("GET", "/config.json"),
        1,
        "{:?}",
        server.seen()
    );
    assert_eq!(
        server.count("GET", "/tokenizer.json"),
        1,
        "{:?}",
        server.seen()
    );
    let weights = format!("/cdn/{}", sha256(&contents[1]));
    assert_eq!(server.count("GET", &weights), 1, "{:?}", server.seen());
}

#[test]
fn offline_a_cached_model_loads_without_any_request() {
    let (server, contents) = serve_tiny_model();
    let cache = tempfile::tempdir().unwrap();
    let online = score(&server, cache.path(), None).output().unwrap();
    assert!(online.status.success(), "{}", text(&online.stderr));
    assert_cached(cache.path(), &contents);
    let requests = server.seen().len();

    for value in ["1", "true", "YES"] {
        let offline = score(&server, cache.path(), Some(value)).output().unwrap();
        assert!(offline.status.success(), "{}", text(&offline.stderr));
        assert_eq!(text(&offline.stdout), text(&online.stdout));
    }
    assert_eq!(server.seen().len(), requests, "{:?}", server.seen());
}

#[test]
fn offline_a_model_not_in_the_cache_is_bad_input() {
    let (server, _) = serve_tiny_model();
    let cache = tempfile::tempdir().unwrap();
    let output = score(&server, cache.path(), Some("1")).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("not in the Hugging Face cache"), "{stderr}");
    assert!(
        stderr.contains(&cache.path().display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("HF_HUB_OFFLINE"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(server.seen().is_empty(), "{:?}", server.seen());

    // Anything but a yes is not offline: the model downloads.
    let online = score(&server, cache.path(), Some("0")).output().unwrap();
    assert!(online.status.success(), "{}", text(&online.stderr));
}
