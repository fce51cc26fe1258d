//! Talking to the Hub: metadata (HEAD), resumable downloads (GET with
//! `Range`), size and sha256 checks, and errors that say what to do.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha256};
use ureq::http::Response;
use ureq::{Agent, Body};

use super::cache::RepoCache;
use super::http::{
    self, content_range, encode, header, hex, is_safe_name, is_sha256, normalize_etag, origin,
};
use super::lock::BlobLock;
use super::progress::Progress;
use super::Hub;
use crate::error::{Error, Result};

/// What a HEAD on `resolve/{revision}/{file}` told us.
struct Meta {
    /// The commit the revision points at (`X-Repo-Commit`).
    commit: Option<String>,
    /// The blob's name: `X-Linked-Etag` (LFS files: their sha256) else `ETag`.
    etag: Option<String>,
    /// The full size: `X-Linked-Size`, else the `Content-Length` of a 200.
    size: Option<u64>,
    /// Where to GET the content (the CDN location of an LFS redirect).
    url: String,
}

/// An HTTP client for one Hub.
pub(super) struct Client<'a> {
    hub: &'a Hub,
    /// Never follows redirects, so the Hub's own headers are seen.
    head: Agent,
    /// Follows redirects (to the CDN).
    get: Agent,
    token: Option<String>,
}

impl<'a> Client<'a> {
    pub(super) fn new(hub: &'a Hub) -> Self {
        let agent = |redirects: u32| -> Agent {
            Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(redirects)
                .timeout_connect(Some(Duration::from_secs(20)))
                .timeout_per_read(Some(Duration::from_secs(60)))
                .user_agent(concat!("gpt2-engine/", env!("CARGO_PKG_VERSION")))
                .build()
                .into()
        };
        Client {
            hub,
            head: agent(0),
            get: agent(10),
            token: super::token(),
        }
    }

    /// Downloads `file` of `repo` at `revision` into the cache (unless its blob
    /// is already there) and links it into the snapshot. Returns the snapshot
    /// path and the commit it belongs to.
    ///
    /// The download holds the blob's lock: a second process fetching the same
    /// blob waits for it, then finds the blob complete and checked.
    ///
    /// Fallbacks when the server does not say: without `X-Repo-Commit` the
    /// snapshot folder is named after the revision itself (`snapshots/main/`);
    /// without an etag the blob is named after the sha256 of its content (and
    /// an interrupted download restarts from zero, as there is no stable name
    /// to resume under, and a waiting process downloads it again).
    pub(super) fn fetch(
        &self,
        repo: &str,
        file: &str,
        revision: &str,
        progress: &dyn Progress,
    ) -> Result<(PathBuf, String)> {
        let cache = RepoCache::new(&self.hub.cache_dir, repo);
        let url = format!(
            "{}/{repo}/resolve/{}/{}",
            self.hub.endpoint,
            encode(revision, false),
            encode(file, true)
        );
        let meta = self.metadata(&url, repo, file, revision)?;
        let commit = meta.commit.clone().unwrap_or_else(|| revision.to_string());
        let complete = |meta: &Meta| meta.etag.clone().filter(|e| cache.blob(e).is_file());
        let etag = match complete(&meta) {
            Some(etag) => etag,
            None => {
                let lock = cache.lock(&partial_name(&meta));
                let _lock = BlobLock::acquire(&lock, repo, file, progress)?;
                // Another process may have finished it while this one waited.
                match complete(&meta) {
                    Some(etag) => etag,
                    None => self.download(&meta, &cache, repo, file, revision, progress)?,
                }
            }
        };
        let path = cache.link(&commit, file, &etag)?;
        cache.write_ref(revision, &commit)?;
        Ok((path, commit))
    }

    fn metadata(&self, url: &str, repo: &str, file: &str, revision: &str) -> Result<Meta> {
        let mut url = url.to_string();
        // The Hub answers a renamed repository with a relative redirect: follow
        // those; an absolute one (LFS content on a CDN) is where to download.
        for _ in 0..10 {
            let response = self.call(&self.head, &url, None, true)?;
            let status = response.status().as_u16();
            let header = |name: &str| header(&response, name);
            let linked_size = header("x-linked-size").and_then(|s| s.parse().ok());
            let commit = header("x-repo-commit").filter(|c| is_safe_name(c));
            let etag = header("x-linked-etag")
                .or_else(|| header("etag"))
                .map(|e| normalize_etag(&e))
                .filter(|e| is_safe_name(e));
            match status {
                200..=299 => {
                    let length = header("content-length").and_then(|s| s.parse().ok());
                    return Ok(Meta {
                        commit,
                        etag,
                        size: linked_size.or(length),
                        url,
                    });
                }
                300..=399 => {
                    let Some(location) = header("location") else {
                        return Err(http::status_error(
                            &self.hub.endpoint,
                            status,
                            None,
                            repo,
                            file,
                            revision,
                        ));
                    };
                    if location.starts_with("http://") || location.starts_with("https://") {
                        return Ok(Meta {
                            commit,
                            etag,
                            size: linked_size,
                            url: location,
                        });
                    }
                    url = format!("{}/{}", origin(&url), location.trim_start_matches('/'));
                }
                _ => {
                    let code = header("x-error-code");
                    return Err(http::status_error(
                        &self.hub.endpoint,
                        status,
                        code,
                        repo,
                        file,
                        revision,
                    ));
                }
            }
        }
        Err(Error::Download(format!(
            "{}: too many redirects while resolving {file} of {repo}",
            self.hub.endpoint
        )))
    }

