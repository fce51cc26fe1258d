//! `gpt2 serve`'s model thread: it owns the models and every session's
//! caches, and runs the passes one after another in the order they come
//! (one device, so nothing is gained by running two at once). Connections
//! hand it [`Job`]s and wait for the answer.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use engine::backend::{block_on, check_hidden, Cache, Hidden, HiddenRequest, KvCache};
use engine::backend::{LanguageModel, Logits, Model, TopLogits};
use engine::decoding::limits::{self, RunSize};
use engine::remote::protocol::{
    hidden_frame_bytes, logits_frame_bytes, tokenizer_frame_bytes, CacheOp, ErrorKind, Pass, Reply,
    Request, MAX_REPLY_BYTES,
};
use engine::Error;

/// Most caches one session holds at once (beam search holds one per model;
/// a run's caches are released as it drops them).
pub const MAX_CACHES_PER_SESSION: usize = 64;

/// What a connection asks of the model thread.
pub enum Job {
    /// A session showed its token.
    Open { session: u64 },
    /// A session ended (closed, vanished, or refused): its caches are freed now.
    Close { session: u64 },
    /// A request, answered on `reply`.
    Run {
        session: u64,
        request: Request,
        reply: Sender<Answer>,
    },
}

/// The model thread's answer to a [`Job::Run`].
pub enum Answer {
    Logits(u64, Logits),
    Top(u64, TopLogits),
    Hidden(u64, Hidden),
    /// A model's `tokenizer.json` bytes.
    Tokenizer(u64, Arc<[u8]>),
    Text(Reply),
}

/// A pass ready to run: its model, its cache (operations applied), its tokens.
struct Prepared<'a> {
    model: &'a Model,
    cache: &'a mut Cache,
    tokens: Vec<&'a [u32]>,
}

/// A cache and the model it belongs to.
struct Held {
    model: usize,
    cache: Cache,
}

/// The models and the caches of every open session.
pub struct Worker {
    models: Vec<Model>,
    /// Each model's `tokenizer.json`, as loaded.
    tokenizers: Vec<Arc<[u8]>>,
    sessions: HashMap<u64, HashMap<u64, Held>>,
}

impl Worker {
    pub fn new(models: Vec<Model>, tokenizers: Vec<Vec<u8>>) -> Worker {
        Worker {
            models,
            tokenizers: tokenizers.into_iter().map(Arc::from).collect(),
            sessions: HashMap::new(),
        }
    }

    /// Serves jobs until every sender is gone.
    pub fn serve(mut self, jobs: Receiver<Job>) {
        for job in jobs {
            match job {
                Job::Open { session } => {
                    self.sessions.insert(session, HashMap::new());
                }
                Job::Close { session } => {
                    let freed = self.sessions.remove(&session).map_or(0, |c| c.len());
                    eprintln!(
                        "serve: session {session} closed, {freed} cache(s) freed; {} session(s) open",
                        self.sessions.len()
                    );
                }
                Job::Run {
                    session,
                    request,
                    reply,
                } => {
                    let id = request.id();
                    let answer = match catch_unwind(AssertUnwindSafe(|| self.run(session, request)))
                    {
                        Ok(Ok(answer)) => answer,
                        Ok(Err(failure)) => error_answer(id, failure),
                        Err(_) => {
                            // The pass may have left its cache half-written: drop them all.
                            self.sessions.insert(session, HashMap::new());
                            error_answer(
                                id,
                                Failure {
                                    kind: ErrorKind::Backend,
                                    message: "the model failed on this request (an internal \
                                              error); this session's caches were freed"
                                        .into(),
                                },
                            )
                        }
                    };
                    // A session that vanished mid-pass no longer listens: nothing to do.
                    let _ = reply.send(answer);
                }
            }
        }
    }

    fn run(&mut self, session: u64, request: Request) -> Result<Answer, Failure> {
        match request {
            Request::Forward { id, pass } => {
                let p = self.prepare(session, &pass)?;
                let logits = block_on(p.model.forward(p.cache, &p.tokens, pass.last))?;
                Ok(Answer::Logits(id, logits))
            }
            Request::ForwardTop { id, pass, k, extra } => {
                let p = self.prepare(session, &pass)?;
                let top = block_on(
                    p.model
                        .forward_top(p.cache, &p.tokens, pass.last, k, &extra),
                )?;
                Ok(Answer::Top(id, top))
            }
            Request::ForwardHidden {
                id,
                pass,
                layers,
                positions,
                heads,
                lens,
            } => {
                let want = HiddenRequest {
                    layers: &layers,
                    positions,
                    heads: &heads,
                    lens,
                };
                let p = self.prepare(session, &pass)?;
                check_hidden_reply(p.model.config(), &pass, &want)?;
                let hidden =
                    block_on(p.model.forward_hidden(p.cache, &p.tokens, pass.last, &want))?;
                Ok(Answer::Hidden(id, hidden))
            }
            Request::Tokenizer { id, model } => {
                let json = self.tokenizers.get(model).ok_or_else(|| {
                    protocol(format!(
                        "there is no model {model} (the server holds {})",
                        self.tokenizers.len()
                    ))
                })?;
                if tokenizer_frame_bytes(json.len()) > MAX_REPLY_BYTES {
                    return Err(Failure::from(Error::input(format!(
                        "model {model}'s tokenizer.json ({} bytes) is more than the {} MiB a \
                         reply may carry",
                        json.len(),
                        MAX_REPLY_BYTES >> 20
                    ))));
                }
                Ok(Answer::Tokenizer(id, Arc::clone(json)))
            }
            Request::Stats { id } => Ok(Answer::Text(Reply::Stats {
                id,
                sessions: self.sessions.len(),
                caches: self.sessions.values().map(HashMap::len).sum(),
            })),
            Request::Hello { .. } => Err(protocol("this session has already shown its token")),
        }
    }

