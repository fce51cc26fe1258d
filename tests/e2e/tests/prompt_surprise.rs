//! The prompt's surprise on the page: after a greedy run each prompt token's
//! `data-logprob` equals `gpt2 score`'s (the engine on the CPU, and the
//! command line where it is built) within 1e-4, the first token has none, the
//! run costs no more forward passes than it does without the view, and the
//! model's top guesses at a token appear on keyboard focus and on hover.

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::expected::Native;
use e2e::fixture;
use e2e::mirror::TINY;
use e2e::page::{hook, Page};
use e2e::playground::{self, forward_count, generate, number};
use e2e::webdriver::Gpu;
use serde_json::json;

const PROMPT: &str = "See you later, alligator.";
/// The largest difference allowed between the page's log-probabilities
/// (WebGPU) and the engine's on the CPU.
const TOLERANCE: f64 = 1e-4;
/// Guesses the page shows at each position.
const ALTERNATIVES: usize = 5;

/// Waits until the guesses shown are those at prompt token `i`, then checks
/// them against the engine's top tokens after the tokens before it.
fn check_guesses(page: &Page, native: &Native, ids: &[u32], i: usize, how: &str) {
    page.wait_for(
        |p| {
            p.attr("prompt-alternatives", "data-position").as_deref() == Some(&i.to_string())
                && p.count("prompt-alternative") == ALTERNATIVES
        },
        Duration::from_secs(10),
        &format!("the guesses at prompt token {i} after {how}"),
    );
    let shown = page.data_of_all("prompt-alternative", Some("prompt-alternatives"));
    let want = native.next_tokens(&ids[..i], ALTERNATIVES);
    let shown_ids: Vec<u32> = shown.iter().map(|a| number(a, "id") as u32).collect();
    let want_ids: Vec<u32> = want.iter().map(|c| c.id).collect();
    assert_eq!(
        shown_ids, want_ids,
        "the guesses at prompt token {i} ({how}) vs the engine's top {ALTERNATIVES} on the CPU"
    );
    for (a, c) in shown.iter().zip(&want) {
        let diff = (number(a, "logprob") - c.logprob as f64).abs();
        assert!(
            diff < TOLERANCE,
            "guess {} at prompt token {i}: data-logprob {a:?} vs the engine's {} (|diff| {diff:e})",
            c.id,
            c.logprob
        );
    }
}

#[test]
fn prompt_tokens_carry_gpt2_scores_log_probabilities_and_show_guesses_on_focus() {
    let native = fixture().native();
    let (ids, expected) = native.score_text(PROMPT);
    match native.score_by_the_command_line(PROMPT) {
        Some(cli) => assert_eq!(cli, expected, "gpt2 score --json vs the engine library"),
        None => println!(
            "target/release/gpt2 is not built: the page is compared with the engine library only"
        ),
    }
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
        page.exists("prompt-surprise") && !page.exists("prompt-token"),
        "before a run: the panel without tokens"
    );
    let before = forward_count(&page);
    let new = generate(&page, &[]);
    let passes = forward_count(&page) - before;
    assert_eq!(
        passes,
        new.len() as u64,
        "greedy's forward passes for {} new tokens: the prompt's scores cost no pass",
        new.len()
    );

    let tokens: Vec<BTreeMap<String, String>> =
        page.data_of_all("prompt-token", Some("prompt-surprise"));
    let page_ids: Vec<u32> = tokens.iter().map(|t| number(t, "id") as u32).collect();
    assert_eq!(page_ids, ids, "prompt-token data-id vs the prompt's ids");
    assert_eq!(
        tokens[0].get("logprob"),
        None,
        "the first token has no data-logprob: {:?}",
        tokens[0]
    );
    let diffs: Vec<f64> = tokens[1..]
        .iter()
        .zip(&expected)
        .map(|(t, &e)| (number(t, "logprob") - e as f64).abs())
        .collect();
    let worst = diffs.iter().copied().fold(0.0, f64::max);
    println!(
        "prompt-token data-logprob vs gpt2 score: max |diff| {worst:e} over {} tokens",
        diffs.len()
    );
    assert!(
        worst < TOLERANCE,
        "prompt-token data-logprob vs gpt2 score's token_logprobs {expected:?}: |diff| {diffs:?}\n{tokens:?}"
    );

    // Keyboard: focus the third token.
    let focused = page.script(
        "const t = document.querySelectorAll(arguments[0])[2]; t.focus();\
         return [document.activeElement === t, t.getAttribute('aria-describedby')];",
        json!([hook("prompt-token")]),
    );
    assert_eq!(
        focused,
        json!([true, "surprise-detail"]),
        "the third prompt token takes the focus and is described by the guesses"
    );
    check_guesses(&page, &native, &ids, 2, "focus");
    page.scroll_to("prompt-surprise");
    page.screenshot("prompt-surprise");

    // The pointer: hover the fifth token.
    page.script(
        "document.querySelectorAll(arguments[0])[4].dispatchEvent(new MouseEvent('mouseenter'));",
        json!([hook("prompt-token")]),
    );
    check_guesses(&page, &native, &ids, 4, "hover");

    // A phone's width: the panel wraps, nothing spills sideways.
    page.browser
        .set_window_size(390, 844)
        .unwrap_or_else(|e| panic!("resizing the window: {e}"));
    page.scroll_to("prompt-surprise");
    let spill = page.script(
        "const p = document.querySelector(arguments[0]); return p.scrollWidth - p.clientWidth;",
        json!([hook("prompt-surprise")]),
    );
    assert_eq!(spill, json!(0), "the panel's overflow at 390 px wide");
    page.screenshot("prompt-surprise-phone");
    assert_eq!(
        forward_count(&page),
        before + passes,
        "forward-count after focus and hover"
    );
}
