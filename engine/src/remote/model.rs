//! [`RemoteModel`]: the [`LanguageModel`] contract over a WebSocket to
//! `gpt2 serve`, so that every strategy runs unchanged against the models a
//! native server holds (gpt2-xl on CUDA, say).
//!
//! The cache calls are synchronous in the contract, so a [`RemoteCache`]
//! applies them to its own length and row count at once and queues them;
//! the next pass sends them ahead of its tokens. Dropping a cache queues its
//! release the same way; closing the connection frees them all.
//!
//! Natively and in the browser alike (`Remote::connect(url, token).await`).
//! A pass whose caller stops awaiting it still runs on the server: its
//! answer is dropped unread, and its cache, now out of step with the
//! server's, is for dropping only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_lock::Mutex as AsyncMutex;

use super::protocol::{
    decode_hidden, decode_logits, decode_tokenizer, decode_top, CacheOp, ErrorKind, ModelInfo,
    Pass, Reply, Request, ServerLimits, VERSION,
};
use super::transport::{Frame, Transport};
use crate::backend::{check_forward, check_hidden, check_reorder, check_top, KvCache};
use crate::backend::{Hidden, HiddenRequest, TopLogits, MAX_TOP};
use crate::backend::{LanguageModel, Logits};
use crate::config::Gpt2Config;
use crate::decoding::limits;
use crate::{Error, Result};

/// One connection to `gpt2 serve`, shared by the models it serves.
pub struct Remote {
    /// Held for one exchange at a time, across its await.
    transport: AsyncMutex<Transport>,
    url: String,
    /// Caches dropped since the last pass, released with the next one.
    freed: Mutex<Vec<u64>>,
    next_id: AtomicU64,
    models: Vec<ModelInfo>,
    limits: ServerLimits,
}

impl Remote {
    /// Connects to `url` (`ws://HOST:PORT`) and shows `token`, as `gpt2 serve`
    /// printed them on its `ready` line.
    // One API on every target: in the browser (one thread) the Arc is never
    // shared across threads.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub async fn connect(url: &str, token: &str) -> Result<Arc<Remote>> {
        let mut transport = Transport::connect(url).await?;
        let hello = Request::Hello {
            version: VERSION,
            token: token.to_string(),
        };
        match read_reply(transport.exchange(to_json(&hello)).await?)? {
            Reply::Welcome {
                version,
                models,
                limits,
            } if version == VERSION => Ok(Arc::new(Remote {
                transport: AsyncMutex::new(transport),
                url: url.to_string(),
                freed: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(1),
                models,
                limits,
            })),
            other => Err(unexpected(&other)),
        }
    }

    /// The models the server loaded: `--model` first, then `--second`.
    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    /// The bounds the server enforces.
    pub fn limits(&self) -> &ServerLimits {
        &self.limits
    }

    /// The server's model `index` as a [`LanguageModel`].
    pub fn model(self: &Arc<Self>, index: usize) -> Result<RemoteModel> {
        let info = self.check_index(index)?;
        Ok(RemoteModel {
            remote: Arc::clone(self),
            index,
            config: info.config.clone(),
        })
    }

    /// (sessions, caches) open on the server, this connection included.
    pub async fn stats(&self) -> Result<(usize, usize)> {
        let id = self.next_id();
        match read_reply(self.exchange(&Request::Stats { id }).await?)? {
            Reply::Stats {
                sessions, caches, ..
            } => Ok((sessions, caches)),
            other => Err(unexpected(&other)),
        }
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The bytes of the `tokenizer.json` the server loaded for model
    /// `index`, to tokenize for it here.
    pub async fn tokenizer(&self, index: usize) -> Result<Vec<u8>> {
        self.check_index(index)?;
        let id = self.next_id();
        match self
            .exchange(&Request::Tokenizer { id, model: index })
            .await?
        {
            Frame::Binary(bytes) => decode_tokenizer(id, &bytes),
            Frame::Text(text) => Err(unexpected(&parse_reply(&text)?)),
        }
    }

    fn check_index(&self, index: usize) -> Result<&ModelInfo> {
        self.models.get(index).ok_or_else(|| {
            Error::input(format!(
                "the server holds {} model(s); there is no model {index}",
                self.models.len()
            ))
        })
    }

    /// The address connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn exchange(&self, request: &Request) -> Result<Frame> {
        let text = to_json(request);
        self.transport.lock().await.exchange(text).await
    }

    /// The releases queued by dropped caches, then `cache`'s own operations.
    fn ops(&self, cache: &mut RemoteCache) -> Vec<CacheOp> {
        let mut freed = self.freed.lock().unwrap_or_else(|p| p.into_inner());
        let mut ops: Vec<CacheOp> = freed
            .drain(..)
            .map(|c| CacheOp::Free { cache: c })
            .collect();
        ops.append(&mut cache.ops);
        ops
    }
}