    /// Applies the pass's cache operations, checks its size against the
    /// server's bounds, and hands back what the model call needs.
    fn prepare<'a>(&'a mut self, session: u64, pass: &'a Pass) -> Result<Prepared<'a>, Failure> {
        let caches = self
            .sessions
            .get_mut(&session)
            .ok_or_else(|| protocol("this session is closed"))?;
        for op in &pass.ops {
            apply(&self.models, caches, op)?;
        }
        let held = caches.get_mut(&pass.cache).ok_or_else(|| {
            protocol(format!(
                "cache {} was never created (or was freed)",
                pass.cache
            ))
        })?;
        if held.model != pass.model {
            return Err(protocol(format!(
                "cache {} belongs to model {}, not model {}",
                pass.cache, held.model, pass.model
            )));
        }
        let model = &self.models[held.model];
        let config = model.config();
        let rows = pass.tokens.len();
        let n = pass.tokens.first().map_or(0, Vec::len);
        let reply = logits_frame_bytes(rows, pass.last.min(n), config.vocab_size);
        if reply.is_none_or(|b| b > MAX_REPLY_BYTES) {
            return Err(Failure::from(Error::input(format!(
                "the logits of {rows} row(s) × {} position(s) are more than the {} MiB a reply \
                 may carry: ask for fewer positions or rows at once",
                pass.last,
                MAX_REPLY_BYTES >> 20
            ))));
        }
        let size = RunSize {
            rows,
            positions: held.cache.len() + n,
            logit_rows: rows.saturating_mul(pass.last.min(n)),
        };
        limits::check_memory(&[config], size, "ask for fewer rows or positions")?;
        let tokens = pass.tokens.iter().map(Vec::as_slice).collect();
        Ok(Prepared {
            model,
            cache: &mut held.cache,
            tokens,
        })
    }
}

/// Checks a hidden-states request against the model, and its reply against
/// the size a reply may have, before the pass.
fn check_hidden_reply(
    config: &engine::config::Gpt2Config,
    pass: &Pass,
    want: &HiddenRequest,
) -> Result<(), Failure> {
    let (rows, n) = (pass.tokens.len(), pass.tokens.first().map_or(0, Vec::len));
    check_hidden(config, want, n)?;
    let positions = if want.layers.is_empty() {
        0
    } else {
        want.positions
    };
    let shape = [rows, pass.last.min(n), config.vocab_size, config.n_embd];
    let bytes = hidden_frame_bytes(shape, want.layers.len(), positions, want.heads.len());
    if bytes.is_none_or(|b| b > MAX_REPLY_BYTES) {
        return Err(Failure::from(Error::input(format!(
            "the logits and hidden states asked for ({} layer(s) at {positions} position(s), \
             {} early exit(s), {rows} row(s)) are more than the {} MiB a reply may carry: \
             ask for fewer layers, exits, positions or rows at once",
            want.layers.len(),
            want.heads.len(),
            MAX_REPLY_BYTES >> 20
        ))));
    }
    Ok(())
}

/// The session's cache `id`.
fn held(caches: &mut HashMap<u64, Held>, id: u64) -> Result<&mut Cache, Failure> {
    caches
        .get_mut(&id)
        .map(|h| &mut h.cache)
        .ok_or_else(|| protocol(format!("cache {id} was never created (or was freed)")))
}

/// Replays one `KvCache` call on the session's caches.
fn apply(models: &[Model], caches: &mut HashMap<u64, Held>, op: &CacheOp) -> Result<(), Failure> {
    match op {
        CacheOp::New { cache, model, rows } => {
            if caches.len() >= MAX_CACHES_PER_SESSION {
                return Err(Failure::from(Error::input(format!(
                    "a session holds at most {MAX_CACHES_PER_SESSION} caches: drop some first"
                ))));
            }
            let m = models.get(*model).ok_or_else(|| {
                protocol(format!(
                    "there is no model {model} (the server holds {})",
                    models.len()
                ))
            })?;
            limits::check_rows("a cache's rows", *rows)?;
            let cache_value = m.new_cache(*rows)?;
            caches.insert(
                *cache,
                Held {
                    model: *model,
                    cache: cache_value,
                },
            );
        }
        CacheOp::Truncate { cache, len } => held(caches, *cache)?.truncate(*len),
        CacheOp::Reorder { cache, rows } => {
            limits::check_rows("reorder's rows", rows.len())?;
            held(caches, *cache)?.reorder(rows)?
        }
        CacheOp::Reserve { cache, positions } => {
            let c = held(caches, *cache)?;
            let config_positions = models
                .iter()
                .map(|m| m.config().n_positions)
                .max()
                .unwrap_or(0);
            c.reserve((*positions).min(config_positions))?
        }
        // Releasing what is already gone is harmless: the cache's creation may have failed.
        CacheOp::Free { cache } => drop(caches.remove(cache)),
    }
    Ok(())
}

/// Why a request failed, as the error reply says it.
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let kind = match e {
            Error::Input(_) => ErrorKind::Input,
            _ => ErrorKind::Backend,
        };
        Failure {
            kind,
            message: e.to_string(),
        }
    }
}

/// A request that breaks the protocol (not the engine's input rules).
pub fn protocol(message: impl Into<String>) -> Failure {
    Failure {
        kind: ErrorKind::Protocol,
        message: message.into(),
    }
}

/// The error reply for request `id`.
pub fn error_answer(id: u64, failure: Failure) -> Answer {
    Answer::Text(Reply::Error {
        id,
        kind: failure.kind,
        message: failure.message,
    })
}
