//! The playground page decoding on WebGPU: greedy ids equal to the engine's on
//! the CPU, sliders that redraw the chart without a forward pass, the stop
//! button, every strategy's view, and the scoring panel.

use std::thread;
use std::time::Duration;

use e2e::fixture;
use e2e::mirror::{DRAFT, TINY};
use e2e::page::LONG;
use e2e::playground::{self, bars, forward_count, generate, number, token_ids, Bar};
use e2e::webdriver::Gpu;

const PROMPT: &str = "See you";

#[test]
fn greedy_matches_the_command_line() {
    let native = fixture().native();
    let expected = native.greedy(PROMPT, 12);
    match native.greedy_by_the_command_line(PROMPT, 12) {
        Some(cli) => assert_eq!(cli, expected, "gpt2 generate --json vs the engine library"),
        None => println!(
            "target/release/gpt2 is not built: the page is compared with the engine library only"
        ),
    }
    let page = playground::open(Gpu::WebGpu, &[("model", TINY)]);
    let ids = generate(
        &page,
        &[
            ("strategy", "greedy"),
            ("prompt", PROMPT),
            ("max-new-tokens", "12"),
        ],
    );
    page.scroll_to("step-chart");
    page.screenshot("greedy");
    assert_eq!(
        ids, expected,
        "output's data-token-ids vs greedy on the CPU"
    );

    let bars = bars(&page);
    assert!(!bars.is_empty(), "step-chart has no bars");
    let total: f64 = bars.iter().map(|b| b.prob).sum();
    assert!(
        total <= 1.0 + 1e-4,
        "the bars' data-prob sum to {total}, more than 1: {bars:?}"
    );
    let chosen: Vec<&Bar> = bars.iter().filter(|b| b.chosen).collect();
    assert_eq!(chosen.len(), 1, "bars with data-chosen=true: {bars:?}");
    assert_eq!(
        Some(chosen[0].token_id),
        ids.last().copied(),
        "the chosen bar's token vs the last generated id"
    );
}

#[test]
fn slider_redraws_without_a_forward_pass() {
    let page = playground::open(Gpu::WebGpu, &[("model", TINY)]);
    generate(
        &page,
        &[
            ("strategy", "sample"),
            ("prompt", PROMPT),
            ("temperature", "1"),
            ("seed", "7"),
            ("max-new-tokens", "8"),
        ],
    );
    let passes = forward_count(&page);
    let before = bars(&page);
    assert!(
        !page.exists("chart-note"),
        "chart-note shown before any slider moved"
    );
    assert!(
        before.len() > 3,
        "step-chart needs more than 3 bars for top-k 3: {before:?}"
    );
    let top = |bars: &[Bar]| -> Bar {
        bars.iter()
            .max_by(|a, b| a.raw_prob.total_cmp(&b.raw_prob))
            .cloned()
            .expect("a bar")
    };

    page.set_input("temperature", "0.5");
    page.wait_for(
        |p| bars(p) != before,
        Duration::from_secs(10),
        "bars redrawn at temperature 0.5",
    );
    let cooler = bars(&page);
    assert!(
        page.exists("chart-note"),
        "chart-note (the bars are recomputed for the new settings) missing after a slider moved"
    );
    let (was, now) = (top(&before), top(&cooler));
    assert_eq!(
        now.token_id, was.token_id,
        "the most likely token at temperature 0.5"
    );
    assert!(
        now.prob > was.prob,
        "the top bar's data-prob at temperature 0.5: expected more than {} (temperature 1), got {}",
        was.prob,
        now.prob
    );

    page.set_input("top-k", "3");
    page.wait_for(
        |p| bars(p).iter().filter(|b| b.cut.is_empty()).count() == 3,
        Duration::from_secs(10),
        "3 bars not cut at top-k 3",
    );
    page.scroll_to("step-chart");
    page.screenshot("sliders");
    let truncated = bars(&page);
    for bar in truncated.iter().filter(|b| !b.cut.is_empty()) {
        assert_eq!(
            bar.cut, "top_k",
            "data-cut of a bar outside the top 3: {bar:?}"
        );
        assert_eq!(bar.prob, 0.0, "data-prob of a cut bar: {bar:?}");
    }
    let kept: f64 = truncated
        .iter()
        .filter(|b| b.cut.is_empty())
        .map(|b| b.prob)
        .sum();
    assert!(
        (kept - 1.0).abs() < 1e-3,
        "the 3 kept bars' data-prob sum to {kept}, expected 1"
    );
    assert_eq!(
        forward_count(&page),
        passes,
        "forward-count after moving the sliders"
    );
}

