//! The page's speed figures: the last run's prefill and decode tokens/s in
//! the status line, and `?bench=1`'s fixed greedy benchmark on the loaded
//! model, with the adapter, the kernel set and the GPU time per kernel kind
//! where the browser gives timestamp queries.

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::fixture;
use e2e::mirror::{self, GPT2_SHAPED, TINY};
use e2e::page::{Page, LONG};
use e2e::playground::{self, forward_count, generate, number};
use e2e::webdriver::Gpu;

/// A positive, finite `data-*` number of `data` (`key` in dataset's camel case).
fn positive(data: &BTreeMap<String, String>, key: &str) -> f64 {
    let x = number(data, key);
    assert!(
        x.is_finite() && x > 0.0,
        "dataset.{key}={x}: expected a positive number, among {data:?}"
    );
    x
}

#[test]
fn a_run_shows_its_decode_and_prefill_speed() {
    let page = playground::open(Gpu::WebGpu, &[("model", TINY)]);
    assert!(
        !page.exists("run-speed"),
        "run-speed is shown before any run"
    );
    let ids = generate(
        &page,
        &[
            ("strategy", "greedy"),
            ("prompt", "See you later, alligator"),
            ("max-new-tokens", "16"),
        ],
    );
    assert_eq!(ids.len(), 16, "greedy ids: {ids:?}");
    let speed = page.data_of_all("run-speed", None);
    assert_eq!(speed.len(), 1, "run-speed elements after a run: {speed:?}");
    let decode = positive(&speed[0], "decodeTps");
    let prefill = positive(&speed[0], "prefillTps");
    let text = page.text("run-speed").unwrap_or_default();
    assert!(
        text.contains("tokens/s"),
        "run-speed's text says no tokens/s: {text:?}"
    );
    page.screenshot("run-speed");
    println!("run-speed: decode {decode:.1} tokens/s, prefill {prefill:.1} tokens/s ({text})");
}

#[test]
fn bench_runs_greedy_on_the_loaded_model_and_says_how_to_report() {
    let url = fixture().page_url(&[("model", TINY), ("bench", "1")]);
    let page = Page::open(Gpu::WebGpu, &url);
    page.wait_for(
        |p| {
            let state = p.attr("bench", "data-state").unwrap_or_default();
            assert_ne!(
                state,
                "error",
                "the benchmark failed: {:?}\n{}",
                p.text("bench"),
                p.report()
            );
            state == "done"
        },
        LONG,
        "bench's data-state done",
    );
    page.wait_for_state("ready", LONG);
    page.scroll_to("bench");
    page.screenshot("bench");

    let bench = &page.data_of_all("bench", None)[0];
    let decode = positive(bench, "decodeTps");
    let prefill = positive(bench, "prefillTps");
    let device = bench.get("device").cloned().unwrap_or_default();
    assert!(
        device.starts_with("wgpu: "),
        "bench's data-device: {device:?}"
    );
    let kernels = bench.get("kernels").cloned().unwrap_or_default();
    assert!(
        kernels == "gpu" || kernels == "emulated",
        "bench's data-kernels: {kernels:?}"
    );
    let text = page.text("bench").unwrap_or_default();
    assert!(
        text.contains(device.trim_start_matches("wgpu: ")) && text.contains(&kernels),
        "the panel names neither the adapter nor the kernel set:\n{text}"
    );

    let rows = page.data_of_all("bench-kernel", Some("bench"));
    let timestamps = bench.get("timestamps").map(String::as_str);
    if timestamps == Some("true") {
        assert!(!rows.is_empty(), "timestamps, but no bench-kernel rows");
        for row in &rows {
            assert!(
                row.get("kind").is_some_and(|k| !k.is_empty()),
                "a bench-kernel row without data-kind: {row:?}"
            );
            let ms = number(row, "msPerToken");
            assert!(ms.is_finite() && ms >= 0.0, "data-ms-per-token: {row:?}");
            if let Some(gb) = row.get("gbPerS") {
                let gb: f64 = gb.parse().expect("data-gb-per-s is a number");
                assert!(gb.is_finite() && gb > 0.0, "data-gb-per-s: {row:?}");
            }
        }
        let total: f64 = rows.iter().map(|r| number(r, "msPerToken")).sum();
        assert!(
            total > 0.0,
            "the kernels' GPU time per token sums to 0: {rows:?}"
        );
    } else {
        assert_eq!(
            timestamps,
            Some("false"),
            "bench's data-timestamps: {bench:?}"
        );
        assert!(
            rows.is_empty(),
            "no timestamps, yet bench-kernel rows: {rows:?}"
        );
        let line = page.text("bench-no-timestamps").unwrap_or_default();
        assert!(
            line.contains("timestamp queries"),
            "no timestamps, and bench-no-timestamps says {line:?}"
        );
    }

    // 4 warm-up passes and 3 runs of 64 tokens, at least.
    let passes = forward_count(&page);
    assert!(
        passes >= 4 + 3 * 64,
        "forward passes after the benchmark: {passes}"
    );
    let report = page.values("bench-report");
    assert_eq!(report.len(), 1, "bench-report textareas: {report:?}");
    for needle in [
        TINY,
        "decode",
        "prefill",
        "tokens/s",
        "32 prompt tokens",
        "64 new tokens",
    ] {
        assert!(
            report[0].contains(needle),
            "bench-report lacks {needle:?}:\n{}",
            report[0]
        );
    }
    assert!(
        text.contains("To report these figures"),
        "the panel does not say how to report:\n{text}"
    );
    assert!(
        page.url().contains("bench=1"),
        "the address lost bench=1: {}",
        page.url()
    );
    println!(
        "bench: decode {decode:.1} tokens/s, prefill {prefill:.1} tokens/s on {device} \
         (adapter {:?}, {kernels} kernels), timestamps {timestamps:?}, kernels {rows:?}\n{}",
        bench.get("adapter"),
        report[0]
    );
}

