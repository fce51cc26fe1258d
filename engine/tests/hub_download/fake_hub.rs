//! A tiny local HTTP server that mimics the Hub's URLs and headers.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use std::path::Path;

use engine::hub::Hub;
use sha2::{Digest, Sha256};

pub(crate) const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
pub(crate) const REPO: &str = "openai-community/gpt2";
pub(crate) const CONFIG: &[u8] = br#"{"n_embd": 8, "n_head": 2, "n_layer": 1}"#;
pub(crate) const TOKENIZER: &[u8] = br#"{"version": "1.0", "model": {"type": "BPE"}}"#;

pub(crate) fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// About 1 MB of pseudo-random bytes (xorshift), standing in for a checkpoint.
pub(crate) fn weights() -> Vec<u8> {
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
pub(crate) fn git_etag(content: &[u8]) -> String {
    sha256(content)[..40].to_string()
}

/// A request the server saw.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) range: Option<String>,
}

#[derive(Default)]
pub(crate) struct State {
    /// "owner/repo/file" → content.
    pub(crate) files: HashMap<String, Vec<u8>>,
    pub(crate) seen: Vec<Seen>,
    /// Cut the connection after this many body bytes, on the next GET of content.
    pub(crate) cut_after: Option<usize>,
    /// Flip a byte of every LFS body served.
    pub(crate) corrupt: bool,
}

/// Holds GETs of LFS content while closed, so a test can see what other
/// clients do while one download is in flight.
#[derive(Default)]
pub(crate) struct Gate {
    /// (closed, how many GETs it holds now)
    state: Mutex<(bool, usize)>,
    changed: Condvar,
}

impl Gate {
    pub(crate) fn close(&self) {
        self.state.lock().unwrap().0 = true;
    }

    pub(crate) fn open(&self) {
        self.state.lock().unwrap().0 = false;
        self.changed.notify_all();
    }

    /// Waits (at most a minute, so a broken test fails rather than hangs)
    /// until the gate is open.
    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        state.1 += 1;
        self.changed.notify_all();
        let deadline = Instant::now() + Duration::from_secs(60);
        while state.0 && Instant::now() < deadline {
            state = self
                .changed
                .wait_timeout(state, Duration::from_secs(1))
                .unwrap()
                .0;
        }
        state.1 -= 1;
    }

    /// Waits until the gate holds `n` GETs; false after `timeout`.
    pub(crate) fn wait_held(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        while state.1 < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
        true
    }
}

/// A tiny HTTP/1.1 server that answers like the Hub: small files with a 200
/// (`ETag`, `X-Repo-Commit`), `.safetensors` files (LFS) with a 302 to a
/// "CDN" URL (`X-Linked-Etag` = sha256, `X-Linked-Size`), which serves the
/// bytes and honours `Range`. Unknown repositories get 401 `RepoNotFound`,
/// unknown files 404 `EntryNotFound`, as on the Hub. Each connection is
/// served on its own thread.
pub(crate) struct Server {
    pub(crate) endpoint: String,
    pub(crate) state: Arc<Mutex<State>>,
    pub(crate) gate: Arc<Gate>,
}

impl Server {
    pub(crate) fn start(files: &[(&str, &[u8])]) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            files: files
                .iter()
                .map(|(path, content)| (path.to_string(), content.to_vec()))
                .collect(),
            ..State::default()
        }));
        let gate = Arc::new(Gate::default());
        let (shared, base, held) = (state.clone(), endpoint.clone(), gate.clone());
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (shared, base, held) = (shared.clone(), base.clone(), held.clone());
                thread::spawn(move || serve(stream, &shared, &base, &held));
            }
        });
        Server {
            endpoint,
            state,
            gate,
        }
    }

    pub(crate) fn model() -> Server {
        let weights = weights();
        Server::start(&[
            (&format!("{REPO}/config.json"), CONFIG),
            (&format!("{REPO}/model.safetensors"), &weights),
            (&format!("{REPO}/tokenizer.json"), TOKENIZER),
        ])
    }

    pub(crate) fn hub(&self, cache: &Path) -> Hub {
        Hub {
            endpoint: self.endpoint.clone(),
            cache_dir: cache.to_path_buf(),
            revision: "main".to_string(),
            offline: false,
        }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// How many `method` requests had a path ending in `suffix`.
    pub(crate) fn count(&self, method: &str, suffix: &str) -> usize {
        let seen = self.seen();
        seen.iter()
            .filter(|s| s.method == method && s.path.ends_with(suffix))
            .count()
    }
}

pub(crate) fn serve(
    stream: TcpStream,
    state: &Mutex<State>,
    endpoint: &str,
    gate: &Gate,
) -> std::io::Result<()> {
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
        let cut_after = if head { None } else { state.cut_after.take() };
        drop(state);
        if !head {
            gate.pass();
            if let Some(cut) = cut_after {
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

pub(crate) fn write_head(
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

pub(crate) fn respond(
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
