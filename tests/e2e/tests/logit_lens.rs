//! The logit lens on the page: after a greedy run on the tiny checkpoint,
//! opening the lens reads the selected step's layers in one forward pass
//! over its prefix (counted in the forwards counter); every layer's top
//! tokens and probabilities equal the engine's `decoding::logit_lens` on the
//! CPU (itself checked against `transformers`' `output_hidden_states` in
//! `engine/tests/logit_lens.rs`), the last layer's top is the step chart's
//! most likely token, and selecting another step reads that one.

use std::time::Duration;

use e2e::expected::Native;
use e2e::fixture;
use e2e::mirror::TINY;
use e2e::page::Page;
use e2e::playground::{self, bars, forward_count, generate, number};
use e2e::webdriver::Gpu;

const PROMPT: &str = "I have a dream";
/// The largest difference allowed between the page's probabilities
/// (WebGPU) and the engine's on the CPU.
const TOLERANCE: f64 = 1e-4;
/// Top tokens the page shows per layer.
const TOP: usize = 5;

/// Waits for the lens of step `step` (0-based), then checks every layer
/// against the engine's lens after `prefix`; returns the last layer's top id.
fn check_lens(page: &Page, native: &Native, step: usize, prefix: &[u32]) -> u32 {
    let want = native.logit_lens(prefix, TOP);
    page.wait_for(
        |p| {
            p.attr("lens", "data-step").as_deref() == Some(&step.to_string())
                && p.count("lens-layer") == want.len()
                && p.state() == "done"
        },
        Duration::from_secs(30),
        &format!("the lens of step {}", step + 1),
    );
    let layers = page.data_of_all("lens-layer", Some("lens"));
    let tokens = page.data_of_all("lens-token", Some("lens"));
    assert_eq!(tokens.len(), want.len() * TOP, "{TOP} tokens per layer");
    let mut worst = 0f64;
    for (i, (layer, w)) in layers.iter().zip(&want).enumerate() {
        assert_eq!(
            number(layer, "layer") as usize,
            w.layer,
            "layer {i}'s data-layer"
        );
        assert_eq!(
            number(layer, "topId") as u32,
            w.top[0].0,
            "step {} layer {i}: data-top-id vs the engine's",
            step + 1
        );
        let shown = &tokens[i * TOP..(i + 1) * TOP];
        let ids: Vec<u32> = shown.iter().map(|t| number(t, "id") as u32).collect();
        let want_ids: Vec<u32> = w.top.iter().map(|t| t.0).collect();
        assert_eq!(ids, want_ids, "step {} layer {i}: top ids", step + 1);
        for (t, &(_, _, p)) in shown.iter().zip(&w.top) {
            worst = worst.max((number(t, "prob") - p as f64).abs());
        }
    }
    println!(
        "step {}: lens probabilities vs the engine's on the CPU: max |diff| {worst:e} over {} layers",
        step + 1,
        want.len()
    );
    assert!(worst < TOLERANCE, "lens probabilities differ by {worst:e}");
    want.last().unwrap().top[0].0
}

#[test]
fn lens_layers_match_the_engine_and_end_at_the_charts_top() {
    let native = fixture().native();
    let prompt = native.encode(PROMPT);
    let page = playground::open(
        Gpu::WebGpu,
        &[
            ("model", TINY),
            ("strategy", "greedy"),
            ("prompt", PROMPT),
            ("max_new_tokens", "3"),
        ],
    );
    assert!(
        page.exists("logit-lens") && !page.exists("lens-layer"),
        "closed before a run"
    );
    let new = generate(&page, &[]);
    assert_eq!(
        new,
        native.greedy(PROMPT, 3),
        "the run's ids vs the engine's"
    );

    // Open it: the latest step, one pass over its prefix.
    let before = forward_count(&page);
    page.click("lens-toggle");
    let mut prefix = prompt.clone();
    prefix.extend(&new[..2]);
    let last_top = check_lens(&page, &native, 2, &prefix);
    assert_eq!(
        forward_count(&page) - before,
        1,
        "opening the lens costs one pass"
    );
    let chart_top = bars(&page)
        .into_iter()
        .max_by(|a, b| a.raw_prob.total_cmp(&b.raw_prob))
        .expect("the chart has bars");
    assert_eq!(
        last_top, chart_top.token_id,
        "the last layer's top vs the chart's"
    );
    assert_eq!(last_top, new[2], "greedy chose the last layer's top");
    page.scroll_to("logit-lens");
    page.screenshot("logit-lens");

    // Another step: select the first token's chip.
    page.script(
        "document.querySelector('[data-testid=\"token-chip\"][data-step=\"0\"]').click();",
        serde_json::json!([]),
    );
    check_lens(&page, &native, 0, &prompt);
    assert_eq!(
        forward_count(&page) - before,
        2,
        "one more pass for the other step"
    );
}
