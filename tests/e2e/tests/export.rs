//! The run's timeline, export and reproduction on the page: the command
//! line `reproduce` shows, run as it is by a shell in the mirror's folder
//! (where the Hub repository's name is a model folder) with the built
//! `gpt2`, gives the page's ids, for greedy decoding and for seeded
//! sampling through a reordered chain; the timeline's points carry the
//! engine's probabilities and entropies and select their step; the
//! exported JSON is the command line's form and reads back equal.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::mirror::TINY;
use e2e::page::{hook, Page};
use e2e::playground::{self, generate, number};
use e2e::webdriver::Gpu;
use e2e::{fixture, repo_root};
use engine::decoding::{entropy, log_softmax, RunRecord, SamplingParams, Stage, Step};
use serde_json::json;

const PROMPT: &str = "See you";

/// Runs the page's `reproduce` command (with `--json --steps`) in the
/// mirror's folder, `target/release/gpt2` first on the `PATH`.
fn run_reproduce(page: &Page) -> (String, RunRecord) {
    let command = page
        .script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            json!([hook("reproduce")]),
        )
        .as_str()
        .expect("a reproduce element")
        .to_string();
    let release = repo_root().join("target/release");
    assert!(
        release.join("gpt2").is_file(),
        "{} is missing: build it with `cargo build --release -p engine`",
        release.join("gpt2").display()
    );
    let path = format!(
        "{}:{}",
        release.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} --json --steps"))
        .current_dir(&fixture().mirror)
        .env("PATH", path)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let record = RunRecord::from_json(&stdout)
        .unwrap_or_else(|e| panic!("{command} printed no run: {e}\n{stdout}"));
    (command, record)
}

/// The token steps' chosen candidates' raw probabilities.
fn chosen_probs(steps: &[Step]) -> Vec<f32> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Token {
                chosen, candidates, ..
            } => candidates
                .iter()
                .find(|c| c.id == *chosen)
                .map(|c| c.raw_prob),
            _ => None,
        })
        .collect()
}

/// The timeline's points: (step, probability, entropy if any).
fn points(page: &Page) -> Vec<(usize, f64, Option<f64>)> {
    page.data_of_all("timeline-point", Some("timeline"))
        .iter()
        .map(|d| {
            let entropy = d.get("entropy").map(|_| number(d, "entropy"));
            (number(d, "step") as usize, number(d, "prob"), entropy)
        })
        .collect()
}

/// The step of the selected token chip.
fn selected_chip(page: &Page) -> Option<String> {
    page.script(
        "const c = document.querySelector('[data-testid=\"token-chip\"].selected');\
         return c ? c.dataset.step : null;",
        json!([]),
    )
    .as_str()
    .map(String::from)
}

/// The exported file's text, read through the download link's URL.
fn exported(page: &Page) -> String {
    page.wait_for(
        |p| p.exists("export-json"),
        Duration::from_secs(10),
        "the export-json link after the run",
    );
    assert_eq!(
        page.attr("export-json", "download").as_deref(),
        Some("gpt2-run.json")
    );
    page.script(
        "const a = document.querySelector(arguments[0]);\
         const x = new XMLHttpRequest(); x.open('GET', a.href, false); x.send();\
         return x.responseText;",
        json!([hook("export-json")]),
    )
    .as_str()
    .expect("the exported file as text")
    .to_string()
}

/// Asserts that `got` and `want` agree within `tolerance`, naming `what`.
fn close(got: &[f64], want: &[f32], tolerance: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    let mut largest = 0.0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - *w as f64).abs();
        assert!(
            d < tolerance,
            "{what} at step {i}: page {g} vs {w} (|Δ| = {d:e})"
        );
        largest = largest.max(d);
    }
    println!("{what}: largest |Δ| {largest:e} over {} steps", got.len());
}

/// The timeline points' entropies, each there.
fn entropies(timeline: &[(usize, f64, Option<f64>)]) -> Vec<f64> {
    timeline
        .iter()
        .map(|p| {
            p.2.unwrap_or_else(|| panic!("a point without entropy: {p:?}"))
        })
        .collect()
}

/// The entropy of each of the engine's token steps, from its logits.
fn step_entropies(steps: &[Step]) -> Vec<f32> {
    steps
        .iter()
        .map(|s| match s {
            Step::Token {
                logits: Some(l), ..
            } => entropy(&log_softmax(l)),
            other => panic!("the engine's step has no logits: {other:?}"),
        })
        .collect()
}

