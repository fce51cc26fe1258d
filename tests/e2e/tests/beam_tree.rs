//! The beam tree on the page: after a beam search on the tiny checkpoint,
//! its `beam-node`s are every hypothesis of the engine's beam steps run
//! natively (each step's new beams, kept or finished, and its pruned
//! candidates: token ids, states, length-penalised scores within 1e-4,
//! groups), the best-ranked finished node is the returned sequence, and the
//! arrow keys move the focus between nodes (Enter selects the step); the same
//! with diverse beam search's groups, then at a phone's width. One page load.

use std::collections::BTreeMap;

use e2e::fixture;
use e2e::mirror::TINY;
use e2e::page::{hook, Page};
use e2e::playground::{self, generate, number};
use e2e::webdriver::Gpu;
use engine::decoding::{BeamParams, EarlyStopping, Step, Strategy};
use serde_json::{json, Value};

/// End-of-text is the most likely first token after it on `tiny`, so
/// hypotheses finish before the length limit.
const PROMPT: &str = " refuses";
const NEW_TOKENS: usize = 5;
/// The largest difference allowed between the page's scores (WebGPU) and the
/// engine's on the CPU.
const TOLERANCE: f64 = 1e-4;

/// One node: step, group, state, token id, score.
type Node = (usize, usize, String, u32, f64);

/// The page's defaults but the beams and groups.
fn beam(num_beams: usize, num_beam_groups: usize, diversity_penalty: f32) -> Strategy {
    Strategy::Beam(BeamParams {
        num_beams,
        length_penalty: 1.0,
        early_stopping: EarlyStopping::False,
        num_return_sequences: 1,
        no_repeat_ngram_size: None,
        num_beam_groups,
        diversity_penalty,
    })
}

/// Sorted so that both sides list the same hypotheses in the same order.
fn sorted(mut nodes: Vec<Node>) -> Vec<Node> {
    nodes.sort_by(|a, b| {
        (a.0, a.1, &a.2, a.3)
            .cmp(&(b.0, b.1, &b.2, b.3))
            .then(b.4.total_cmp(&a.4))
    });
    nodes
}

/// The engine's hypotheses: each step's new beams and its pruned candidates.
fn engine_nodes(steps: &[Step]) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (t, step) in steps.iter().enumerate() {
        let Step::Beams { beams, pruned } = step else {
            panic!("step {t} is not a beam step: {step:?}");
        };
        for b in beams.iter().filter(|b| b.ids.len() == t + 1) {
            let state = if b.finished { "finished" } else { "kept" };
            let id = *b.ids.last().unwrap();
            nodes.push((t, b.group, state.to_string(), id, b.score as f64));
        }
        for c in pruned {
            nodes.push((t, c.group, "pruned".into(), c.id, c.score as f64));
        }
    }
    sorted(nodes)
}

/// The page's `beam-node`s.
fn page_nodes(page: &Page) -> Vec<BTreeMap<String, String>> {
    page.data_of_all("beam-node", Some("beam-tree"))
}

/// Runs `settings` on the page and checks its tree against the engine's run
/// of `strategy`; returns how many nodes it has.
fn check_run(page: &Page, settings: &[(&str, &str)], strategy: &Strategy) -> usize {
    let native = fixture().native();
    let (outcome, steps) = native.run(PROMPT, NEW_TOKENS, strategy);
    let ids = generate(page, settings);
    assert_eq!(
        ids, outcome.sequences[0].ids,
        "the page's best beam vs the engine's"
    );
    let shown = page_nodes(page);
    let got = sorted(
        shown
            .iter()
            .map(|n| {
                let text = |k: &str| n.get(k).cloned().unwrap_or_default();
                (
                    number(n, "step") as usize,
                    number(n, "group") as usize,
                    text("state"),
                    number(n, "id") as u32,
                    number(n, "score"),
                )
            })
            .collect(),
    );
    let want = engine_nodes(&steps);
    assert_eq!(
        got.len(),
        want.len(),
        "beam-node count\n page  {got:?}\n engine {want:?}"
    );
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (g.0, g.1, &g.2, g.3),
            (w.0, w.1, &w.2, w.3),
            "a beam-node vs the engine's"
        );
        let diff = (g.4 - w.4).abs();
        assert!(
            diff < TOLERANCE,
            "beam-node {g:?}: score vs the engine's {} (|diff| {diff:e})",
            w.4
        );
        worst = worst.max(diff);
    }
    // The best-ranked finished node is the returned sequence.
    let best = shown
        .iter()
        .find(|n| n.get("rank").map(String::as_str) == Some("0"))
        .expect("a beam-node with data-rank 0");
    let score = (number(best, "score") - outcome.sequences[0].score as f64).abs();
    assert!(
        score < TOLERANCE,
        "the first-ranked node {best:?} vs {:?}",
        outcome.sequences[0]
    );
    println!(
        "{settings:?}: {} beam-nodes over {} steps match the engine, max |score diff| {worst:e}",
        got.len(),
        steps.len()
    );
    got.len()
}

