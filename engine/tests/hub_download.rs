//! Hub downloads against a tiny local HTTP server that mimics the Hub's URLs
//! and headers: the cache layout, caching, resuming, errors, local folders.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

use engine::hub::{self, Hub, NoProgress, Progress};
use engine::Error;
use sha2::{Digest, Sha256};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const REPO: &str = "openai-community/gpt2";
const CONFIG: &[u8] = br#"{"n_embd": 8, "n_head": 2, "n_layer": 1}"#;
const TOKENIZER: &[u8] = br#"{"version": "1.0", "model": {"type": "BPE"}}"#;

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// About 1 MB of pseudo-random bytes (xorshift), standing in for a checkpoint.
fn weights() -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..1_000_003)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The etag the fake Hub gives a small (git, not LFS) file: 40 hex digits.
fn git_etag(content: &[u8]) -> String {
    sha256(content)[..40].to_string()
}

/// A request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    range: Option<String>,
}

#[derive(Default)]
struct State {
    /// "owner/repo/file" → content.
    files: HashMap<String, Vec<u8>>,
    seen: Vec<Seen>,
    /// Cut the connection after this many body bytes, on the next GET of content.
    cut_after: Option<usize>,
    /// Flip a byte of every LFS body served.
    corrupt: bool,
}

/// A tiny HTTP/1.1 server that answers like the Hub: small files with a 200
/// (`ETag`, `X-Repo-Commit`), `.safetensors` files (LFS) with a 302 to a
/// "CDN" URL (`X-Linked-Etag` = sha256, `X-Linked-Size`), which serves the
/// bytes and honours `Range`. Unknown repositories get 401 `RepoNotFound`,
/// unknown files 404 `EntryNotFound`, as on the Hub.
struct Server {
    endpoint: String,
    state: Arc<Mutex<State>>,
}