/// One model of a [`Remote`] server.
#[derive(Clone)]
pub struct RemoteModel {
    remote: Arc<Remote>,
    index: usize,
    config: Gpt2Config,
}

impl RemoteModel {
    /// Where the model runs and what it is, as the server says.
    pub fn info(&self) -> &ModelInfo {
        &self.remote.models[self.index]
    }

    /// Where the model runs, for people: `server ws://HOST:PORT: cpu`.
    pub fn device_name(&self) -> String {
        format!("server {}: {}", self.remote.url, self.info().device)
    }

    /// The connection this model is served over.
    pub fn remote(&self) -> &Arc<Remote> {
        &self.remote
    }

    /// The [`Pass`] for `tokens` after `cache`, its queued operations sent along.
    fn pass(&self, cache: &mut RemoteCache, tokens: &[&[u32]], last: usize) -> Result<Pass> {
        if !Arc::ptr_eq(&cache.remote, &self.remote) || cache.model != self.index {
            return Err(crate::Misuse::ForeignCache.into());
        }
        check_forward(&self.config, cache.len, cache.rows, tokens, last)?;
        Ok(Pass {
            model: self.index,
            cache: cache.id,
            ops: self.remote.ops(cache),
            tokens: tokens.iter().map(|t| t.to_vec()).collect(),
            last,
        })
    }
}

/// A cache held by the server for one connection: its length and rows are
/// tracked here, its operations queued for the next pass.
pub struct RemoteCache {
    remote: Arc<Remote>,
    model: usize,
    id: u64,
    len: usize,
    rows: usize,
    ops: Vec<CacheOp>,
}

impl KvCache for RemoteCache {
    fn len(&self) -> usize {
        self.len
    }

    fn rows(&self) -> usize {
        self.rows
    }

    fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            self.ops.push(CacheOp::Truncate {
                cache: self.id,
                len,
            });
        }
    }

    fn reorder(&mut self, rows: &[usize]) -> Result<()> {
        check_reorder(self.rows, rows)?;
        limits::check_rows("reorder's rows", rows.len())?;
        self.rows = rows.len();
        self.ops.push(CacheOp::Reorder {
            cache: self.id,
            rows: rows.to_vec(),
        });
        Ok(())
    }

    fn reserve(&mut self, positions: usize) -> Result<()> {
        self.ops.push(CacheOp::Reserve {
            cache: self.id,
            positions,
        });
        Ok(())
    }
}

impl Drop for RemoteCache {
    fn drop(&mut self) {
        // A cache whose creation was never sent needs no release.
        let created = !matches!(self.ops.first(), Some(CacheOp::New { .. }));
        if created {
            let mut freed = self.remote.freed.lock().unwrap_or_else(|p| p.into_inner());
            freed.push(self.id);
        }
    }
}

impl LanguageModel for RemoteModel {
    type Cache = RemoteCache;

    fn config(&self) -> &Gpt2Config {
        &self.config
    }

