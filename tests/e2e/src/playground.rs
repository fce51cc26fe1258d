//! The playground page's contract (`tests/e2e/CONTRACT.md`) as calls: open it
//! on the mirror, run a strategy, read the new token ids, the step chart's
//! bars and the forward-pass count.

use std::collections::BTreeMap;

use crate::fixture;
use crate::page::{Page, LONG};
use crate::webdriver::Gpu;

/// One bar of `step-chart`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub token_id: u32,
    /// After temperature and truncation.
    pub prob: f64,
    pub raw_prob: f64,
    /// `top_k`, `top_p`, `min_p`, or empty when the token is kept.
    pub cut: String,
    pub chosen: bool,
}

/// Opens the page with `params` (and the mirror as its Hub) and waits until
/// its model is loaded.
pub fn open(gpu: Gpu, params: &[(&str, &str)]) -> Page {
    let page = Page::open(gpu, &fixture().page_url(params));
    page.wait_for_state("ready", LONG);
    page
}

/// Sets `settings` (test id, value; the strategy first, as its inputs may
/// appear with it), clicks `generate` and waits for the run to finish (status
/// `done` after at least one more forward pass). Returns the new token ids.
pub fn generate(page: &Page, settings: &[(&str, &str)]) -> Vec<u32> {
    for (testid, value) in settings {
        page.set_input(testid, value);
    }
    let before = forward_count(page);
    page.click("generate");
    page.wait_for(
        |p| {
            let state = p.state();
            assert_ne!(
                state,
                "error",
                "running {settings:?}: the page reported an error\n{}",
                p.report()
            );
            state == "done" && forward_count(p) > before
        },
        LONG,
        &format!("status done after running {settings:?}"),
    );
    token_ids(page)
}

/// `output`'s `data-token-ids`.
pub fn token_ids(page: &Page) -> Vec<u32> {
    let text = page.attr("output", "data-token-ids").unwrap_or_default();
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim().parse().unwrap_or_else(|e| {
                panic!("output's data-token-ids={text:?}: {s:?} is not an id ({e})")
            })
        })
        .collect()
}

/// `forward-count`'s `data-count`.
pub fn forward_count(page: &Page) -> u64 {
    let text = page.attr("forward-count", "data-count").unwrap_or_default();
    text.parse()
        .unwrap_or_else(|_| panic!("forward-count's data-count={text:?} is not a count"))
}

/// The bars of `step-chart`, in page order.
pub fn bars(page: &Page) -> Vec<Bar> {
    page.data_of_all("bar", Some("step-chart"))
        .iter()
        .map(|data| Bar {
            token_id: number(data, "tokenId") as u32,
            prob: number(data, "prob"),
            raw_prob: number(data, "rawProb"),
            cut: data.get("cut").cloned().unwrap_or_default(),
            chosen: data.get("chosen").map(String::as_str) == Some("true"),
        })
        .collect()
}

/// A numeric `data-*` attribute (`key` in dataset's camel case).
pub fn number(data: &BTreeMap<String, String>, key: &str) -> f64 {
    let text = data
        .get(key)
        .unwrap_or_else(|| panic!("no dataset.{key} among {data:?}"));
    text.parse()
        .unwrap_or_else(|_| panic!("dataset.{key}={text:?} is not a number, among {data:?}"))
}
