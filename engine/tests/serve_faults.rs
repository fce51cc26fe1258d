//! `gpt2 serve`'s security rules and faults, against the real server: a wrong
//! token, a foreign origin, a slow hello, an oversized or unreadable frame, a
//! client vanishing mid-run — each a clear error to that client and a line in
//! the log, the caches freed, and the other clients served all along.

mod common;
#[path = "common/serve.rs"]
mod serve;

use std::net::TcpStream;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use engine::backend::{block_on, LanguageModel};
use engine::decoding::{run, GenerateOptions, Step, Strategy};
use engine::remote::protocol::{CacheOp, ErrorKind, Pass, Reply, Request, VERSION};
use engine::remote::Remote;
use serve::Server;
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// A raw connection, with `origin` as its `Origin` header if given.
fn connect(server: &Server, origin: Option<&str>) -> tungstenite::Result<Socket> {
    let mut request = server.url.as_str().into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    tungstenite::connect(request).map(|(socket, _)| socket)
}

fn send(socket: &mut Socket, request: &Request) {
    socket
        .send(Message::text(serde_json::to_string(request).unwrap()))
        .unwrap();
}

/// The next text reply, or `None` once the server closed the connection.
fn reply(socket: &mut Socket) -> Option<Reply> {
    loop {
        match socket.read() {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// A raw connection past the hello.
fn authenticated(server: &Server) -> Socket {
    let mut socket = connect(server, None).unwrap();
    let token = server.token.clone();
    send(
        &mut socket,
        &Request::Hello {
            version: VERSION,
            token,
        },
    );
    assert!(matches!(reply(&mut socket), Some(Reply::Welcome { .. })));
    socket
}

/// Waits until the server holds `sessions` sessions and `caches` caches.
fn wait_stats(remote: &Remote, sessions: usize, caches: usize) {
    let start = Instant::now();
    loop {
        let now = block_on(remote.stats()).unwrap();
        if now == (sessions, caches) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "stats {now:?}, expected {:?}",
            (sessions, caches)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn greedy(model: &impl LanguageModel, on_step: &mut dyn FnMut(Step)) -> Vec<u32> {
    let options = GenerateOptions {
        max_new_tokens: 24,
        min_new_tokens: 0,
        eos_token_id: None,
        forced: Vec::new(),
        whole_rows: false,
    };
    let out = block_on(run::<_, engine::backend::Model>(
        &Strategy::Greedy,
        model,
        None,
        &[6214, 345],
        &options,
        on_step,
    ));
    out.unwrap().sequences.remove(0).ids
}

#[test]
fn a_wrong_token_is_refused_and_the_right_one_served() {
    let server = Server::start(&["tiny"], &[]);
    let err = block_on(Remote::connect(
        &server.url,
        "0123456789abcdef0123456789abcdef",
    ))
    .err()
    .unwrap();
    assert!(err.to_string().contains("wrong token"), "{err}");
    server.wait_log("wrong token");
    let remote = block_on(Remote::connect(&server.url, &server.token)).unwrap();
    assert_eq!(block_on(remote.stats()).unwrap(), (1, 0));
}

#[test]
fn a_foreign_origin_gets_403_and_local_pages_get_in() {
    let server = Server::start(&["tiny"], &[]);
    match connect(&server, Some("http://evil.example")) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!(
            "a foreign origin was not refused with 403: {:?}",
            other.map(|_| ())
        ),
    }
    server.wait_log("origin http://evil.example is not allowed");
    for origin in ["http://127.0.0.1:8080", "http://localhost:3000"] {
        assert!(connect(&server, Some(origin)).is_ok(), "{origin}");
    }
    let other = Server::start(&["tiny"], &["--allow-origin", "https://example.org"]);
    assert!(connect(&other, Some("https://example.org")).is_ok());
    assert!(connect(&other, Some("http://localhost:3000")).is_err());
}

#[test]
fn a_connection_without_the_token_is_closed_after_ten_seconds() {
    let server = Server::start(&["tiny"], &[]);
    let mut socket = connect(&server, None).unwrap();
    let start = Instant::now();
    match reply(&mut socket) {
        Some(Reply::Error { kind, message, .. }) => {
            assert_eq!(kind, ErrorKind::Protocol);
            assert!(message.contains("no token within 10 s"), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
        "{waited:?}"
    );
    server.wait_log("no token within 10 s");
}

#[test]
fn bad_and_oversized_frames_are_errors_to_that_client_only() {
    let mut server = Server::start(&["tiny"], &[]);
    let watcher = block_on(Remote::connect(&server.url, &server.token)).unwrap();
    let mut socket = authenticated(&server);
    socket.send(Message::text("not a request")).unwrap();
    match reply(&mut socket) {
        Some(Reply::Error {
            kind: ErrorKind::Protocol,
            message,
            ..
        }) => {
            assert!(message.contains("cannot be read"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // The connection still serves after a bad frame.
    send(&mut socket, &Request::Stats { id: 5 });
    assert!(matches!(
        reply(&mut socket),
        Some(Reply::Stats {
            id: 5,
            sessions: 2,
            ..
        })
    ));
    // A pass on a cache that was never made is refused by name.
    let pass = Pass {
        model: 0,
        cache: 9,
        ops: vec![],
        tokens: vec![vec![1]],
        last: 1,
    };
    send(&mut socket, &Request::Forward { id: 6, pass });
    match reply(&mut socket) {
        Some(Reply::Error { id: 6, message, .. }) => {
            assert!(message.contains("cache 9"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // Protocol v2's requests, raw: the server checks what a client did not.
    let new = CacheOp::New {
        cache: 10,
        model: 0,
        rows: 1,
    };
    let pass = Pass {
        model: 0,
        cache: 10,
        ops: vec![new],
        tokens: vec![vec![1, 2]],
        last: 1,
    };
    let hidden = |id, pass, layers: Vec<usize>, positions| Request::ForwardHidden {
        id,
        pass,
        layers,
        positions,
        heads: vec![],
        lens: false,
    };
    send(&mut socket, &hidden(7, pass.clone(), vec![9], 1));
    match reply(&mut socket) {
        Some(Reply::Error {
            id: 7,
            kind,
            message,
        }) => {
            assert_eq!(kind, ErrorKind::Input);
            assert!(message.contains("hidden state 9"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let again = Pass {
        ops: vec![],
        ..pass
    };
    send(&mut socket, &hidden(8, again, vec![1], 3));
    match reply(&mut socket) {
        Some(Reply::Error { id: 8, message, .. }) => {
            assert!(message.contains("last 3 of 2 new positions"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    send(&mut socket, &Request::Tokenizer { id: 9, model: 3 });
    match reply(&mut socket) {
        Some(Reply::Error {
            id: 9,
            kind,
            message,
        }) => {
            assert_eq!(kind, ErrorKind::Protocol);
            assert!(message.contains("no model 3"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // 17 MiB: more than a request may be. The connection is closed.
    let _ = socket.send(Message::text("x".repeat(17 << 20)));
    if let Some(Reply::Error { message, .. }) = reply(&mut socket) {
        assert!(message.contains("at most 16777216 bytes"), "{message}");
    }
    assert!(reply(&mut socket).is_none(), "the connection stays closed");
    server.wait_log("a request may be at most 16777216 bytes");
    assert!(server.alive());
    wait_stats(&watcher, 1, 0);
    let model = watcher.model(0).unwrap();
    assert_eq!(greedy(&model, &mut |_| {}).len(), 24);
}

#[test]
fn a_client_vanishing_mid_request_frees_its_caches() {
    let server = Server::start(&["tiny"], &[]);
    let watcher = block_on(Remote::connect(&server.url, &server.token)).unwrap();
    let mut socket = authenticated(&server);
    let new = CacheOp::New {
        cache: 1,
        model: 0,
        rows: 4,
    };
    let tokens = vec![vec![1, 2, 3]; 4];
    let pass = Pass {
        model: 0,
        cache: 1,
        ops: vec![new],
        tokens: tokens.clone(),
        last: 1,
    };
    send(&mut socket, &Request::Forward { id: 1, pass });
    assert!(matches!(socket.read(), Ok(Message::Binary(_))));
    wait_stats(&watcher, 2, 1);
    // A second pass in flight, and the client gone without a goodbye.
    let pass = Pass {
        model: 0,
        cache: 1,
        ops: vec![],
        tokens,
        last: 3,
    };
    send(&mut socket, &Request::Forward { id: 2, pass });
    drop(socket);
    wait_stats(&watcher, 1, 0);
    server.wait_log("1 cache(s) freed");
}

#[test]
fn a_second_client_is_served_while_the_first_is_mid_run() {
    let server = Server::start(&["tiny"], &[]);
    let local = common::model_for(&common::fixture("tiny"));
    let expected = greedy(&local, &mut |_| {});
    let first = block_on(Remote::connect(&server.url, &server.token)).unwrap();
    let ((paused_tx, paused), (go, go_rx)) = (channel(), channel::<()>());
    let (url, token) = (server.url.clone(), server.token.clone());
    let first = &first;
    std::thread::scope(|scope| {
        let run_first = scope.spawn(move || {
            let model = first.model(0).unwrap();
            let mut step = 0;
            greedy(&model, &mut |_| {
                step += 1;
                if step == 5 {
                    paused_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                }
            })
        });
        paused.recv().unwrap();
        let second = block_on(Remote::connect(&url, &token)).unwrap();
        assert_eq!(
            block_on(second.stats()).unwrap(),
            (2, 1),
            "the first run holds its cache"
        );
        assert_eq!(greedy(&second.model(0).unwrap(), &mut |_| {}), expected);
        go.send(()).unwrap();
        assert_eq!(run_first.join().unwrap(), expected);
    });
}

#[test]
fn another_host_than_the_loopback_is_warned_about() {
    let server = Server::start(&["tiny"], &["--host", "0.0.0.0"]);
    server.wait_log("warning: serving on 0.0.0.0 lets other machines reach the models");
}