    fn new_cache(&self, rows: usize) -> Result<RemoteCache> {
        limits::check_rows("a cache's rows", rows)?;
        let id = self.remote.next_id();
        Ok(RemoteCache {
            remote: Arc::clone(&self.remote),
            model: self.index,
            id,
            len: 0,
            rows,
            ops: vec![CacheOp::New {
                cache: id,
                model: self.index,
                rows,
            }],
        })
    }

    async fn forward(
        &self,
        cache: &mut RemoteCache,
        tokens: &[&[u32]],
        last: usize,
    ) -> Result<Logits> {
        let pass = self.pass(cache, tokens, last)?;
        let n = tokens[0].len();
        let id = self.remote.next_id();
        let logits = match self.remote.exchange(&Request::Forward { id, pass }).await? {
            Frame::Binary(bytes) => decode_logits(id, &bytes)?,
            Frame::Text(text) => return Err(unexpected(&parse_reply(&text)?)),
        };
        cache.len += n;
        Ok(logits)
    }

    async fn forward_top(
        &self,
        cache: &mut RemoteCache,
        tokens: &[&[u32]],
        last: usize,
        k: usize,
        extra: &[u32],
    ) -> Result<TopLogits> {
        check_top(&self.config, extra)?;
        let pass = self.pass(cache, tokens, last)?;
        let n = tokens[0].len();
        let id = self.remote.next_id();
        let request = Request::ForwardTop {
            id,
            pass,
            k: k.min(MAX_TOP),
            extra: extra.to_vec(),
        };
        let top = match self.remote.exchange(&request).await? {
            Frame::Binary(bytes) => decode_top(id, &bytes)?,
            Frame::Text(text) => return Err(unexpected(&parse_reply(&text)?)),
        };
        cache.len += n;
        Ok(top)
    }

    async fn forward_hidden(
        &self,
        cache: &mut RemoteCache,
        tokens: &[&[u32]],
        last: usize,
        want: &HiddenRequest<'_>,
    ) -> Result<Hidden> {
        // Checked before `pass` takes the queued cache operations.
        check_forward(&self.config, cache.len, cache.rows, tokens, last)?;
        check_hidden(&self.config, want, tokens[0].len())?;
        let pass = self.pass(cache, tokens, last)?;
        let n = tokens[0].len();
        let id = self.remote.next_id();
        let request = Request::ForwardHidden {
            id,
            pass,
            layers: want.layers.to_vec(),
            positions: if want.layers.is_empty() {
                0
            } else {
                want.positions
            },
            heads: want.heads.to_vec(),
            lens: want.lens,
        };
        let hidden = match self.remote.exchange(&request).await? {
            Frame::Binary(bytes) => decode_hidden(id, &bytes)?,
            Frame::Text(text) => return Err(unexpected(&parse_reply(&text)?)),
        };
        cache.len += n;
        Ok(hidden)
    }
}

fn to_json(request: &Request) -> String {
    serde_json::to_string(request).expect("requests serialize")
}

fn parse_reply(text: &str) -> Result<Reply> {
    serde_json::from_str(text).map_err(|e| {
        Error::Backend(format!(
            "gpt2 serve sent a reply this client cannot read ({e})"
        ))
    })
}

fn read_reply(frame: Frame) -> Result<Reply> {
    match frame {
        Frame::Text(text) => parse_reply(&text),
        Frame::Binary(_) => Err(Error::Backend(
            "gpt2 serve sent numbers where a reply was expected".into(),
        )),
    }
}

/// The error a reply stands for: the server's own words for an error, the
/// engine's kind kept (an input error stays one).
fn unexpected(reply: &Reply) -> Error {
    match reply {
        Reply::Error {
            kind: ErrorKind::Input,
            message,
            ..
        } => Error::Input(message.clone()),
        Reply::Error { message, .. } => Error::Backend(format!("gpt2 serve: {message}")),
        other => Error::Backend(format!("gpt2 serve answered out of turn: {other:?}")),
    }
}