#[test]
fn bench_on_the_cpu_has_no_kernels_to_time() {
    let url = fixture().page_url(&[("model", TINY), ("device", "cpu"), ("bench", "1")]);
    let page = Page::open(Gpu::WebGpu, &url);
    page.wait_for(
        |p| {
            let state = p.attr("bench", "data-state").unwrap_or_default();
            assert_ne!(state, "error", "the benchmark failed\n{}", p.report());
            state == "done"
        },
        LONG,
        "bench's data-state done",
    );
    let bench = &page.data_of_all("bench", None)[0];
    let decode = positive(bench, "decodeTps");
    let prefill = positive(bench, "prefillTps");
    assert_eq!(
        bench.get("device").map(String::as_str),
        Some("cpu"),
        "{bench:?}"
    );
    assert_eq!(
        bench.get("kernels"),
        None,
        "data-kernels on the CPU: {bench:?}"
    );
    assert_eq!(bench.get("timestamps").map(String::as_str), Some("false"));
    assert_eq!(
        page.count("bench-kernel"),
        0,
        "bench-kernel rows on the CPU"
    );
    let line = page.text("bench-no-timestamps").unwrap_or_default();
    assert!(
        line.contains("CPU"),
        "bench-no-timestamps on the CPU says {line:?}"
    );
    println!("bench on the CPU: decode {decode:.1} tokens/s, prefill {prefill:.1} tokens/s");
}

/// The CPU fallback's speed on a model of gpt2's shape (124M parameters,
/// 500 MB of f32 weights): `?device=cpu&bench=1` on the seeded checkpoint
/// `random_checkpoint DIR --shape gpt2` writes. Ignored in the suite (it
/// writes that checkpoint into the mirror, loads it into the page and decodes
/// some 200 tokens on the CPU inside WebAssembly); run it with
/// `cargo test -p e2e --release --test speed -- --ignored --nocapture cpu_fallback`.
#[test]
#[ignore = "a 500 MB gpt2-shaped model on the CPU inside WebAssembly"]
fn cpu_fallback_speed_on_a_gpt2_shaped_model() {
    let fixture = fixture();
    mirror::build_gpt2_shaped(&fixture.mirror);
    let url = fixture.page_url(&[("model", GPT2_SHAPED), ("device", "cpu"), ("bench", "1")]);
    let (decode, prefill, device) = cpu_bench(&url);
    assert_eq!(device, "cpu");
    println!(
        "the CPU fallback on {GPT2_SHAPED} (gpt2's shape): decode {decode:.2} tokens/s, \
         prefill {prefill:.2} tokens/s"
    );
}

/// The same on the page's threaded build (served cross-origin isolated)
/// against its plain one, alternated `GPT2_E2E_RUNS` times (3 unless told):
/// `cargo test -p e2e --release --test speed -- --ignored --nocapture cpu_threads`.
#[test]
#[ignore = "a 500 MB gpt2-shaped model on the CPU inside WebAssembly, several times"]
fn cpu_threads_speed_on_a_gpt2_shaped_model() {
    let fixture = fixture();
    mirror::build_gpt2_shaped(&fixture.mirror);
    let params = [("model", GPT2_SHAPED), ("device", "cpu"), ("bench", "1")];
    let runs: usize = std::env::var("GPT2_E2E_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let (mut plain, mut threaded) = (Vec::new(), Vec::new());
    let mut threaded_device = String::new();
    for run in 1..=runs {
        let (decode, prefill, device) = cpu_bench(&fixture.page_url(&params));
        println!("run {run}, {device}: decode {decode:.2} tokens/s, prefill {prefill:.2}");
        plain.push((decode, prefill));
        let (decode, prefill, device) = cpu_bench(&fixture.isolated_page_url(&params));
        println!("run {run}, {device}: decode {decode:.2} tokens/s, prefill {prefill:.2}");
        threaded.push((decode, prefill));
        threaded_device = device;
    }
    let median = |v: &[(f64, f64)], pick: fn(&(f64, f64)) -> f64| {
        let mut x: Vec<f64> = v.iter().map(pick).collect();
        x.sort_by(f64::total_cmp);
        x[x.len() / 2]
    };
    let (d1, p1) = (median(&plain, |r| r.0), median(&plain, |r| r.1));
    let (dn, pn) = (median(&threaded, |r| r.0), median(&threaded, |r| r.1));
    println!(
        "medians of {runs}: one thread decode {d1:.2} tokens/s, prefill {p1:.2}; \
         {threaded_device}: decode {dn:.2} ({:.2}×), prefill {pn:.2} ({:.2}×)",
        dn / d1,
        pn / p1
    );
}

/// Runs `?bench=1` at `url` on the CPU; its decode and prefill tokens/s and
/// its device line.
fn cpu_bench(url: &str) -> (f64, f64, String) {
    let page = Page::open(Gpu::NoWebGpu, url);
    page.wait_for(
        |p| {
            let state = p.attr("bench", "data-state").unwrap_or_default();
            assert_ne!(state, "error", "the benchmark failed\n{}", p.report());
            state == "done"
        },
        Duration::from_secs(30 * 60),
        "bench's data-state done",
    );
    let bench = &page.data_of_all("bench", None)[0];
    let device = bench.get("device").cloned().unwrap_or_default();
    let decode = positive(bench, "decodeTps");
    let prefill = positive(bench, "prefillTps");
    println!("{}", page.values("bench-report").join("\n"));
    (decode, prefill, device)
}
