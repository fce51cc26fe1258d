//! A model served by `gpt2 serve` over a WebSocket: the [`protocol`] both
//! sides speak, and [`RemoteModel`], the [`crate::backend::LanguageModel`]
//! contract over it, so every strategy runs unchanged against a native
//! server — from the command line and from the page alike.

mod frames;
mod model;
pub mod protocol;
mod transport;
#[cfg(not(target_arch = "wasm32"))]
mod transport_native;
#[cfg(target_arch = "wasm32")]
mod transport_web;

pub use model::{Remote, RemoteCache, RemoteModel};
