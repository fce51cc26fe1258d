//! The remote model in a real browser (headless Chromium): `web_sys`'s
//! WebSocket to a `gpt2 serve --device cpu` on the `tiny` checkpoint that
//! `scripts/browser-test` starts, its ready line passed in at build time as
//! `GPT2_SERVE_READY`. Greedy decoding over the socket gives transformers'
//! ids (`tests/fixtures/golden_tiny.json`), the tokenizer arrives and loads,
//! a run whose caller stopped awaiting leaves no stray answer behind, and a
//! server that is not there is an error naming the address and the causes.
#![cfg(target_arch = "wasm32")]

use std::future::Future;
use std::task::Poll;

use engine::backend::{LanguageModel, Model};
use engine::decoding::{greedy, GenerateOptions};
use engine::remote::Remote;
use engine::tokenizer::Tokenizer;
use serde_json::Value;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The server's URL and token, from its `ready URL token=TOKEN` line.
fn server() -> (&'static str, &'static str) {
    let ready = option_env!("GPT2_SERVE_READY").expect(
        "GPT2_SERVE_READY (gpt2 serve's ready line) is set by scripts/browser-test, \
         which starts the server",
    );
    let rest = ready.trim().strip_prefix("ready ").expect("a ready line");
    rest.split_once(" token=").expect("ready URL token=TOKEN")
}

fn ids(v: &Value) -> Vec<u32> {
    let list = v.as_array().unwrap();
    list.iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[wasm_bindgen_test]
async fn greedy_over_the_browser_socket_gives_transformers_ids() {
    let fx: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/golden_tiny.json")).unwrap();
    let (url, token) = server();
    let remote = Remote::connect(url, token).await.unwrap();
    let model = Model::Remote(remote.model(0).unwrap());
    assert_eq!(model.device_name(), format!("server {url}: cpu"));
    let json = remote.tokenizer(0).await.unwrap();
    let tokenizer = Tokenizer::from_bytes(&json).unwrap();
    assert_eq!(tokenizer.encode(" the").unwrap(), vec![262]);
    for case in fx["greedy"].as_array().unwrap().iter().take(2) {
        let prompt = ids(&case["prompt_ids"]);
        let options = GenerateOptions {
            max_new_tokens: case["max_new_tokens"].as_u64().unwrap() as usize,
            min_new_tokens: case["min_new_tokens"].as_u64().unwrap() as usize,
            eos_token_id: Some(50256),
            forced: Vec::new(),
            whole_rows: false,
        };
        let out = greedy(&model, &prompt, &options, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(out.ids, ids(&case["new_ids"]), "greedy from {prompt:?}");
    }
    // A pass sent, then abandoned: its answer is read and dropped, and the
    // next request gets its own.
    let mut cache = model.new_cache(1).unwrap();
    let tokens: [&[u32]; 1] = [&[1, 2, 3]];
    let mut pass = Box::pin(model.forward(&mut cache, &tokens, 1));
    std::future::poll_fn(|cx| {
        assert!(pass.as_mut().poll(cx).is_pending(), "the answer is awaited");
        Poll::Ready(())
    })
    .await;
    drop(pass);
    let (sessions, _) = remote.stats().await.unwrap();
    assert_eq!(sessions, 1);
    let mut fresh = model.new_cache(1).unwrap();
    let again = model.forward(&mut fresh, &tokens, 1).await.unwrap();
    assert_eq!(again.vocab, 50257);
}

#[wasm_bindgen_test]
async fn a_server_that_is_not_there_is_a_clear_error() {
    // Port 9 (discard) on the loopback: nothing listens there.
    let err = Remote::connect("ws://127.0.0.1:9", "0".repeat(32).as_str())
        .await
        .err()
        .expect("no server there");
    let text = err.to_string();
    wasm_bindgen_test::console_log!("{text}");
    assert!(err.is_bad_input(), "{text}");
    for part in [
        "ws://127.0.0.1:9",
        "gpt2 serve",
        "--allow-origin",
        "http://127.0.0.1:",
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    // A browser would open this one on the page's own host.
    let err = Remote::connect("127.0.0.1:8765", "x").await.err().unwrap();
    assert!(err.to_string().contains("ws://HOST:PORT"), "{err}");
}
