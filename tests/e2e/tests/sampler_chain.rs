//! The sampler chain on the page: typical-p and XTC set through the URL,
//! a sampling run whose chart names each cut as the engine does on the CPU,
//! and a redraw under other settings that reuses the step's XTC coin without
//! a forward pass.

use std::time::Duration;

use e2e::fixture;
use e2e::mirror::TINY;
use e2e::playground::{self, bars, forward_count, generate, number, Bar};
use e2e::webdriver::Gpu;
use engine::decoding::{SamplingParams, Step, StepInputs, Xtc};

const PROMPT: &str = "See you";

/// The cut names of the bars' tokens among a step's candidates, in bar order.
fn expected_cuts(
    bars: &[Bar],
    candidates: &[engine::decoding::steps::StepCandidate],
) -> Vec<String> {
    bars.iter()
        .map(|b| {
            let c = candidates
                .iter()
                .find(|c| c.id == b.token_id)
                .unwrap_or_else(|| panic!("bar {b:?} is not among the engine's candidates"));
            c.cut.map(|c| c.name().to_string()).unwrap_or_default()
        })
        .collect()
}

#[test]
fn typical_p_and_xtc_from_the_url_name_their_cuts_and_redraw_with_the_steps_coin() {
    // Top-k 6 keeps six tokens, typical-p cuts some of them, and XTC at
    // threshold 0 (every kept token a top choice), always applying, cuts all
    // the rest but the least likely: each cut shows on the chart's 12 bars.
    let params = SamplingParams {
        top_k: Some(6),
        typical_p: Some(0.5),
        xtc: Some(Xtc {
            threshold: 0.0,
            probability: 1.0,
        }),
        ..SamplingParams::default()
    };
    let native = fixture().native();
    let (expected_ids, steps) = native.sample(PROMPT, 4, &params, 3);
    let Some(Step::Token {
        candidates,
        logits: Some(logits),
        xtc_coin: Some(coin),
        ..
    }) = steps.last()
    else {
        panic!("the engine's last step is no token step with logits and a coin: {steps:?}");
    };

    let page = playground::open(
        Gpu::WebGpu,
        &[
            ("model", TINY),
            ("strategy", "sample"),
            ("prompt", PROMPT),
            ("top_k", "6"),
            ("typical_p", "0.5"),
            ("xtc_probability", "1"),
            ("xtc_threshold", "0"),
            ("seed", "3"),
            ("max_new_tokens", "4"),
        ],
    );
    let ids = generate(&page, &[]);
    assert_eq!(
        ids, expected_ids,
        "the page's sampled ids vs the engine's on the CPU"
    );
    let own = bars(&page);
    let cuts: Vec<String> = own.iter().map(|b| b.cut.clone()).collect();
    assert_eq!(
        cuts,
        expected_cuts(&own, candidates),
        "the bars' data-cut vs the engine's step on the CPU: {own:?}"
    );
    for name in ["top_k", "typical_p", "xtc"] {
        assert!(
            cuts.iter().any(|c| c == name),
            "no bar cut by {name}: {own:?}"
        );
    }
    let draws = page.data_of_all("step-draws", None);
    assert_eq!(draws.len(), 1, "step-draws: {draws:?}");
    let page_coin = number(&draws[0], "xtcCoin");
    assert!(
        (page_coin - coin).abs() < 1e-12,
        "step-draws' XTC coin {page_coin} vs the engine's {coin}"
    );

    // Typical-p off: the chart is redrawn from the step's logits with the
    // same coin, as the engine processes them, without a forward pass.
    let passes = forward_count(&page);
    page.set_input("typical-p", "1");
    page.wait_for(
        |p| p.exists("chart-note"),
        Duration::from_secs(10),
        "chart-note after typical-p moved",
    );
    let redrawn = bars(&page);
    let mut context = native.encode(PROMPT);
    let prompt_len = context.len();
    context.extend(&expected_ids[..expected_ids.len() - 1]);
    let inputs = StepInputs {
        context: &context,
        prompt_len,
        xtc_coin: Some(*coin),
        ..StepInputs::default()
    };
    let moved = SamplingParams {
        typical_p: None,
        ..params
    };
    let processed = moved.process_step(logits, &inputs);
    let chosen = *expected_ids.last().unwrap();
    let expected = expected_cuts(&redrawn, &processed.step_candidates(20, chosen));
    let cuts: Vec<String> = redrawn.iter().map(|b| b.cut.clone()).collect();
    assert_eq!(
        cuts, expected,
        "the redrawn bars' data-cut vs the engine's: {redrawn:?}"
    );
    assert!(
        !cuts.iter().any(|c| c == "typical_p"),
        "typical_p still cuts: {redrawn:?}"
    );
    page.scroll_to("group-truncation");
    page.screenshot("sampler-chain");
    let note = page.text("chart-note").unwrap_or_default();
    assert!(note.contains("XTC: this step's coin"), "chart-note: {note}");
    assert_eq!(
        forward_count(&page),
        passes,
        "forward-count after the redraw"
    );
}
