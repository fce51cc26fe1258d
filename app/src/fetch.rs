//! Downloads with progress, kept in the browser's Cache Storage so that a
//! reload reads the files from disk instead of the network. The body is
//! streamed chunk by chunk into one buffer of the final size: a file is held
//! once in WebAssembly memory.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, Response};

/// The Cache Storage bucket of the page's downloads.
const CACHE_NAME: &str = "gpt2-playground-files-v1";

/// What a download reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub loaded: u64,
    /// 0 when the server gives no length.
    pub total: u64,
    /// Read from the cache rather than the network.
    pub cached: bool,
}

/// The bytes at `url`, from the cache when there, else downloaded (and
/// cached once complete); refused, before anything is allocated for it, when
/// the body is larger than `limit` bytes. `on_progress` sees every chunk.
/// `keep`: use the page's cache (files served with the page itself are left
/// to the browser's HTTP cache, so that a new version of the page brings
/// new ones).
pub async fn fetch_bytes(
    url: &str,
    limit: Limit,
    keep: bool,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window: the page must run in a browser")?;
    let cache = if keep { open_cache().await } else { None };
    let mut cached = false;
    let mut response = None;
    if let Some(cache) = &cache {
        if let Ok(hit) = JsFuture::from(cache.match_with_str(url)).await {
            if let Ok(hit) = hit.dyn_into::<Response>() {
                cached = true;
                response = Some(hit);
            }
        }
    }
    let response = match response {
        Some(r) => r,
        None => {
            let r: Response = JsFuture::from(window.fetch_with_str(url))
                .await
                .map_err(|e| {
                    format!(
                        "could not download {url}: {} (offline, or the server refused)",
                        js_text(&e)
                    )
                })?
                .unchecked_into();
            if !r.ok() {
                return Err(match r.status() {
                    404 => format!(
                        "{url} was not found (HTTP 404): check the model name and the hub address"
                    ),
                    401 | 403 => format!(
                        "{url} needs an account or permission (HTTP {}): pick a public model",
                        r.status()
                    ),
                    s => format!("downloading {url} failed with HTTP {s}"),
                });
            }
            if let Some(cache) = &cache {
                // The cache reads its own copy of the stream; a download that
                // fails half-way leaves nothing behind.
                if let Ok(copy) = r.clone() {
                    let _ = cache.put_with_str(url, &copy);
                }
            }
            r
        }
    };
    let bytes = read_body(&response, url, cached, limit, on_progress).await;
    if bytes.is_err() {
        forget(url).await;
    }
    bytes
}

/// The bytes of a local file (a folder the user picked), with progress.
pub async fn read_file(
    file: &web_sys::File,
    limit: Limit,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Vec<u8>, String> {
    let response = Response::new_with_opt_blob(Some(file))
        .map_err(|e| format!("could not read {}: {}", file.name(), js_text(&e)))?;
    read_body(&response, &file.name(), false, limit, on_progress).await
}

/// The most bytes a file may have, and why, for the message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub bytes: u64,
    pub why: &'static str,
}

impl Limit {
    /// The refusal of a body of `size` bytes, if it is one.
    pub fn check(&self, url: &str, size: u64) -> Result<(), String> {
        if size > self.bytes {
            return Err(format!(
                "{url} is {size} bytes, more than the {} bytes {}: is this the right file?",
                self.bytes, self.why
            ));
        }
        Ok(())
    }
}

/// Streams a response's body into one buffer of its announced size.
async fn read_body(
    response: &Response,
    url: &str,
    cached: bool,
    limit: Limit,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Vec<u8>, String> {
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    limit.check(url, total)?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(total as usize)
        .map_err(|_| format!("{url} ({total} bytes) does not fit in this page's memory"))?;
    on_progress(Progress {
        loaded: 0,
        total,
        cached,
    });
    let body = response
        .body()
        .ok_or_else(|| format!("{url}: the response has no body"))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("the download of {url} broke off: {}", js_text(&e)))?;
        if Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true)
        {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())
            .map_err(|e| js_text(&e))?
            .unchecked_into();
        let start = bytes.len();
        let end = start + value.length() as usize;
        limit.check(url, end as u64)?;
        bytes
            .try_reserve(end - start)
            .map_err(|_| format!("{url} does not fit in this page's memory"))?;
        bytes.resize(end, 0);
        value.copy_to(&mut bytes[start..]);
        on_progress(Progress {
            loaded: bytes.len() as u64,
            total,
            cached,
        });
    }
    if total > 0 && bytes.len() as u64 != total {
        return Err(format!(
            "the download of {url} stopped at {} of {total} bytes: reload to try again",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// Drops `url` from the cache (a file found broken is fetched again next time).
pub async fn forget(url: &str) {
    if let Some(cache) = open_cache().await {
        let _ = JsFuture::from(cache.delete_with_str(url)).await;
    }
}

/// The page's cache bucket, where the browser offers Cache Storage.
async fn open_cache() -> Option<Cache> {
    let caches = web_sys::window()?.caches().ok()?;
    JsFuture::from(caches.open(CACHE_NAME))
        .await
        .ok()?
        .dyn_into()
        .ok()
}

/// A JavaScript error in words.
pub fn js_text(value: &JsValue) -> String {
    if let Some(e) = value.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