impl Server {
    fn start(files: &[(&str, &[u8])]) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            files: files
                .iter()
                .map(|(path, content)| (path.to_string(), content.to_vec()))
                .collect(),
            ..State::default()
        }));
        let (shared, base) = (state.clone(), endpoint.clone());
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &shared, &base);
            }
        });
        Server { endpoint, state }
    }

    fn model() -> Server {
        let weights = weights();
        Server::start(&[
            (&format!("{REPO}/config.json"), CONFIG),
            (&format!("{REPO}/model.safetensors"), &weights),
            (&format!("{REPO}/tokenizer.json"), TOKENIZER),
        ])
    }

    fn hub(&self, cache: &Path) -> Hub {
        Hub {
            endpoint: self.endpoint.clone(),
            cache_dir: cache.to_path_buf(),
            revision: "main".to_string(),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>, endpoint: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let mut state = state.lock().unwrap();
    state.seen.push(Seen {
        method: method.clone(),
        path: path.clone(),
        range: range.clone(),
    });
    let head = method == "HEAD";
    let mut out = stream;

    if let Some(sha) = path.strip_prefix("/cdn/") {
        let Some(content) = state.files.values().find(|c| sha256(c) == sha).cloned() else {
            return respond(&mut out, "404 Not Found", &[], b"", head);
        };
        let mut body = content.clone();
        if state.corrupt {
            body[content.len() / 2] ^= 0xff;
        }
        let start: usize = range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let status = if range.is_some() {
            "206 Partial Content"
        } else {
            "200 OK"
        };
        let content_range = format!("bytes {start}-{}/{}", body.len() - 1, body.len());
        let mut headers = vec![("ETag", format!("\"{sha}\""))];
        if range.is_some() {
            headers.push(("Content-Range", content_range));
        }
        let body = &body[start..];
        if !head {
            if let Some(cut) = state.cut_after.take() {
                write_head(&mut out, status, &headers, body.len())?;
                out.write_all(&body[..cut])?;
                out.flush()?;
                return out.shutdown(std::net::Shutdown::Both);
            }
        }
        return respond(&mut out, status, &headers, body, head);
    }

    // /{owner}/{repo}/resolve/{revision}/{file}
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    let [owner, repo, "resolve", _revision, file] = segments[..] else {
        return respond(&mut out, "404 Not Found", &[], b"", head);
    };
    let repo = format!("{owner}/{repo}");
    if !state
        .files
        .keys()
        .any(|k| k.starts_with(&format!("{repo}/")))
    {
        let headers = [("X-Error-Code", "RepoNotFound".to_string())];
        return respond(&mut out, "401 Unauthorized", &headers, b"", head);
    }
    let Some(content) = state.files.get(&format!("{repo}/{file}")).cloned() else {
        let headers = [
            ("X-Error-Code", "EntryNotFound".to_string()),
            ("X-Repo-Commit", COMMIT.to_string()),
        ];
        return respond(&mut out, "404 Not Found", &headers, b"", head);
    };
    if file.ends_with(".safetensors") {
        let sha = sha256(&content);
        let headers = [
            ("X-Repo-Commit", COMMIT.to_string()),
            ("X-Linked-Etag", format!("\"{sha}\"")),
            ("X-Linked-Size", content.len().to_string()),
            ("ETag", "\"not-the-blob\"".to_string()),
            ("Location", format!("{endpoint}/cdn/{sha}")),
        ];
        return respond(&mut out, "302 Found", &headers, b"", head);
    }
    let headers = [
        ("X-Repo-Commit", COMMIT.to_string()),
        ("ETag", format!("W/\"{}\"", git_etag(&content))),
    ];
    respond(&mut out, "200 OK", &headers, &content, head)
}

fn write_head(
    out: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    length: usize,
) -> std::io::Result<()> {
    let mut text =
        format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    out.write_all(text.as_bytes())
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
    head: bool,
) -> std::io::Result<()> {
    write_head(out, status, headers, body.len())?;
    if !head {
        out.write_all(body)?;
    }
    out.flush()
}

fn repo_dir(cache: &Path) -> PathBuf {
    cache.join("models--openai-community--gpt2")
}

/// Every file under `dir`, relative to it.
fn listing(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn downloads_a_model_into_the_hf_cache_layout() {
    let server = Server::model();
    let cache = tempfile::tempdir().unwrap();
    let files = server.hub(cache.path()).model(REPO, &NoProgress).unwrap();

    let repo = repo_dir(cache.path());
    let snapshot = repo.join("snapshots").join(COMMIT);
    assert_eq!(files.dir, snapshot);
    assert_eq!(files.config, snapshot.join("config.json"));
    assert_eq!(files.weights, snapshot.join("model.safetensors"));
    assert_eq!(files.tokenizer, snapshot.join("tokenizer.json"));
    assert_eq!(fs::read_to_string(repo.join("refs/main")).unwrap(), COMMIT);

    let weights = weights();
    let expected = [
        ("config.json", CONFIG.to_vec(), git_etag(CONFIG)),
        ("model.safetensors", weights.clone(), sha256(&weights)),
        ("tokenizer.json", TOKENIZER.to_vec(), git_etag(TOKENIZER)),
    ];
    let mut blobs: Vec<String> = expected.iter().map(|(_, _, etag)| etag.clone()).collect();
    blobs.sort();
    assert_eq!(listing(&repo.join("blobs")), blobs);
    for (file, content, etag) in &expected {
        let link = snapshot.join(file);
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::read_link(&link).unwrap(),
            Path::new("../../blobs").join(etag)
        );
        assert_eq!(&fs::read(repo.join("blobs").join(etag)).unwrap(), content);
        assert_eq!(&fs::read(&link).unwrap(), content, "{file}");
    }
}

#[test]
fn a_cached_model_makes_no_request() {
    let server = Server::model();
    let cache = tempfile::tempdir().unwrap();
    let hub = server.hub(cache.path());
    let first = hub.model(REPO, &NoProgress).unwrap();
    let requests = server.seen().len();
    assert!(requests >= 3, "{:?}", server.seen());

    let second = hub.model(REPO, &NoProgress).unwrap();
    let one = hub.get(REPO, "tokenizer.json", &NoProgress).unwrap();
    assert_eq!(first, second);
    assert_eq!(one, first.tokenizer);
    assert_eq!(server.seen().len(), requests, "{:?}", server.seen());

    // Not even a connection: the same cache works with the Hub unreachable.
    let offline = Hub {
        endpoint: closed_port(),
        ..hub
    };
    assert_eq!(offline.model(REPO, &NoProgress).unwrap(), first);
}

/// Records what a download reported.
#[derive(Default)]
struct Recorder {
    starts: Mutex<Vec<(String, Option<u64>, u64)>>,
    advanced: Mutex<u64>,
    finishes: Mutex<usize>,
}

impl Progress for Recorder {
    fn start(&self, file: &str, total: Option<u64>, already: u64) {
        self.starts
            .lock()
            .unwrap()
            .push((file.to_string(), total, already));
    }
    fn advance(&self, bytes: u64) {
        *self.advanced.lock().unwrap() += bytes;
    }
    fn finish(&self) {
        *self.finishes.lock().unwrap() += 1;
    }
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let server = Server::model();
    let cache = tempfile::tempdir().unwrap();
    let hub = server.hub(cache.path());
    let weights = weights();
    let sha = sha256(&weights);
    let cut = 300_000;
    server.state.lock().unwrap().cut_after = Some(cut);

    let err = hub.get(REPO, "model.safetensors", &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Download(_)), "{err:?}");
    assert!(err.to_string().contains("again"), "{err}");
    let blobs = repo_dir(cache.path()).join("blobs");
    let partial = blobs.join(format!("{sha}.incomplete"));
    assert_eq!(fs::metadata(&partial).unwrap().len(), cut as u64);
    assert!(!blobs.join(&sha).exists());

    let progress = Recorder::default();
    let path = hub.get(REPO, "model.safetensors", &progress).unwrap();
    assert_eq!(fs::read(&path).unwrap(), weights);
    assert!(!partial.exists());
    assert!(server.seen().iter().any(|s| s.method == "GET"
        && s.path.starts_with("/cdn/")
        && s.range.as_deref() == Some(&format!("bytes={cut}-"))));
    assert_eq!(
        *progress.starts.lock().unwrap(),
        [(
            "model.safetensors".to_string(),
            Some(weights.len() as u64),
            cut as u64
        )]
    );
    assert_eq!(
        *progress.advanced.lock().unwrap(),
        (weights.len() - cut) as u64
    );
    assert_eq!(*progress.finishes.lock().unwrap(), 1);
}