#[test]
fn the_reproduce_command_gives_the_pages_ids_and_the_export_reads_back() {
    let native = fixture().native();
    let page = playground::open(Gpu::WebGpu, &[("model", TINY), ("prompt", PROMPT)]);

    // Greedy: the command's ids, and one point per step with the chosen
    // token's probability and the model's entropy (the page reads greedy's
    // whole rows).
    let ids = generate(&page, &[("strategy", "greedy"), ("max-new-tokens", "8")]);
    let (command, cli) = run_reproduce(&page);
    assert!(
        command.contains(" gpt2 generate --model tiny-gpt2 --prompt 'See you' --strategy greedy"),
        "{command}"
    );
    assert_eq!(cli.sequences[0].ids, ids, "{command} vs the page");
    let timeline = points(&page);
    assert_eq!(timeline.len(), ids.len(), "timeline points: {timeline:?}");
    let probs: Vec<f64> = timeline.iter().map(|p| p.1).collect();
    let want = chosen_probs(cli.steps.as_deref().unwrap_or_default());
    close(&probs, &want, 1e-5, "greedy's chosen probability");
    let greedy = SamplingParams {
        temperature: 0.0,
        ..SamplingParams::default()
    };
    let (_, steps) = native.sample(PROMPT, 8, &greedy, 0);
    close(
        &entropies(&timeline),
        &step_entropies(&steps),
        1e-4,
        "greedy's entropy",
    );

    // A point selects its step, by click and by Enter.
    let point = |step: usize| format!("[data-testid=\"timeline-point\"][data-step=\"{step}\"]");
    page.script(
        "document.querySelector(arguments[0]).dispatchEvent(new MouseEvent('click', {bubbles: true}));",
        json!([point(2)]),
    );
    assert_eq!(
        selected_chip(&page).as_deref(),
        Some("2"),
        "after a click on point 2"
    );
    page.script(
        "const p = document.querySelector(arguments[0]); p.focus();\
         p.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));",
        json!([point(4)]),
    );
    assert_eq!(
        selected_chip(&page).as_deref(),
        Some("4"),
        "after Enter on point 4"
    );
    page.scroll_to("timeline");
    page.screenshot("timeline-greedy");

    // Seeded sampling through a chain with top-p moved before top-k.
    page.set_input("strategy", "sample");
    let settings = [
        ("temperature", "0.8"),
        ("top-k", "20"),
        ("top-p", "0.9"),
        ("repetition-penalty", "1.3"),
        ("seed", "5"),
    ];
    for (testid, value) in settings {
        page.set_input(testid, value);
    }
    page.script(
        "document.querySelector('[data-testid=\"sampler-up\"][data-stage=\"top_p\"]').click();",
        json!([]),
    );
    let ids = generate(&page, &[]);
    let (command, cli) = run_reproduce(&page);
    for flag in [
        "--temperature 0.8",
        "--top-k 20",
        "--top-p 0.9",
        "--seed 5",
        "--samplers ",
    ] {
        assert!(command.contains(flag), "{flag} missing from {command}");
    }
    assert_eq!(cli.sequences[0].ids, ids, "{command} vs the page");
    let mut order = Stage::DEFAULT_ORDER.to_vec();
    let at = order.iter().position(|&s| s == Stage::TopP).unwrap();
    order.swap(at - 1, at);
    let params = SamplingParams {
        temperature: 0.8,
        top_k: Some(20),
        top_p: Some(0.9),
        repetition_penalty: Some(1.3),
        order,
        ..SamplingParams::default()
    };
    let (native_ids, steps) = native.sample(PROMPT, 8, &params, 5);
    assert_eq!(native_ids, ids, "the engine on the CPU vs the page");
    let timeline = points(&page);
    let probs: Vec<f64> = timeline.iter().map(|p| p.1).collect();
    close(
        &probs,
        &chosen_probs(&steps),
        1e-5,
        "the chosen probability",
    );
    close(
        &entropies(&timeline),
        &step_entropies(&steps),
        1e-4,
        "the entropy",
    );
    page.scroll_to("timeline");
    page.screenshot("timeline-sample");

    // The export: the command line's form, read back equal, the same steps.
    let text = exported(&page);
    let record = RunRecord::from_json(&text)
        .unwrap_or_else(|e| panic!("the exported file is no run: {e}\n{text}"));
    let again = RunRecord::from_json(&record.to_json().unwrap()).unwrap();
    assert_eq!(again, record, "the export written and read again");
    assert_eq!(record.sequences[0].ids, ids);
    assert_eq!(record.prompt_ids, native.encode(PROMPT));
    let page_steps = record.steps.as_deref().unwrap_or_default();
    let cli_steps = cli.steps.as_deref().unwrap_or_default();
    let exported_probs: Vec<f64> = chosen_probs(page_steps).iter().map(|&p| p as f64).collect();
    close(
        &exported_probs,
        &chosen_probs(cli_steps),
        1e-5,
        "exported vs gpt2's steps",
    );
    for key in ["new_tokens", "seconds", "prefill_seconds"] {
        assert!(
            record.stats.contains_key(key),
            "{key} missing: {:?}",
            record.stats
        );
    }
    page.scroll_to("reproduce");
    page.screenshot("export-sample");
    let file = repo_root().join("target/e2e-screenshots/export-sample.json");
    std::fs::write(Path::new(&file), &text).expect("keeping the exported file");
}
