//! The sampler chain stage by stage: a sampling run's last step through
//! temperature, top-k, top-p and min-p, each `funnel-stage` as the engine
//! traces the step natively (names, tokens left, mass within 1e-5, the
//! chosen token's rank, top-k's cut threshold), the last stage keeping
//! exactly the tokens the processed distribution keeps; moving a slider
//! retraces it with no forward pass.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e::fixture;
use e2e::mirror::TINY;
use e2e::page::Page;
use e2e::playground::{self, forward_count, generate, number};
use e2e::webdriver::Gpu;
use engine::decoding::processors::{StageTrace, Threshold};
use engine::decoding::{SamplingParams, Step, StepInputs};

const PROMPT: &str = "See you";

/// The funnel's stage rows, in page order.
fn stages(page: &Page) -> Vec<BTreeMap<String, String>> {
    page.data_of_all("funnel-stage", Some("funnel"))
}

/// Checks the page's rows against the engine's trace.
fn check(rows: &[BTreeMap<String, String>], trace: &[StageTrace], when: &str) {
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str()).collect();
    let expected: Vec<&str> = trace.iter().map(|t| t.point.name()).collect();
    assert_eq!(names, expected, "{when}: the funnel's stages");
    for (row, t) in rows.iter().zip(trace) {
        let name = t.point.name();
        assert_eq!(
            number(row, "kept") as usize,
            t.kept,
            "{when}: {name}'s tokens left, {row:?}"
        );
        let mass = number(row, "mass");
        assert!(
            (mass - t.mass).abs() < 1e-5,
            "{when}: {name}'s mass {mass} vs the engine's {}",
            t.mass
        );
        let entropy = number(row, "entropy");
        assert!(
            (entropy - t.entropy as f64).abs() < 1e-4,
            "{when}: {name}'s entropy {entropy} vs the engine's {}",
            t.entropy
        );
        let rank = row.get("chosenRank").map(|r| r.parse::<usize>().unwrap());
        assert_eq!(rank, t.chosen_rank, "{when}: {name}'s chosen rank");
        if let Some(Threshold::AtMost(v)) = t.threshold.filter(|_| name == "top_k") {
            assert_eq!(number(row, "cutAt"), v, "{when}: top_k's threshold");
            assert_eq!(row.get("cutWhen").map(String::as_str), Some("at_most"));
        }
    }
}

#[test]
fn the_funnel_traces_the_chain_as_the_engine_and_follows_the_sliders() {
    let started = Instant::now();
    let params = SamplingParams {
        temperature: 0.8,
        top_k: Some(20),
        top_p: Some(0.9),
        min_p: Some(0.02),
        ..SamplingParams::default()
    };
    let native = fixture().native();
    let (expected_ids, steps) = native.sample(PROMPT, 4, &params, 3);
    let Some(Step::Token {
        chosen,
        logits: Some(logits),
        ..
    }) = steps.last()
    else {
        panic!("the engine's last step is no token step with logits: {steps:?}");
    };
    let mut context = native.encode(PROMPT);
    let prompt_len = context.len();
    context.extend(&expected_ids[..expected_ids.len() - 1]);
    let inputs = StepInputs {
        context: &context,
        prompt_len,
        xtc_coin: Some(0.0),
        ..StepInputs::default()
    };
    let (processed, trace) = params.trace(logits, &inputs, *chosen);

    let page = playground::open(
        Gpu::WebGpu,
        &[
            ("model", TINY),
            ("strategy", "sample"),
            ("prompt", PROMPT),
            ("temperature", "0.8"),
            ("top_k", "20"),
            ("top_p", "0.9"),
            ("min_p", "0.02"),
            ("seed", "3"),
            ("max_new_tokens", "4"),
        ],
    );
    let ids = generate(&page, &[]);
    assert_eq!(ids, expected_ids, "the page's sampled ids vs the engine's");
    let rows = stages(&page);
    check(&rows, &trace, "the run's settings");
    let kept = processed.probs.iter().filter(|&&p| p > 0.0).count();
    let last = rows.last().expect("a stage");
    assert_eq!(
        number(last, "kept") as usize,
        kept,
        "the last stage vs the processed distribution's support"
    );
    let model = page.data_of_all("funnel-model", Some("funnel"));
    assert_eq!(model.len(), 1, "funnel-model: {model:?}");
    assert!((number(&model[0], "mass") - 1.0).abs() < 1e-5, "{model:?}");

    // Top-k 3: the funnel is retraced from the step's logits, no pass run.
    let passes = forward_count(&page);
    page.set_input("top-k", "3");
    let moved = SamplingParams {
        top_k: Some(3),
        ..params
    };
    let (processed, trace) = moved.trace(logits, &inputs, *chosen);
    page.wait_for(
        |p| {
            stages(p)
                .iter()
                .any(|r| r["name"] == "top_k" && r["kept"] == "3")
        },
        Duration::from_secs(10),
        "the top_k stage keeping 3 tokens after the slider moved",
    );
    let rows = stages(&page);
    check(&rows, &trace, "top-k moved to 3");
    let kept = processed.probs.iter().filter(|&&p| p > 0.0).count();
    assert_eq!(number(rows.last().unwrap(), "kept") as usize, kept);
    page.scroll_to("funnel");
    page.screenshot("funnel");
    assert_eq!(
        forward_count(&page),
        passes,
        "forward-count after the slider"
    );

    // Greedy: its steps hold their whole rows too, and the funnel ends on
    // the argmax alone.
    let greedy = SamplingParams {
        temperature: 0.0,
        ..SamplingParams::default()
    };
    let (expected_ids, steps) = native.sample(PROMPT, 4, &greedy, 0);
    let Some(Step::Token {
        chosen,
        logits: Some(logits),
        ..
    }) = steps.last()
    else {
        panic!("the engine's last greedy step has no logits: {steps:?}");
    };
    let mut context = native.encode(PROMPT);
    context.extend(&expected_ids[..expected_ids.len() - 1]);
    let inputs = StepInputs {
        context: &context,
        prompt_len,
        ..StepInputs::default()
    };
    let (_, trace) = greedy.trace(logits, &inputs, *chosen);
    page.set_input("top-k", "0");
    let ids = generate(&page, &[("strategy", "greedy")]);
    assert_eq!(ids, expected_ids, "the page's greedy ids vs the engine's");
    let rows = stages(&page);
    check(&rows, &trace, "greedy");
    assert_eq!(
        number(rows.last().unwrap(), "kept"),
        1.0,
        "greedy keeps one token"
    );
    eprintln!("funnel e2e: {:.1} s", started.elapsed().as_secs_f64());
}