#[test]
fn a_missing_repo_or_file_is_bad_input() {
    let server = Server::model();
    let cache = tempfile::tempdir().unwrap();
    let hub = server.hub(cache.path());

    let err = hub.model("nobody/no-such-model", &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("nobody/no-such-model"), "{message}");
    assert!(message.contains(&server.endpoint), "{message}");

    let err = hub.get(REPO, "pytorch_model.bin", &NoProgress).unwrap_err();
    assert!(err.is_bad_input(), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(REPO) && message.contains("pytorch_model.bin"));
}

/// An endpoint on a port nothing listens on.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[test]
fn an_unreachable_hub_is_a_download_error() {
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub {
        endpoint: closed_port(),
        cache_dir: cache.path().to_path_buf(),
        revision: "main".to_string(),
    };
    let err = hub.model(REPO, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Download(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&hub.endpoint), "{message}");
    assert!(message.contains("HF_ENDPOINT"), "{message}");
    assert!(message.contains("local model folder"), "{message}");
}

#[test]
fn a_corrupted_download_is_rejected_and_leaves_no_blob() {
    let server = Server::model();
    let cache = tempfile::tempdir().unwrap();
    let hub = server.hub(cache.path());
    server.state.lock().unwrap().corrupt = true;

    let err = hub.get(REPO, "model.safetensors", &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Download(_)), "{err:?}");
    assert!(err.to_string().contains("sha256"), "{err}");
    let repo = repo_dir(cache.path());
    assert_eq!(listing(&repo.join("blobs")), Vec::<String>::new());
    assert!(!repo.join("snapshots").join(COMMIT).exists());

    // Once the server sends the right bytes, the next run succeeds.
    server.state.lock().unwrap().corrupt = false;
    let path = hub.get(REPO, "model.safetensors", &NoProgress).unwrap();
    assert_eq!(fs::read(path).unwrap(), weights());
}

