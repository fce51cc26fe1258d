//! The bundled pair on the page (`models/`, served with the page itself):
//! loaded with no hub at all, the page's instant start on it while the
//! default model downloads, staying on it when the hub cannot be reached,
//! moving off it once the model is loaded, and contrastive decoding against
//! the bundled draft with a vetoed step shown.

use e2e::expected::Native;
use e2e::mirror::{self, DEFAULT};
use e2e::page::{Page, LONG};
use e2e::playground::{generate, token_ids};
use e2e::webdriver::Gpu;
use e2e::{fixture, repo_root};
use serde_json::json;

const PROMPT: &str = "And the LORD said unto Moses,";

fn bundled(name: &str) -> Native {
    Native::load(&repo_root().join("models").join(name))
}

/// The page at `query`, with no hub named (the Hugging Face Hub, which the
/// test machine cannot reach).
fn open_without_hub(query: &str) -> Page {
    Page::open(Gpu::WebGpu, &format!("{}/?{query}", fixture().server.url()))
}

/// The addresses this page fetched, in the order it began fetching them
/// (the tests of other pages share the server).
fn fetched(page: &Page) -> Vec<String> {
    let names = page.script(
        "return performance.getEntriesByType('resource').map(e => e.name);",
        json!([]),
    );
    serde_json::from_value(names).unwrap_or_default()
}

/// Waits until `standby`'s `data-state` is `state`.
fn wait_for_standby(page: &Page, state: &str) {
    page.wait_for(
        |p| p.attr("standby", "data-state").as_deref() == Some(state),
        LONG,
        &format!("standby data-state={state}"),
    );
}

#[test]
fn the_bundled_pair_runs_with_no_hub_at_all() {
    let (target, draft) = (bundled("bundled"), bundled("bundled-draft"));
    let page = open_without_hub("model=bundled");
    page.wait_for_state("ready", LONG);
    assert_eq!(
        page.attr("device", "data-model").as_deref(),
        Some("bundled")
    );
    assert!(
        !page.exists("standby"),
        "a notice for a model asked for by name"
    );

    let expected = target.greedy(PROMPT, 24);
    let ids = generate(
        &page,
        &[
            ("strategy", "greedy"),
            ("prompt", PROMPT),
            ("max-new-tokens", "24"),
        ],
    );
    assert_eq!(ids, expected, "the page's greedy ids vs the engine's");
    // The output shows spaces as middle dots.
    let text = page.text("output").unwrap_or_default().replace('·', " ");
    println!("bundled, greedy: {text:?}");
    assert!(
        text.split_whitespace().count() >= 10,
        "the output is not words: {text:?}"
    );

    // Contrastive decoding defaults to the bundled draft as its amateur.
    let (expected, steps) = target.contrastive(&draft, PROMPT, 24);
    let ids = generate(&page, &[("strategy", "contrastive")]);
    assert_eq!(ids, expected, "the page's contrastive ids vs the engine's");
    let command = page.text("reproduce").unwrap_or_default();
    assert!(
        command.contains("--model bundled") && command.contains("--amateur bundled-draft"),
        "the command names the bundled pair: {command}"
    );
    let vetoed = steps
        .iter()
        .position(|(chosen, top)| chosen != top)
        .expect("a step where the expert's favourite was not chosen");
    page.script(
        "document.querySelector(`[data-testid=\"token-chip\"][data-step=\"${arguments[0]}\"]`).click();",
        json!([vetoed]),
    );
    page.wait_for(
        |p| p.exists("contrastive-veto"),
        LONG,
        "the contrastive view's veto",
    );
    let top = steps[vetoed].1.to_string();
    assert_eq!(
        page.attr("contrastive-veto", "data-token-id"),
        Some(top),
        "the vetoed token at step {vetoed}"
    );
    page.scroll_to("contrastive-view");
    page.screenshot("bundled-contrastive");
    let fetched = fetched(&page);
    assert!(
        fetched.iter().any(|u| u.contains("/models/bundled-draft/")),
        "the bundled draft was not fetched: {fetched:?}"
    );
    assert!(
        !fetched
            .iter()
            .any(|u| u.contains("/mirror/") || u.contains("huggingface.co")),
        "the page fetched from a hub: {fetched:?}"
    );
}

#[test]
fn the_page_stays_on_the_bundled_model_when_the_hub_cannot_be_reached() {
    let f = fixture();
    // The page's own origin, where no Hub lives: every file is a 404.
    let hub = format!("{}/nowhere", f.server.url());
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("hub", &hub)
        .finish();
    let page = open_without_hub(&query);
    page.wait_for_state("ready", LONG);
    assert_eq!(
        page.attr("device", "data-model").as_deref(),
        Some("bundled")
    );
    wait_for_standby(&page, "failed");
    let notice = page.text("standby").unwrap_or_default();
    assert!(
        notice.contains("gpt2") && notice.contains("stays on bundled"),
        "{notice}"
    );
    page.screenshot("bundled-offline");
    let expected = bundled("bundled").greedy(PROMPT, 16);
    let ids = generate(
        &page,
        &[
            ("strategy", "greedy"),
            ("prompt", PROMPT),
            ("max-new-tokens", "16"),
        ],
    );
    assert_eq!(ids, expected, "greedy on the bundled model");
    assert!(
        page.text("reproduce")
            .unwrap_or_default()
            .contains("--model bundled"),
        "the command names the model that ran"
    );
}

#[test]
fn the_page_moves_to_the_default_model_once_it_is_loaded() {
    let f = fixture();
    // No model named: the default, gpt2, which the mirror holds (a tiny one).
    let page = Page::open(Gpu::WebGpu, &f.page_url(&[]));
    wait_for_standby(&page, "moved");
    page.wait_for_state("ready", LONG);
    assert_eq!(page.attr("device", "data-model").as_deref(), Some(DEFAULT));
    let fetched = fetched(&page);
    let position = |part: &str| fetched.iter().position(|u| u.ends_with(part));
    let (bundled, default) = (
        position("/models/bundled/model.safetensors"),
        position(&mirror::url_path(DEFAULT, "model.safetensors")),
    );
    assert!(
        bundled.is_some() && default.is_some() && bundled < default,
        "the bundled weights are not fetched before gpt2's: {fetched:?}"
    );
    let expected = Native::load(&f.mirror.join(DEFAULT)).greedy(PROMPT, 8);
    let ids = generate(
        &page,
        &[
            ("strategy", "greedy"),
            ("prompt", PROMPT),
            ("max-new-tokens", "8"),
        ],
    );
    assert_eq!(ids, expected, "greedy on the mirror's gpt2");
    assert_eq!(token_ids(&page), expected);
}