    /// GETs the content into `blobs/{etag}.incomplete` (resuming what an
    /// earlier run left there), checks it, and renames it to `blobs/{etag}`.
    /// The caller holds the blob's lock.
    fn download(
        &self,
        meta: &Meta,
        cache: &RepoCache,
        repo: &str,
        file: &str,
        revision: &str,
        progress: &dyn Progress,
    ) -> Result<String> {
        let blobs = cache.blobs();
        fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
        let tmp = cache.incomplete(&partial_name(meta));
        let mut offset = match (&meta.etag, fs::metadata(&tmp)) {
            (Some(_), Ok(m)) if meta.size.is_none_or(|size| m.len() <= size) => m.len(),
            _ => 0,
        };

        let mut response = loop {
            let range = (offset > 0).then_some(offset);
            let response = self.call(&self.get, &meta.url, range, false)?;
            match response.status().as_u16() {
                200 => {
                    offset = 0;
                    break response;
                }
                206 if content_range(&response).0 == Some(offset) => break response,
                // A partial answer that does not fit what we kept: start over.
                206 | 416 if offset > 0 => offset = 0,
                status => {
                    let code = header(&response, "x-error-code");
                    return Err(http::status_error(
                        &self.hub.endpoint,
                        status,
                        code,
                        repo,
                        file,
                        revision,
                    ));
                }
            }
        };
        let total = match response.status().as_u16() {
            206 => content_range(&response).1,
            _ => header(&response, "content-length").and_then(|s| s.parse().ok()),
        }
        .or(meta.size);

        let mut hasher = Sha256::new();
        let mut out = if offset == 0 {
            File::create(&tmp).map_err(|e| Error::io(&tmp, e))?
        } else {
            // Hash what an earlier run wrote, then append to it.
            let mut kept = File::open(&tmp).map_err(|e| Error::io(&tmp, e))?;
            std::io::copy(&mut (&mut kept).take(offset), &mut hasher)
                .map_err(|e| Error::io(&tmp, e))?;
            OpenOptions::new()
                .append(true)
                .open(&tmp)
                .map_err(|e| Error::io(&tmp, e))?
        };

        progress.start(file, total, offset);
        let copied = http::copy(&mut response, &mut out, &mut hasher, progress);
        progress.finish();
        let received =
            offset + copied.map_err(|e| http::interrupted(repo, e, &tmp, file, total))?;
        out.flush().map_err(|e| Error::io(&tmp, e))?;
        drop(out);

        for expected in [total, meta.size].into_iter().flatten() {
            if received < expected {
                return Err(Error::Download(format!(
                    "the download of {file} from {repo} stopped after {received} of {expected} \
                     bytes; run the same command again to resume it"
                )));
            }
            if received > expected {
                let _ = fs::remove_file(&tmp);
                return Err(Error::Download(format!(
                    "the download of {file} from {repo} is {received} bytes, the Hub said \
                     {expected}; the download was deleted, run the same command again"
                )));
            }
        }
        let digest = hex(&hasher.finalize());
        let etag = match &meta.etag {
            Some(etag) if is_sha256(etag) && *etag != digest => {
                let _ = fs::remove_file(&tmp);
                return Err(Error::Download(format!(
                    "the download of {file} from {repo} is corrupt (sha256 {digest}, the Hub \
                     says {etag}); it was deleted, run the same command again"
                )));
            }
            Some(etag) => etag.clone(),
            None => digest,
        };
        let blob = cache.blob(&etag);
        fs::rename(&tmp, &blob).map_err(|e| Error::io(&blob, e))?;
        Ok(etag)
    }

    fn call(
        &self,
        agent: &Agent,
        url: &str,
        range: Option<u64>,
        head: bool,
    ) -> Result<Response<Body>> {
        let auth = self
            .token
            .as_ref()
            .filter(|_| url.starts_with(&self.hub.endpoint))
            .map(|token| format!("Bearer {token}"));
        macro_rules! send {
            ($request:expr) => {{
                let mut request = $request.header("Accept-Encoding", "identity");
                if let Some(range) = range {
                    request = request.header("Range", format!("bytes={range}-"));
                }
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }};
        }
        let result = if head {
            send!(agent.head(url))
        } else {
            send!(agent.get(url))
        };
        result.map_err(|e| http::unreachable(&self.hub.endpoint, url, e))
    }
}

/// The name a blob is downloaded (`.incomplete`) and locked under: its etag,
/// else one derived from its URL.
fn partial_name(meta: &Meta) -> String {
    match &meta.etag {
        Some(etag) => etag.clone(),
        None => format!("download-{}", hex(&Sha256::digest(&meta.url))),
    }
}
