//! A page open in Chromium, read and driven through its `data-testid` hooks:
//! attributes, texts, clicks, inputs, waits that explain themselves when they
//! time out, and screenshots saved under `target/e2e-screenshots/`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::webdriver::{Browser, Gpu};

/// How long a page may take to load a model or finish a run.
pub const LONG: Duration = Duration::from_secs(180);

/// The CSS selector of a test hook.
pub fn hook(testid: &str) -> String {
    format!("[data-testid=\"{testid}\"]")
}

/// A browser showing one page.
pub struct Page {
    pub browser: Browser,
}

impl Page {
    /// Starts a browser and opens `url` in it.
    pub fn open(gpu: Gpu, url: &str) -> Page {
        let page = Page {
            browser: Browser::start(gpu),
        };
        page.browser.navigate(url);
        page
    }

    /// The page's address now.
    pub fn url(&self) -> String {
        self.script("return location.href", json!([]))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs a script (a function body; `arguments[i]` are `args`) and returns its value.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.browser
            .execute(script, args)
            .unwrap_or_else(|e| panic!("running a script on the page: {e}\nscript: {script}"))
    }

    /// Attribute `name` of the first `testid` element; `None` if there is no such
    /// element or it has no such attribute.
    pub fn attr(&self, testid: &str, name: &str) -> Option<String> {
        let element = self.browser.find(&hook(testid)).ok()?;
        self.browser.attribute(&element, name).ok().flatten()
    }

    /// The rendered text of the first `testid` element, if there is one.
    pub fn text(&self, testid: &str) -> Option<String> {
        let element = self.browser.find(&hook(testid)).ok()?;
        self.browser.text(&element).ok()
    }

    /// Whether a `testid` element exists.
    pub fn exists(&self, testid: &str) -> bool {
        self.count(testid) > 0
    }

    /// How many `testid` elements there are.
    pub fn count(&self, testid: &str) -> usize {
        self.browser.find_all(&hook(testid)).map_or(0, |l| l.len())
    }

    /// The `data-*` attributes (without the prefix) of every `testid` element
    /// inside the first `within` element (or in the whole page), in page order.
    pub fn data_of_all(&self, testid: &str, within: Option<&str>) -> Vec<BTreeMap<String, String>> {
        let found = self.script(
            "const root = arguments[1] ? document.querySelector(arguments[1]) : document;\
             if (!root) return [];\
             return [...root.querySelectorAll(arguments[0])].map(e => ({...e.dataset}));",
            json!([hook(testid), within.map(hook)]),
        );
        serde_json::from_value(found).unwrap_or_else(|e| panic!("reading {testid}'s data: {e}"))
    }

    /// The `value` of every `testid` element (inputs, textareas), in page order.
    pub fn values(&self, testid: &str) -> Vec<String> {
        let found = self.script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.value);",
            json!([hook(testid)]),
        );
        serde_json::from_value(found).unwrap_or_else(|e| panic!("reading {testid}'s values: {e}"))
    }

    /// The `data-state` of `status`.
    pub fn state(&self) -> String {
        self.attr("status", "data-state").unwrap_or_default()
    }

    /// Clicks the first `testid` element, waiting for it to exist.
    pub fn click(&self, testid: &str) {
        self.wait_for(|p| p.exists(testid), LONG, &format!("a {testid} element"));
        let element = self
            .browser
            .find(&hook(testid))
            .unwrap_or_else(|e| panic!("finding {testid}: {e}"));
        self.browser
            .click(&element)
            .unwrap_or_else(|e| panic!("clicking {testid}: {e}"));
    }

    /// Sets an input, textarea or select as a user would: its value, then the
    /// `input` and `change` events.
    pub fn set_input(&self, testid: &str, value: &str) {
        self.wait_for(|p| p.exists(testid), LONG, &format!("a {testid} input"));
        let found = self.script(
            "const e = document.querySelector(arguments[0]);\
             if (!e) return false;\
             e.value = arguments[1];\
             e.dispatchEvent(new Event('input', {bubbles: true}));\
             e.dispatchEvent(new Event('change', {bubbles: true}));\
             return e.value;",
            json!([hook(testid), value]),
        );
        assert_eq!(
            found.as_str(),
            Some(value),
            "setting {testid} to {value:?}: the element holds {found}"
        );
    }

    /// Polls `condition` every 100 ms until it holds; after `timeout` panics with
    /// what was awaited, the page's status and error, and the browser's console.
    pub fn wait_for(
        &self,
        mut condition: impl FnMut(&Page) -> bool,
        timeout: Duration,
        what: &str,
    ) {
        let start = Instant::now();
        while !condition(self) {
            if start.elapsed() > timeout {
                panic!(
                    "waited {:.0} s for {what}; gave up\n{}",
                    timeout.as_secs_f64(),
                    self.report()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for `status` to reach `state`, failing early on `error`.
    pub fn wait_for_state(&self, state: &str, timeout: Duration) {
        self.wait_for(
            |p| {
                let now = p.state();
                assert!(
                    now != "error" || state == "error",
                    "waiting for status {state}, the page reported an error\n{}",
                    p.report()
                );
                now == state
            },
            timeout,
            &format!("status {state}"),
        );
    }

    /// What the page shows and logged, for failure messages.
    pub fn report(&self) -> String {
        let status = format!(
            "status: data-state={:?} text={:?}",
            self.attr("status", "data-state"),
            self.text("status")
        );
        let error = format!("error: {:?}", self.text("error"));
        let log = self.browser.console_log().join("\n  ");
        let url = self
            .browser
            .execute("return location.href", json!([]))
            .map_or_else(|e| format!("({e})"), |v| v.to_string());
        format!("url: {url}\n{status}\n{error}\nbrowser console:\n  {log}")
    }

    /// Scrolls the first `testid` element to the middle of the viewport.
    pub fn scroll_to(&self, testid: &str) {
        self.script(
            "const e = document.querySelector(arguments[0]);\
             if (e) e.scrollIntoView({block: 'center'});",
            json!([hook(testid)]),
        );
    }

    /// Saves the viewport to `target/e2e-screenshots/<name>.png` and prints where.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let dir = crate::repo_root().join("target/e2e-screenshots");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        let png = self
            .browser
            .screenshot_png()
            .unwrap_or_else(|e| panic!("taking screenshot {name}: {e}"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        println!("screenshot: {}", path.display());
        path
    }
}
