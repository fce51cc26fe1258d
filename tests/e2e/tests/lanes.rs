//! Compare lanes on the page: two sampling lanes at different temperatures,
//! one Generate, each lane's ids those of `gpt2 generate` with its flags,
//! the first divergence marked, each lane's figures the engine's metrics on
//! its ids, and the lanes back from the address the page wrote.

use std::collections::BTreeMap;

use e2e::fixture;
use e2e::mirror::TINY;
use e2e::native_server::generate_ids;
use e2e::page::{Page, LONG};
use e2e::playground::{self, generate, number, token_ids};
use e2e::webdriver::Gpu;
use engine::decoding::metrics;
use serde_json::json;

const PROMPT: &str = "See you";
const SEED: &str = "11";
const MAX_NEW_TOKENS: &str = "16";

/// Each lane's `output` `data-token-ids`, lane 0 first.
fn lane_ids(page: &Page) -> Vec<Vec<u32>> {
    let found = page.script(
        "return [...document.querySelectorAll('[data-testid=\"lane\"]')]\
           .map(l => l.querySelector('[data-testid=\"output\"]').dataset.tokenIds);",
        json!([]),
    );
    let texts: Vec<String> =
        serde_json::from_value(found).unwrap_or_else(|e| panic!("reading the lanes' ids: {e}"));
    texts
        .iter()
        .map(|t| {
            t.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse()
                        .unwrap_or_else(|e| panic!("lane id {s:?} in {t:?}: {e}"))
                })
                .collect()
        })
        .collect()
}

/// The index, among its lane's tokens, of each lane's `data-diverged` token.
fn diverged_tokens(page: &Page) -> Vec<Option<u64>> {
    let found = page.script(
        "return [...document.querySelectorAll('[data-testid=\"lane\"]')].map(l => {\
           const chips = [...l.querySelectorAll('[data-testid=\"output\"] .chip')];\
           const i = chips.findIndex(c => c.dataset.diverged === 'true');\
           return i < 0 ? null : i; });",
        json!([]),
    );
    serde_json::from_value(found).unwrap_or_else(|e| panic!("reading the diverged tokens: {e}"))
}

#[test]
fn two_sampling_lanes_give_the_command_lines_ids_and_come_back_from_the_url() {
    let model = fixture().mirror.join(TINY);
    let cli = |temperature: &str| {
        let args = [
            "--strategy",
            "sample",
            "--seed",
            SEED,
            "--temperature",
            temperature,
            "--max-new-tokens",
            MAX_NEW_TOKENS,
        ];
        generate_ids(&model, PROMPT, &args)
    };
    let (cold, hot) = (cli("0.7"), cli("1.3"));
    assert_ne!(
        cold, hot,
        "T=0.7 and T=1.3 sample the same ids: pick another seed"
    );

    let page = playground::open(
        Gpu::WebGpu,
        &[
            ("model", TINY),
            ("strategy", "sample"),
            ("prompt", PROMPT),
            ("seed", SEED),
            ("temperature", "0.7"),
            ("max_new_tokens", MAX_NEW_TOKENS),
        ],
    );
    page.click("add-lane");
    page.wait_for(|p| p.count("lane") == 2, LONG, "two lanes after add-lane");
    page.set_input("lane-temperature", "1.3");
    let shown = generate(&page, &[]);
    assert_eq!(shown, cold, "the step views show lane 0's run at the end");
    assert_eq!(
        lane_ids(&page),
        [cold.clone(), hot.clone()],
        "the lanes' ids vs gpt2 generate --seed {SEED} --temperature 0.7 / 1.3"
    );

    let divergence = metrics::first_divergence(&[&cold, &hot]).expect("the lanes differ");
    let lanes = page.data_of_all("lane", None);
    for (i, lane) in lanes.iter().enumerate() {
        assert_eq!(lane.get("lane"), Some(&i.to_string()), "{lanes:?}");
        assert_eq!(
            lane.get("firstDivergence"),
            Some(&divergence.to_string()),
            "lane {i}'s data-first-divergence: {lanes:?}"
        );
    }
    let marked = Some(divergence as u64);
    assert_eq!(
        diverged_tokens(&page),
        [marked, marked],
        "the tokens marked diverged"
    );

    let native = fixture().native();
    let prompt = native.encode(PROMPT);
    let figures = page.data_of_all("lane-figures", None);
    for (ids, shown) in [&cold, &hot].into_iter().zip(&figures) {
        check_figures(
            &native.score_ids(&[prompt.as_slice(), ids].concat()),
            &prompt,
            ids,
            shown,
        );
    }
    page.scroll_to("add-lane");
    page.screenshot("lanes");

    // Clicking lane 1 shows its run in the output above (and the step views).
    page.script(
        "document.querySelector('[data-testid=\"lane\"][data-lane=\"1\"]').click();",
        json!([]),
    );
    page.wait_for(
        |p| token_ids(p) == hot,
        LONG,
        "lane 1's ids in output after clicking it",
    );
    // ... under lane 1's own settings: its chart is the step as the run
    // made it, not redrawn under lane 0's temperature.
    assert!(
        page.exists("step-chart") && !page.exists("chart-note"),
        "lane 1's chart is marked as redrawn under other settings"
    );

    // The address holds both lanes: opened again, they come back as they were.
    let url = page.url();
    assert!(
        url.contains("lane1="),
        "the page's address has no lane1: {url}"
    );
    page.browser.navigate(&url);
    page.wait_for_state("ready", LONG);
    assert_eq!(page.count("lane"), 2, "lanes after reopening {url}");
    assert_eq!(page.values("lane-temperature"), ["1.3"]);
    assert_eq!(
        page.values("lane-settings"),
        ["strategy=sample&temperature=1.3"]
    );
    assert_eq!(page.url(), url, "the reopened page writes the same address");
}

/// A lane's figures vs the engine's metrics on its ids (the mean
/// log-probability from the CPU's scores, to the GPU's rounding).
fn check_figures(scores: &[f32], prompt: &[u32], ids: &[u32], shown: &BTreeMap<String, String>) {
    let new = &scores[prompt.len() - 1..];
    let mean = metrics::mean_logprob(new).expect("new tokens");
    let page_mean = number(shown, "meanLogprob");
    assert!(
        (page_mean - mean).abs() < 1e-3,
        "mean log-prob: page {page_mean} vs the CPU {mean} (ids {ids:?})"
    );
    let distinct = metrics::distinct_2(ids).expect("bigrams");
    assert_eq!(
        number(shown, "distinct-2"),
        distinct,
        "distinct-2 of {ids:?}"
    );
    let repeats = metrics::repeated_4grams(ids) as f64;
    assert_eq!(
        number(shown, "repeated-4grams"),
        repeats,
        "repeated 4-grams of {ids:?}"
    );
    assert!(number(shown, "tokensPerS") > 0.0, "tokens/s: {shown:?}");
}
