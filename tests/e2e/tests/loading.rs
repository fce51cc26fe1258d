//! The playground page loading models: progress of every file, the page's
//! cache on a reload, a truncated checkpoint, and a browser without WebGPU
//! (the page offers the CPU, whose greedy output matches the engine's).

use std::collections::BTreeMap;

use e2e::fixture;
use e2e::mirror::{self, BROKEN, TINY};
use e2e::page::{Page, LONG};
use e2e::playground::{self, number};
use e2e::webdriver::Gpu;

const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

#[test]
fn model_loads_with_progress() {
    let f = fixture();
    let page = Page::open(Gpu::WebGpu, &f.page_url(&[("model", TINY)]));
    // The latest state of every file's progress, seen while the page loads.
    let mut progress: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    page.wait_for(
        |p| {
            for data in p.data_of_all("load-progress", None) {
                progress.insert(data.get("file").cloned().unwrap_or_default(), data);
            }
            let state = p.state();
            assert_ne!(state, "error", "loading {TINY}\n{}", p.report());
            state == "ready"
        },
        LONG,
        "status ready",
    );
    page.screenshot("loaded");
    for file in FILES {
        let (name, data) = progress
            .iter()
            .find(|(name, _)| name.contains(file))
            .unwrap_or_else(|| panic!("no load-progress for {file}; saw {progress:?}"));
        let (loaded, total) = (number(data, "loaded"), number(data, "total"));
        assert!(
            total > 0.0,
            "load-progress {name}: data-total={total}, expected > 0"
        );
        assert_eq!(
            data.get("done").map(String::as_str),
            Some("true"),
            "load-progress {name}: data-done"
        );
        assert_eq!(
            loaded, total,
            "load-progress {name}: data-loaded vs data-total"
        );
        let size = std::fs::metadata(f.mirror.join(TINY).join(file))
            .unwrap()
            .len();
        assert_eq!(
            total as u64, size,
            "load-progress {name}: data-total vs the file's size"
        );
    }
}

#[test]
fn reload_is_served_from_the_page_cache() {
    let f = fixture();
    let url = f.page_url(&[("model", TINY)]);
    let page = Page::open(Gpu::WebGpu, &url);
    page.wait_for_state("ready", LONG);
    let weights = mirror::url_path(TINY, "model.safetensors");
    let before = f.server.requests(&weights);
    assert!(
        before >= 1,
        "requests for {weights} during the first load: none"
    );
    page.browser.navigate(&url);
    page.wait_for_state("ready", LONG);
    assert_eq!(
        f.server.requests(&weights),
        before,
        "requests for {weights} during the reload: expected none (the page's cache)"
    );
}

#[test]
fn broken_checkpoint_shows_an_error() {
    let page = Page::open(Gpu::WebGpu, &fixture().page_url(&[("model", BROKEN)]));
    page.wait_for(|p| p.state() == "error", LONG, "status error");
    page.wait_for(|p| p.exists("error"), LONG, "an error element");
    page.screenshot("broken");
    let message = page.text("error").unwrap_or_default();
    for word in ["truncated", "model.safetensors"] {
        assert!(
            message.contains(word),
            "the error should name the file and say it is truncated: expected {word:?} in {message:?}"
        );
    }
}

#[test]
fn missing_webgpu_shows_an_error() {
    let f = fixture();
    let page = Page::open(Gpu::NoWebGpu, &f.page_url(&[("model", TINY)]));
    page.wait_for(
        |p| p.text("error").is_some_and(|t| !t.is_empty()),
        LONG,
        "an error without WebGPU",
    );
    page.screenshot("no-webgpu");
    let message = page.text("error").unwrap_or_default();
    assert!(
        message.contains("WebGPU"),
        "the error should say WebGPU is not available: expected \"WebGPU\" in {message:?}"
    );
    page.click("use-cpu");
    page.wait_for(
        |p| p.url().contains("device=cpu"),
        LONG,
        "a reload with device=cpu",
    );
    page.wait_for_state("ready", LONG);

    let prompt = "See you";
    let ids = playground::generate(
        &page,
        &[
            ("strategy", "greedy"),
            ("prompt", prompt),
            ("max-new-tokens", "12"),
        ],
    );
    page.screenshot("cpu");
    let expected = f.native().greedy(prompt, 12);
    assert_eq!(
        ids, expected,
        "greedy ids on the page's CPU vs the engine natively"
    );
}
