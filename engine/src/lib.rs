//! GPT-2 inference and decoding, exact to Hugging Face `transformers`.
//!
//! Layers, from the bottom: [`config`] (the model's shape), [`weights`]
//! (safetensors checkpoints by Hugging Face names), [`tokenizer`] (GPT-2's
//! byte-level BPE), [`backend`] (the forward pass behind the
//! [`backend::LanguageModel`] trait), [`decoding`] (strategies written once over
//! that trait) and, natively, [`hub`] (model folders and Hub downloads) and [`remote`] (a model served by
//! `gpt2 serve` over a WebSocket).

// The page's threaded build (shared memory, built with `-Z build-std`): its
// idle CPU workers sleep on `memory.atomic.wait32`.
#![cfg_attr(
    all(target_arch = "wasm32", target_feature = "atomics"),
    feature(stdarch_wasm_atomic_wait)
)]

pub mod backend;
pub mod benchmark;
pub mod config;
pub mod decoding;
pub mod error;
#[cfg(not(target_arch = "wasm32"))]
pub mod hub;
pub mod loading;
pub mod remote;
pub mod tokenizer;
pub mod weights;

pub use error::{Error, Misuse, Result};
