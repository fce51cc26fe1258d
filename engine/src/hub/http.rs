//! HTTP helpers for Hub downloads: headers, URLs, and errors that say what to do.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use ureq::http::Response;
use ureq::Body;

use super::progress::Progress;
use crate::error::Error;

pub(super) fn unreachable(endpoint: &str, url: &str, e: ureq::Error) -> Error {
    Error::Download(format!(
        "could not reach the Hugging Face Hub at {endpoint} (fetching {url}: {e}): check the \
         network connection, set HF_ENDPOINT to use a mirror, or pass a local model \
         folder to --model instead",
    ))
}

pub(super) fn interrupted(
    repo: &str,
    e: std::io::Error,
    tmp: &Path,
    file: &str,
    total: Option<u64>,
) -> Error {
    let got = fs::metadata(tmp).map(|m| m.len()).unwrap_or(0);
    let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
    Error::Download(format!(
        "the download of {file} from {repo} was interrupted after {got}{of} bytes ({e}); \
         run the same command again to resume it"
    ))
}

pub(super) fn status_error(
    endpoint: &str,
    status: u16,
    code: Option<String>,
    repo: &str,
    file: &str,
    revision: &str,
) -> Error {
    let check = "check the model name (e.g. gpt2, gpt2-medium, openai-community/gpt2), \
                 set HF_ENDPOINT to use another Hub, or log in (set HF_TOKEN) for a \
                 private or gated repository";
    match (status, code.as_deref()) {
        (_, Some("EntryNotFound")) | (404, None) => Error::Input(format!(
            "{file} was not found in the repository {repo} (revision {revision}) on \
             {endpoint} (HTTP {status}): {check}"
        )),
        (_, Some("RevisionNotFound")) => Error::Input(format!(
            "revision {revision} of the repository {repo} was not found on {endpoint} \
             (HTTP {status}): {check}"
        )),
        (401 | 403 | 404, _) => Error::Input(format!(
            "the repository {repo} was not found on {endpoint} or needs a login \
             (HTTP {status}): {check}"
        )),
        _ => Error::Download(format!(
            "{endpoint} answered HTTP {status} for {file} of {repo}: the Hub may be \
             down, try again later, set HF_ENDPOINT to use a mirror, or pass a local \
             model folder to --model instead"
        )),
    }
}

/// Streams the body to `out`, hashing and reporting it; returns the bytes written.
pub(super) fn copy(
    response: &mut Response<Body>,
    out: &mut File,
    hasher: &mut Sha256,
    progress: &dyn Progress,
) -> std::io::Result<u64> {
    let mut reader = response.body_mut().as_reader();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut written = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(written),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buffer[..n])?;
        hasher.update(&buffer[..n]);
        written += n as u64;
        progress.advance(n as u64);
    }
}

pub(super) fn header(response: &Response<Body>, name: &str) -> Option<String> {
    let value = response.headers().get(name)?.to_str().ok()?.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// `Content-Range: bytes START-END/TOTAL` as (START, TOTAL).
pub(super) fn content_range(response: &Response<Body>) -> (Option<u64>, Option<u64>) {
    let Some(value) = header(response, "content-range") else {
        return (None, None);
    };
    let rest = value.strip_prefix("bytes").unwrap_or(&value).trim();
    let (span, total) = rest.split_once('/').unwrap_or((rest, "*"));
    let start = span
        .split_once('-')
        .and_then(|(s, _)| s.trim().parse().ok());
    (start, total.trim().parse().ok())
}

/// `W/"abc"` → `abc`.
pub(super) fn normalize_etag(etag: &str) -> String {
    etag.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

/// Safe as a file name in the cache: no separators, no `..`.
pub(super) fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

pub(super) fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `scheme://host[:port]` of a URL.
pub(super) fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Percent-encodes a URL path segment (keeping `/` when `keep_slash`).
pub(super) fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