#[test]
fn resolves_local_folders() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        fs::write(dir.path().join(file), b"{}").unwrap();
    }
    let model = dir.path().to_str().unwrap();
    let files = hub::resolve(model, &NoProgress).unwrap();
    assert_eq!(files.dir, dir.path());
    assert_eq!(files.config, dir.path().join("config.json"));
    assert_eq!(files.weights, dir.path().join("model.safetensors"));
    assert_eq!(files.tokenizer, dir.path().join("tokenizer.json"));

    fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = hub::resolve(model, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("tokenizer.json is missing"), "{message}");
    assert!(message.contains("save_pretrained"), "{message}");

    for missing in ["/no/such/model/folder", "./no-such-model-folder", "../nope"] {
        let err = hub::resolve(missing, &NoProgress).unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err:?}");
        assert!(err.to_string().contains("no such folder"), "{err}");
    }
    let err = hub::resolve("not a model name!", &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err:?}");
}

#[test]
fn hub_names_map_to_repos() {
    for name in ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"] {
        assert_eq!(hub::repo_for_name(name), format!("openai-community/{name}"));
    }
    assert_eq!(hub::repo_for_name("distilgpt2"), "distilbert/distilgpt2");
    assert_eq!(hub::repo_for_name("someone/my-gpt2"), "someone/my-gpt2");
}

/// Runs `from_env_child` in a fresh copy of this test binary with `vars` set
/// (and the other Hub variables removed), so no test mutates its own environment.
fn from_env_in_child(vars: &[(&str, &str)], endpoint: &str, cache: &str) {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args([
        "--exact",
        "from_env_child",
        "--nocapture",
        "--test-threads=1",
    ]);
    for name in ["HF_ENDPOINT", "HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"] {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied());
    command.env("HUB_TEST_EXPECT", format!("{endpoint}\n{cache}"));
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn from_env_child() {
    // Only does something when started by `hub_settings_come_from_the_environment`.
    let Ok(expect) = std::env::var("HUB_TEST_EXPECT") else {
        return;
    };
    let (endpoint, cache) = expect.split_once('\n').unwrap();
    let hub = Hub::from_env();
    assert_eq!(hub.endpoint, endpoint);
    assert_eq!(hub.cache_dir, Path::new(cache));
    assert_eq!(hub.revision, "main");
}

#[test]
fn hub_settings_come_from_the_environment() {
    from_env_in_child(
        &[
            ("HF_ENDPOINT", "http://mirror.test:8080/"),
            ("HF_HOME", "/tmp/hf-home"),
        ],
        "http://mirror.test:8080",
        "/tmp/hf-home/hub",
    );
    from_env_in_child(
        &[
            ("HF_HUB_CACHE", "/tmp/hub-cache"),
            ("HF_HOME", "/tmp/hf-home"),
        ],
        "https://huggingface.co",
        "/tmp/hub-cache",
    );
    from_env_in_child(
        &[("HOME", "/home/someone")],
        "https://huggingface.co",
        "/home/someone/.cache/huggingface/hub",
    );
}
