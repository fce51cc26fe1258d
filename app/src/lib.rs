//! The playground page: a Leptos client-side app that runs GPT-2 with the
//! engine's `wgpu` backend on the user's GPU (WebGPU), or on the CPU inside
//! WebAssembly, and shows every decoding step.
//!
//! Layers: [`settings`] (what the user chose; the URL holds it), [`state`]
//! (signals shared by the components), [`fetch`] and [`loader`] (model files
//! with progress and Cache Storage, onto the device), [`server`] (a native
//! `gpt2 serve`'s models over a WebSocket instead), [`runner`] and
//! [`actions`] (strategies streamed into the state), [`speed`] and [`bench`]
//! (tokens/s of runs, `?bench=1`'s benchmark), [`bars`] (a step's chart from
//! its logits and the sliders), [`funnel`] (the same step through the
//! chain, stage by stage), [`surprise`] (the prompt's log-probabilities
//! from the run's first pass), [`lens`] (the logit lens of a step),
//! [`timeline`] (each step's probability and
//! entropy), [`lanes`] (compare lanes, run in turn), [`export`] (the run as `gpt2 generate --json` writes it),
//! [`views`] (the components).

pub mod actions;
pub mod app;
pub mod bars;
pub mod beam_tree;
pub mod bench;
pub mod branches;
pub mod export;
pub mod fetch;
pub mod funnel;
pub mod instant;
pub mod lanes;
pub mod lens;
pub mod loader;
pub mod runner;
pub mod server;
pub mod settings;
pub mod speed;
pub mod state;
pub mod surprise;
pub mod threads;
pub mod timeline;
pub mod tracked;
pub mod views;
pub mod webgpu;

/// Mounts the page on `<body>` (in the page's window; in the CPU's worker
/// threads, which run the same module, nothing).
pub fn start() {
    if web_sys::window().is_none() {
        return;
    }
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
