//! A static HTTP/1.1 server on 127.0.0.1 for the tests: the built page at `/`
//! and a Hugging Face Hub mirror at `/mirror/<repo>/resolve/main/<file>`.
//! One thread per connection, `Connection: close`, files streamed from disk on
//! every request (so a rebuilt page is served as it is now), and a count of
//! the requests for every path. An isolated server also sends COOP
//! `same-origin` and COEP `require-corp`, which make the page cross-origin
//! isolated (its threaded build, with the CPU on Web Workers).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

/// A running server; it serves until the process ends.
pub struct Server {
    port: u16,
    requests: Arc<Mutex<HashMap<String, usize>>>,
}

impl Server {
    /// Serves `site` at `/` (`index.html` for `/`) and the model folders of
    /// `mirror` (`mirror/<repo>/<file>`) at `/mirror/<repo>/resolve/main/<file>`.
    pub fn start(site: &Path, mirror: &Path) -> Server {
        Server::serve(site, mirror, false)
    }

    /// The same, cross-origin isolated.
    pub fn start_isolated(site: &Path, mirror: &Path) -> Server {
        Server::serve(site, mirror, true)
    }

    fn serve(site: &Path, mirror: &Path, isolated: bool) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(Mutex::new(HashMap::new()));
        let roots = Arc::new((site.to_path_buf(), mirror.to_path_buf()));
        let counts = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let roots = Arc::clone(&roots);
                let counts = Arc::clone(&counts);
                thread::spawn(move || {
                    // A client that hangs up mid-transfer is not the server's problem.
                    let _ = handle(stream, &roots.0, &roots.1, &counts, isolated);
                });
            }
        });
        Server { port, requests }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The Hub mirror's base URL, for the page's `hub` parameter.
    pub fn hub_url(&self) -> String {
        format!("{}/mirror", self.url())
    }

    /// How many requests asked for `path` (without the query), whatever their answer.
    pub fn requests(&self, path: &str) -> usize {
        let counts = self.requests.lock().expect("request counts");
        counts.get(path).copied().unwrap_or(0)
    }
}

fn handle(
    stream: TcpStream,
    site: &Path,
    mirror: &Path,
    counts: &Mutex<HashMap<String, usize>>,
    isolated: bool,
) -> io::Result<()> {
    let isolation = if isolated {
        "Cross-Origin-Opener-Policy: same-origin\r\nCross-Origin-Embedder-Policy: require-corp\r\n"
    } else {
        ""
    };
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers are read and dropped: nothing here depends on them.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default();
    let path = target
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string();
    *counts
        .lock()
        .expect("request counts")
        .entry(path.clone())
        .or_default() += 1;

    let mut out = stream;
    match method.as_str() {
        "GET" | "HEAD" => {}
        "OPTIONS" => return respond(&mut out, "204 No Content", "text/plain", 0, isolation, &[]),
        _ => {
            let text = "method not allowed";
            return respond_text(&mut out, "405 Method Not Allowed", isolation, text);
        }
    }
    let not_found = format!("not found: {path}");
    let Some(file) = resolve(&path, site, mirror) else {
        return respond_text(&mut out, "404 Not Found", isolation, &not_found);
    };
    let Ok(mut body) = File::open(&file) else {
        return respond_text(&mut out, "404 Not Found", isolation, &not_found);
    };
    let length = body.metadata()?.len();
    respond(
        &mut out,
        "200 OK",
        content_type(&file),
        length,
        isolation,
        &[],
    )?;
    if method == "GET" {
        io::copy(&mut body, &mut out)?;
    }
    out.flush()
}

/// The file a URL path names, if it is a plain file inside one of the roots.
fn resolve(path: &str, site: &Path, mirror: &Path) -> Option<PathBuf> {
    let relative = |root: &Path, rest: &str| -> Option<PathBuf> {
        let rest = Path::new(rest);
        let plain = rest.components().all(|c| matches!(c, Component::Normal(_)));
        let file = root.join(rest);
        (plain && file.is_file()).then_some(file)
    };
    if let Some(rest) = path.strip_prefix("/mirror/") {
        let (repo, file) = rest.split_once("/resolve/main/")?;
        return relative(mirror, &format!("{repo}/{file}"));
    }
    match path.trim_start_matches('/') {
        "" => relative(site, "index.html"),
        rest => relative(site, rest),
    }
}

fn content_type(file: &Path) -> &'static str {
    match file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript",
        "wasm" => "application/wasm",
        "css" => "text/css",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn respond_text(out: &mut TcpStream, status: &str, extra: &str, text: &str) -> io::Result<()> {
    let length = text.len() as u64;
    let kind = "text/plain; charset=utf-8";
    respond(out, status, kind, length, extra, text.as_bytes())
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    content_type: &str,
    length: u64,
    extra_headers: &str,
    body: &[u8],
) -> io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\n\
         Content-Type: {content_type}\r\n\
         Content-Length: {length}\r\n\
         Access-Control-Allow-Origin: *\r\n\
         Access-Control-Allow-Headers: *\r\n\
         Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n\
         Access-Control-Expose-Headers: Content-Length\r\n\
         Cache-Control: no-store\r\n\
         {extra_headers}\
         Connection: close\r\n\r\n"
    )?;
    out.write_all(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_their_roots_only() {
        let root = tempfile::tempdir().unwrap();
        let (site, mirror) = (root.path().join("site"), root.path().join("mirror"));
        std::fs::create_dir_all(mirror.join("owner/model")).unwrap();
        std::fs::create_dir_all(&site).unwrap();
        std::fs::write(site.join("index.html"), "<p>hi</p>").unwrap();
        std::fs::write(mirror.join("owner/model/config.json"), "{}").unwrap();

        let got = |p: &str| resolve(p, &site, &mirror);
        assert_eq!(got("/"), Some(site.join("index.html")));
        assert_eq!(got("/index.html"), Some(site.join("index.html")));
        assert_eq!(
            got("/mirror/owner/model/resolve/main/config.json"),
            Some(mirror.join("owner/model/config.json"))
        );
        assert_eq!(got("/mirror/owner/model/config.json"), None);
        assert_eq!(got("/../site/index.html"), None);
        assert_eq!(
            got("/mirror/owner/../owner/model/resolve/main/config.json"),
            None
        );
        assert_eq!(got("/missing.js"), None);
    }
}