#[test]
fn stop_stops() {
    let expected = fixture().native().greedy(PROMPT, 200);
    assert_eq!(
        expected.len(),
        200,
        "the tiny model's greedy run must not end before 200 tokens"
    );
    let page = playground::open(Gpu::WebGpu, &[("model", TINY)]);
    for (testid, value) in [
        ("strategy", "greedy"),
        ("prompt", PROMPT),
        ("max-new-tokens", "200"),
    ] {
        page.set_input(testid, value);
    }
    page.click("generate");
    page.wait_for(|p| token_ids(p).len() >= 2, LONG, "2 tokens of output");
    page.click("stop");
    page.wait_for(
        |p| {
            let state = p.state();
            assert_ne!(
                state,
                "done",
                "the run finished before stop took effect\n{}",
                p.report()
            );
            state == "stopped"
        },
        LONG,
        "status stopped",
    );
    let ids = token_ids(&page);
    println!("stopped after {} of 200 tokens", ids.len());
    assert!(ids.len() < 200, "ids after stop: {} of 200", ids.len());
    assert_eq!(
        ids,
        expected[..ids.len()],
        "the ids before stop vs greedy on the CPU"
    );
    thread::sleep(Duration::from_secs(1));
    assert_eq!(token_ids(&page), ids, "output's ids one second after stop");
    assert_eq!(page.state(), "stopped", "status one second after stop");
}

#[test]
fn beam_sampling_contrastive_speculative_complete() {
    let page = playground::open(Gpu::WebGpu, &[("model", TINY), ("second", DRAFT)]);
    page.set_input("prompt", PROMPT);

    let ids = generate(
        &page,
        &[
            ("strategy", "beam"),
            ("num-beams", "3"),
            ("max-new-tokens", "6"),
        ],
    );
    let rows = page.data_of_all("beam-row", Some("beam-view"));
    page.scroll_to("beam-view");
    page.screenshot("beam");
    assert_eq!(rows.len(), 3, "beam-row elements in beam-view: {rows:?}");
    for row in &rows {
        assert!(
            number(row, "score").is_finite(),
            "a beam-row's data-score: {row:?}"
        );
    }
    let expected = fixture().native().beam(PROMPT, 6, 3);
    assert_eq!(
        ids, expected,
        "beam search's ids vs the engine's on the CPU"
    );

    let ids = generate(&page, &[("strategy", "sample"), ("max-new-tokens", "6")]);
    page.scroll_to("output");
    page.screenshot("sample");
    assert_eq!(ids.len(), 6, "sampled ids: {ids:?}");

    generate(
        &page,
        &[("strategy", "contrastive"), ("max-new-tokens", "6")],
    );
    let rows = page.data_of_all("contrastive-row", Some("contrastive-view"));
    page.scroll_to("contrastive-view");
    page.screenshot("contrastive");
    assert!(!rows.is_empty(), "no contrastive-row in contrastive-view");
    for row in &rows {
        for key in ["expert", "amateur", "plausible"] {
            assert!(
                row.contains_key(key),
                "a contrastive-row without data-{key}: {row:?}"
            );
        }
    }

    let ids = generate(
        &page,
        &[
            ("strategy", "speculative"),
            ("gamma", "3"),
            ("max-new-tokens", "8"),
        ],
    );
    let drafts = page.data_of_all("draft-token", Some("speculative-view"));
    page.scroll_to("speculative-view");
    page.screenshot("speculative");
    assert_eq!(ids.len(), 8, "speculative ids: {ids:?}");
    assert!(!drafts.is_empty(), "no draft-token in speculative-view");
    for draft in &drafts {
        let (p, q) = (number(draft, "p"), number(draft, "q"));
        assert!(
            (0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&q),
            "a draft-token's p, q: {draft:?}"
        );
        assert!(
            matches!(
                draft.get("accepted").map(String::as_str),
                Some("true" | "false")
            ),
            "a draft-token's data-accepted: {draft:?}"
        );
    }
}

#[test]
fn scoring_panel_compares_texts() {
    let native = fixture().native();
    let page = playground::open(Gpu::WebGpu, &[("model", TINY)]);
    let texts = page.values("score-text");
    assert_eq!(texts.len(), 2, "score-text textareas: {texts:?}");
    page.click("score-run");
    page.wait_for(
        |p| {
            p.data_of_all("score-result", None)
                .iter()
                .filter(|r| r.contains_key("total"))
                .count()
                == 2
        },
        LONG,
        "2 score-result elements with data-total",
    );
    page.scroll_to("score-panel");
    page.screenshot("score");
    let results = page.data_of_all("score-result", None);
    for (text, result) in texts.iter().zip(&results) {
        let total = number(result, "total");
        let expected = native.score_total(text);
        assert!(
            (total - expected).abs() < 1e-3,
            "score-result for {text:?}: data-total {total}, expected {expected} (the engine on the CPU)"
        );
    }
    let tokens = page.count("score-token");
    let expected: usize = texts.iter().map(|t| native.encode(t).len()).sum();
    assert_eq!(
        tokens, expected,
        "score-token elements vs the texts' tokens"
    );
}