/// The focused node's `data-node` and `data-step`, after `key` on it.
fn press(page: &Page, key: &str) -> (u64, u64) {
    let out: Value = page.script(
        "const a = document.activeElement;\
         a.dispatchEvent(new KeyboardEvent('keydown', {key: arguments[0], bubbles: true}));\
         const b = document.activeElement;\
         return [Number(b.getAttribute('data-node')), Number(b.getAttribute('data-step'))];",
        json!([key]),
    );
    (out[0].as_u64().unwrap(), out[1].as_u64().unwrap())
}

#[test]
fn beam_nodes_match_the_engines_beam_steps_and_move_by_keyboard() {
    let page = playground::open(
        Gpu::WebGpu,
        &[
            ("model", TINY),
            ("strategy", "beam"),
            ("prompt", PROMPT),
            ("max_new_tokens", &NEW_TOKENS.to_string()),
        ],
    );
    check_run(&page, &[("num-beams", "3")], &beam(3, 1, 0.0));

    // The keyboard: the one node in the Tab order takes the focus; → goes
    // to a continuation at the next step, ← back, ↓ within the step.
    let start = page.script(
        "const n = document.querySelector(arguments[0] + '[tabindex=\"0\"]'); n.focus();\
         return [document.activeElement === n, Number(n.getAttribute('data-node'))];",
        json!([hook("beam-node")]),
    );
    assert_eq!(
        start[0],
        json!(true),
        "the tabbable beam-node takes the focus"
    );
    let first = start[1].as_u64().unwrap();
    let (child, step) = press(&page, "ArrowRight");
    assert_eq!(step, 1, "→ from node {first} goes to step 1 (node {child})");
    assert_eq!(
        press(&page, "ArrowLeft"),
        (first, 0),
        "← goes back to the parent"
    );
    let (below, step) = press(&page, "ArrowDown");
    assert!(
        below != first && step == 0,
        "↓ stays in step 0, on another node"
    );
    let tabbable = page.script(
        "return document.querySelectorAll(arguments[0] + '[tabindex=\"0\"]').length;",
        json!([hook("beam-node")]),
    );
    assert_eq!(tabbable, json!(1), "one beam-node in the Tab order");
    // Enter selects the focused node's step: the beams table follows.
    press(&page, "ArrowRight");
    press(&page, "Enter");
    let heading = page.text("beam-view").unwrap_or_default();
    assert!(
        heading.contains("after step 2"),
        "the beam view after Enter: {heading}"
    );
    page.scroll_to("beam-tree");
    page.screenshot("beam-tree");

    // Diverse beam search: two groups of two.
    let settings = [
        ("num-beams", "4"),
        ("num-beam-groups", "2"),
        ("diversity-penalty", "0.5"),
    ];
    check_run(&page, &settings, &beam(4, 2, 0.5));
    let groups: Vec<String> = page_nodes(&page)
        .iter()
        .filter_map(|n| n.get("group").cloned())
        .collect();
    assert!(
        groups.iter().any(|g| g == "1"),
        "group 1's nodes: {groups:?}"
    );
    page.scroll_to("beam-tree");
    page.screenshot("beam-tree-groups");

    // A phone's width: the tree scrolls inside its panel, the page does not.
    page.browser
        .set_window_size(390, 844)
        .unwrap_or_else(|e| panic!("resizing the window: {e}"));
    page.scroll_to("beam-tree");
    page.screenshot("beam-tree-phone");
    let spill = page.script(
        "const p = document.querySelector(arguments[0]); \
         const wide = [...document.querySelectorAll('body *')]\
           .filter(e => !e.closest('svg') && e.getBoundingClientRect().right > window.innerWidth + 1)\
           .slice(0, 6).map(e => e.tagName + '.' + e.className + '#' + (e.dataset.testid || ''));\
         return [p.scrollWidth - p.clientWidth, Math.max(0, document.documentElement.scrollWidth - document.documentElement.clientWidth), wide];",
        json!([hook("beam-tree")]),
    );
    assert_eq!(
        (&spill[0], &spill[1]),
        (&json!(0), &json!(0)),
        "the panel's and the page's overflow at 390 px wide; too wide: {}",
        spill[2]
    );
}
