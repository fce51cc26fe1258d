//! The page on a native server: the models a `gpt2 serve` holds (gpt2-xl on
//! CUDA, say), driven over a WebSocket through the engine's remote model.
//! The strategies, the chart and every view still run in the page, exactly
//! as on a model of its own; only the forward passes cross the socket.

use std::sync::Arc;

use engine::backend::Model;
use engine::loading::check_vocabulary;
use engine::remote::Remote;
use engine::tokenizer::Tokenizer;
use leptos::prelude::*;

use crate::loader::LoadError;
use crate::state::{AppState, Loaded};

/// The page's open connection, shared by its main and second model.
pub struct Connection {
    pub url: String,
    pub remote: Arc<Remote>,
}

/// A new connection to `url`, replacing the one open (dropped, it frees
/// the server's caches of this page at once).
pub async fn connect(state: AppState, url: &str, token: &str) -> Result<Arc<Remote>, LoadError> {
    state.models.with_value(|m| m.server.borrow_mut().take());
    state.server_models.set(Vec::new());
    if token.trim().is_empty() {
        return Err(LoadError::Other(format!(
            "no token for {url}: paste the token that gpt2 serve printed on its ready line \
             (ready ws://HOST:PORT token=...) into the Token field, or open the page with \
             #token=... at the end of its address"
        )));
    }
    let remote = Remote::connect(url, token.trim())
        .await
        .map_err(|e| LoadError::Other(e.to_string()))?;
    state
        .server_models
        .set(remote.models().iter().map(|m| m.name.clone()).collect());
    state.models.with_value(|m| {
        *m.server.borrow_mut() = Some(Connection {
            url: url.to_string(),
            remote: Arc::clone(&remote),
        })
    });
    Ok(remote)
}

/// The open connection, if any.
pub fn open_connection(state: AppState) -> Option<Arc<Remote>> {
    state
        .models
        .with_value(|m| m.server.borrow().as_ref().map(|c| Arc::clone(&c.remote)))
}

/// The index of the server's model named `wanted`, else of the first.
pub fn pick_main(names: &[String], wanted: &str) -> usize {
    names.iter().position(|n| n == wanted).unwrap_or(0)
}

/// The index of the server's model named `wanted`, else of the first other
/// than the main model (`gpt2 serve --second`); an error in words when the
/// server holds no second model.
pub fn pick_second(names: &[String], main: &str, wanted: &str) -> Result<usize, String> {
    if let Some(i) = names.iter().position(|n| n == wanted) {
        return Ok(i);
    }
    names.iter().position(|n| n != main).ok_or_else(|| {
        format!(
            "the server holds {main} only: start gpt2 serve with --second MODEL for a second \
             model (speculative decoding can also draft with prompt-lookup)"
        )
    })
}

/// The server's model `index`, with the tokenizer the server loaded for it.
pub async fn load(remote: &Arc<Remote>, index: usize) -> Result<Loaded, LoadError> {
    let model = remote
        .model(index)
        .map_err(|e| LoadError::Other(e.to_string()))?;
    let name = model.info().name.clone();
    let bytes = remote
        .tokenizer(index)
        .await
        .map_err(|e| LoadError::Other(format!("the tokenizer of {name}: {e}")))?;
    let tokenizer = Tokenizer::from_bytes(&bytes)
        .map_err(|e| LoadError::Other(format!("the server's tokenizer of {name}: {e}")))?;
    check_vocabulary(&model.info().config, &tokenizer)
        .map_err(|e| LoadError::Other(format!("{name} on the server: {e}")))?;
    Ok(Loaded {
        name,
        model: Model::Remote(model),
        tokenizer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    // Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_main_model_is_the_one_named_else_the_first() {
        let served = names(&["gpt2-xl", "gpt2"]);
        assert_eq!(pick_main(&served, "gpt2"), 1);
        assert_eq!(pick_main(&served, "gpt2-medium"), 0);
    }

    #[test]
    fn the_second_model_is_the_one_named_else_the_other() {
        let served = names(&["gpt2-xl", "gpt2"]);
        assert_eq!(pick_second(&served, "gpt2-xl", "gpt2"), Ok(1));
        assert_eq!(pick_second(&served, "gpt2-xl", "distilgpt2"), Ok(1));
        let alone = names(&["gpt2-xl"]);
        let err = pick_second(&alone, "gpt2-xl", "distilgpt2").unwrap_err();
        assert!(err.contains("--second"), "{err}");
    }
}
