//! A model served by `gpt2 serve` over a WebSocket: the [`protocol`] both
//! sides speak, and [`RemoteModel`], the [`crate::backend::LanguageModel`]
//! contract over it, so every strategy runs unchanged against a native server.

pub mod protocol;

#[cfg(not(target_arch = "wasm32"))]
mod model;
#[cfg(not(target_arch = "wasm32"))]
mod transport;

#[cfg(not(target_arch = "wasm32"))]
pub use model::{Remote, RemoteCache, RemoteModel};
