//! `gpt2 serve`: loads the models once and serves the model contract
//! (`engine::backend::LanguageModel`) over a WebSocket, in the protocol of
//! `engine::remote::protocol`, to the page or any `RemoteModel`.
//!
//! Threads: one per connection (tungstenite's blocking sockets; connections
//! are few and bounded), and one model thread that owns the models and the
//! caches and runs the passes in the order they come — a device runs one
//! pass at a time anyway, and no async runtime is needed for that.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;

use engine::backend::{LanguageModel, Model};
use engine::decoding::limits::MAX_ROWS;
use engine::remote::protocol::{ModelInfo, ServerLimits, MAX_REPLY_BYTES, MAX_REQUEST_BYTES};
use engine::{Error, Result};

use crate::args::ServeArgs;
use crate::load::load_served;
use crate::serve_conn::{handle, Shared, MAX_SESSIONS};
use crate::serve_worker::{Worker, MAX_CACHES_PER_SESSION};

/// The page's own origins, allowed unless `--allow-origin` says otherwise.
const LOCAL_ORIGINS: [&str; 2] = ["http://127.0.0.1:*", "http://localhost:*"];

pub fn run(args: &ServeArgs) -> Result<()> {
    let listener = TcpListener::bind((args.host.as_str(), args.port)).map_err(|e| {
        Error::input(format!(
            "cannot listen on {}:{}: {e}; pick another --port (0: any free one)",
            args.host, args.port
        ))
    })?;
    if !is_loopback(&args.host) {
        eprintln!(
            "warning: serving on {} lets other machines reach the models; only the token \
             keeps them out, and the connection is not encrypted",
            args.host
        );
    }
    let (jobs, queue) = channel();
    let (loaded_tx, loaded) = channel::<Result<Vec<ModelInfo>>>();
    // The models are made, used and dropped on the model thread.
    std::thread::scope(|scope| {
        scope.spawn(move || match load_models(args) {
            Ok((models, tokenizers)) => {
                let info = model_info(args, &models);
                let _ = loaded_tx.send(Ok(info));
                Worker::new(models, tokenizers).serve(queue);
            }
            Err(e) => {
                let _ = loaded_tx.send(Err(e));
            }
        });
        let models = match loaded.recv() {
            Ok(Ok(models)) => models,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(Error::Backend(
                    "the model thread stopped while loading".into(),
                ))
            }
        };
        let shared = Arc::new(Shared {
            token: new_token()?,
            origins: if args.allow_origin.is_empty() {
                LOCAL_ORIGINS.iter().map(|o| o.to_string()).collect()
            } else {
                args.allow_origin.clone()
            },
            models,
            limits: ServerLimits {
                max_request_bytes: MAX_REQUEST_BYTES,
                max_reply_bytes: MAX_REPLY_BYTES,
                max_sessions: MAX_SESSIONS,
                max_caches_per_session: MAX_CACHES_PER_SESSION,
                max_rows: MAX_ROWS,
            },
            open: AtomicUsize::new(0),
        });
        let address = listener
            .local_addr()
            .map_err(|e| Error::Backend(format!("the listening socket: {e}")))?;
        let names: Vec<&str> = shared.models.iter().map(|m| m.name.as_str()).collect();
        eprintln!(
            "serve: {} on {}; origins allowed: {}",
            names.join(" and "),
            shared.models[0].device,
            shared.origins.join(", ")
        );
        println!("ready ws://{address} token={}", shared.token);
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let mut next_session = 0u64;
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    eprintln!("serve: accepting a connection failed: {e}");
                    continue;
                }
            };
            let peer = match stream.peer_addr() {
                Ok(peer) => peer,
                Err(_) => continue,
            };
            next_session += 1;
            let (session, shared, jobs) = (next_session, Arc::clone(&shared), jobs.clone());
            shared.open.fetch_add(1, Ordering::SeqCst);
            let spawned = std::thread::Builder::new()
                .name(format!("serve-{session}"))
                .spawn(move || {
                    handle(stream, peer, session, &shared, jobs);
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                });
            if let Err(e) = spawned {
                eprintln!("serve: no thread for {peer}: {e}");
            }
        }
        Ok(())
    })
}

/// The first model, and the second when `--second` names one; with the
/// bytes of their `tokenizer.json`s.
fn load_models(args: &ServeArgs) -> Result<(Vec<Model>, Vec<Vec<u8>>)> {
    let mut loaded = vec![load_served(&args.model.model, &args.model, None)?];
    if let Some(second) = &args.second {
        loaded.push(load_served(second, &args.model, Some("second"))?);
    }
    Ok(loaded.into_iter().unzip())
}

fn model_info(args: &ServeArgs, models: &[Model]) -> Vec<ModelInfo> {
    let names = std::iter::once(&args.model.model).chain(args.second.as_ref());
    names
        .zip(models)
        .map(|(name, model)| ModelInfo {
            name: name.clone(),
            device: model.device_name(),
            config: model.config().clone(),
        })
        .collect()
}

/// 128 random bits from the operating system, in hex.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Backend(format!("no random numbers for the token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `host` reaches this machine only.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
