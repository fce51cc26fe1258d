//! The CPU fallback on several threads: served cross-origin isolated (COOP
//! `same-origin`, COEP `require-corp`), the page loads its threaded build
//! (`scripts/page-threads`, run by trunk after each build), whose CPU team
//! runs on Web Workers; served plainly, it loads the plain build, on one
//! thread. Either way its ids are the engine's.

use serde_json::{json, Value};

use e2e::mirror::TINY;
use e2e::page::{Page, LONG};
use e2e::playground::generate;
use e2e::webdriver::Gpu;
use e2e::{fixture, repo_root};

/// Some 80 tokens: the prompt pass takes the many-rows product (`gemm`, from
/// 64 rows), split between the threads like the one-row ones.
const LONG_PROMPT: &str = "The quick brown fox jumps over the lazy dog, and then it runs \
    across the wide green field towards the old wooden barn, where the farmer keeps his \
    horses, his cows and a small flock of sheep that graze all day long beside the river, \
    while the children play in the warm summer sun until the evening comes and the stars \
    appear one by one above the quiet hills";

/// The threaded build's bindings in `dist/threads/`, if the page has them.
fn threaded_build() -> Option<String> {
    let dir = repo_root().join("dist/threads");
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let name = e.file_name().into_string().ok()?;
        (name.starts_with("app-") && name.ends_with(".js")).then_some(name)
    })
}

fn script_value(page: &Page, script: &str) -> Value {
    page.script(script, json!([]))
}

/// Opens the page on the CPU with the tiny model and returns it with its
/// device line.
fn open_on_cpu(url: &str) -> (Page, String) {
    let page = Page::open(Gpu::NoWebGpu, url);
    page.wait_for_state("ready", LONG);
    let device = page.text("device").unwrap_or_default();
    (page, device)
}

/// Twelve greedy tokens on the page are the engine's.
fn assert_greedy_is_the_engines(page: &Page) {
    let prompt = "See you later, alligator";
    let settings = [
        ("strategy", "greedy"),
        ("prompt", prompt),
        ("max-new-tokens", "12"),
    ];
    let ids = generate(page, &settings);
    assert_eq!(ids, fixture().native().greedy(prompt, 12), "greedy ids");
}

#[test]
fn an_isolated_page_runs_the_cpu_on_a_team_of_web_workers() {
    let fixture = fixture();
    let build = threaded_build();
    assert!(
        build.is_some(),
        "dist/threads/ has no threaded build: `trunk build` makes it with scripts/page-threads, \
         which needs Debian's rustc-web, cargo-web, rust-web-src and rust-web-llvm \
         (`source scripts/tools.sh; install_threads_toolchain`)"
    );
    let url = fixture.isolated_page_url(&[("model", TINY), ("device", "cpu")]);
    let (page, device) = open_on_cpu(&url);
    assert_eq!(
        script_value(&page, "return self.crossOriginIsolated"),
        json!(true),
        "the page served with COOP and COEP is not cross-origin isolated"
    );
    let memory_shared = script_value(
        &page,
        "return window.wasmBindings && typeof SharedArrayBuffer === 'function' \
         && performance.getEntriesByType('resource').some(r => r.name.includes('/threads/app-'))",
    );
    assert_eq!(
        memory_shared,
        json!(true),
        "the isolated page did not load its threaded build ({build:?})"
    );
    let cores = script_value(&page, "return navigator.hardwareConcurrency")
        .as_u64()
        .unwrap_or(0);
    assert!(
        cores >= 2,
        "the browser reports {cores} cores: a team needs two to be tested"
    );
    let threads = cores.min(8);
    assert!(
        device.contains(&format!("cpu, {threads} threads")),
        "the device line says {device:?}, expected cpu on {threads} threads"
    );

    let native = fixture.native();
    for (prompt, new_tokens) in [("See you later, alligator", 12), (LONG_PROMPT, 8)] {
        let n = new_tokens.to_string();
        let settings = [
            ("strategy", "greedy"),
            ("prompt", prompt),
            ("max-new-tokens", n.as_str()),
        ];
        let ids = generate(&page, &settings);
        let prompt_tokens = native.encode(prompt).len();
        assert_eq!(
            ids,
            native.greedy(prompt, new_tokens),
            "greedy ids on {threads} threads after a {prompt_tokens}-token prompt"
        );
    }
    page.screenshot("cpu-threads");
}

#[test]
fn a_page_served_plainly_runs_the_cpu_on_one_thread() {
    let fixture = fixture();
    let url = fixture.page_url(&[("model", TINY), ("device", "cpu")]);
    let (page, device) = open_on_cpu(&url);
    assert_eq!(
        script_value(&page, "return self.crossOriginIsolated"),
        json!(false)
    );
    assert_eq!(device, format!("{TINY} on cpu"), "the device line");
    assert_greedy_is_the_engines(&page);
}

#[test]
fn an_isolated_page_runs_webgpu_from_its_threaded_build_too() {
    let fixture = fixture();
    let url = fixture.isolated_page_url(&[("model", TINY)]);
    let page = Page::open(Gpu::WebGpu, &url);
    page.wait_for_state("ready", LONG);
    assert_eq!(
        script_value(
            &page,
            "return performance.getEntriesByType('resource').some(r => r.name.includes('/threads/app-'))"
        ),
        json!(true),
        "the isolated page did not load its threaded build"
    );
    let device = page.text("device").unwrap_or_default();
    assert!(device.contains("wgpu"), "the device line says {device:?}");
    assert_greedy_is_the_engines(&page);
}
