//! Accessibility and layout, on one page load: a greedy run of 48 tokens
//! started from the keyboard moves nothing above the output (layout shift
//! below Web Vitals' 0.1); after a beam run, then a sampling run with the
//! logit lens open and a branch, axe-core finds no serious or critical
//! violation, Tab reaches every control with a visible focus, Space on a
//! focused bar's branch runs it, and at 1280×900 and a phone's 390×844 the
//! page has no sideways scroll and no controls or panels overlap.

use std::time::Instant;

use e2e::a11y::{self, ENTER, SPACE};
use e2e::mirror::TINY;
use e2e::page::{hook, Page, LONG};
use e2e::playground::{self, forward_count, generate};
use e2e::webdriver::Gpu;
use serde_json::json;

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);
/// Web Vitals' "good" Cumulative Layout Shift.
const GOOD_CLS: f64 = 0.1;

/// axe-core on the page as it is; fails on a serious or critical violation.
fn check_axe(page: &Page, when: &str, problems: &mut Vec<String>) {
    let violations = a11y::axe(page);
    for v in &violations {
        println!("axe, {when}: {v}");
    }
    problems.extend(
        violations
            .iter()
            .filter(|v| v.is_serious())
            .map(|v| format!("axe-core, {when}: {v}")),
    );
}

/// Tabs through the page; every control in the Tab order is reached and
/// shows its focus, and each of `hooks` is among them.
fn check_tabs(page: &Page, when: &str, hooks: &[&str], problems: &mut Vec<String>) {
    let walk = a11y::walk_tabs(page);
    println!("Tab, {when}: {} stops", walk.reached.len());
    let mut fail = |what: &str, list: &[String]| {
        if !list.is_empty() {
            problems.push(format!("{when}: {what}: {list:?}"));
        }
    };
    fail("positive tabindex", &walk.positive);
    fail("pointers the keyboard cannot reach", &walk.pointer_only);
    fail("Tab never reached", &walk.missed);
    fail("no visible focus", &walk.no_focus_style);
    let unreached: Vec<String> = hooks
        .iter()
        .filter(|h| !walk.reached.iter().any(|r| r == *h))
        .map(|h| h.to_string())
        .collect();
    fail("no Tab stop among", &unreached);
    if !unreached.is_empty() {
        println!("Tab, {when}: reached {:?}", walk.reached);
    }
}

/// No sideways scroll and no overlaps at both sizes; a screenshot of each.
fn check_layout(page: &Page, name: &str, problems: &mut Vec<String>) {
    for (label, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
        a11y::set_viewport(page, width, height);
        let layout = a11y::layout(page);
        page.script("window.scrollTo(0, 0)", json!([]));
        page.screenshot(&format!("a11y-{name}-{label}-top"));
        a11y::full_page_screenshot(page, &format!("a11y-{name}-{label}"), width, height);
        let at = format!("{name} at {width}×{height}");
        if layout.width != width as f64 {
            problems.push(format!("{at}: the viewport is {} px wide", layout.width));
        }
        if layout.overflow > 0.0 {
            problems.push(format!(
                "{at}: {} px of sideways scroll; too wide: {:?}",
                layout.overflow, layout.too_wide
            ));
        }
        problems.extend(layout.overlaps.iter().map(|o| format!("{at}: overlap {o}")));
    }
    a11y::set_viewport(page, DESKTOP.0, DESKTOP.1);
}

/// Sends `keys` to the first `testid` element (focusing it) and waits for a
/// run to end with status `done` after more forward passes.
fn run_by_keyboard(page: &Page, testid: &str, keys: &str) {
    let before = forward_count(page);
    let element = page
        .browser
        .find(&hook(testid))
        .unwrap_or_else(|e| panic!("finding {testid}: {e}"));
    page.browser
        .send_keys(&element, keys)
        .unwrap_or_else(|e| panic!("pressing {keys:?} on {testid}: {e}"));
    page.wait_for(
        |p| p.state() == "done" && forward_count(p) > before,
        LONG,
        &format!("a run after {keys:?} on {testid}"),
    );
}

#[test]
fn the_page_is_usable_by_keyboard_passes_axe_and_keeps_its_layout() {
    let start = Instant::now();
    let page = playground::open(
        Gpu::WebGpu,
        &[
            ("model", TINY),
            ("prompt", "The quick brown fox"),
            ("max_new_tokens", "48"),
        ],
    );
    a11y::set_viewport(&page, DESKTOP.0, DESKTOP.1);
    // Every problem found, reported together at the end.
    let mut problems = Vec::new();
    check_axe(&page, "loaded", &mut problems);

    // Enter on Generate runs; the tokens stream without moving the layout.
    a11y::start_shift_watch(&page, &hook("output"));
    run_by_keyboard(&page, "generate", ENTER);
    let shifts = a11y::read_shifts(&page);
    println!(
        "layout shift over a 48-token greedy run: {:.4} ({:.4} within 500 ms of the key), \
         output moved {:.1} px; shifts: {:?}",
        shifts.all, shifts.input, shifts.moved, shifts.worst
    );
    if shifts.all >= GOOD_CLS || shifts.moved > 1.0 {
        problems.push(format!(
            "layout shift {:.4} (good: < {GOOD_CLS}) while the tokens stream, the output \
             moved {:.1} px: {:?}",
            shifts.all, shifts.moved, shifts.worst
        ));
    }

    // A beam run: the beam tree and beams table.
    generate(
        &page,
        &[
            ("strategy", "beam"),
            ("num-beams", "3"),
            ("max-new-tokens", "5"),
        ],
    );
    check_axe(&page, "after a beam run", &mut problems);
    check_tabs(
        &page,
        "after a beam run",
        &["generate", "beam-node"],
        &mut problems,
    );
    check_layout(&page, "beam", &mut problems);

    // A sampling run, the lens opened, a branch run by Space.
    generate(
        &page,
        &[
            ("strategy", "sample"),
            ("max-new-tokens", "8"),
            ("seed", "7"),
        ],
    );
    page.click("lens-toggle");
    page.wait_for(|p| p.exists("lens"), LONG, "the logit lens's table");
    page.wait_for_state("done", LONG);
    run_by_keyboard(&page, "branch", SPACE);
    let force = page.script(
        "return new URL(location.href).searchParams.get('force')",
        json!([]),
    );
    assert!(
        force.as_str().is_some_and(|f| !f.is_empty()),
        "Space on a branch button runs the branch: force={force}"
    );
    page.wait_for(|p| p.exists("lens"), LONG, "the logit lens's table");
    page.wait_for_state("done", LONG);
    check_axe(
        &page,
        "after a sampling run and a branch, the lens open",
        &mut problems,
    );
    check_tabs(
        &page,
        "after a sampling run",
        &[
            "prompt",
            "strategy",
            "temperature",
            "generate",
            "token-chip",
            "timeline-point",
            "branch",
            "branch-entry",
            "prompt-token",
            "lens-toggle",
            "export-json",
        ],
        &mut problems,
    );
    check_layout(&page, "sample", &mut problems);
    assert!(
        problems.is_empty(),
        "accessibility and layout problems:\n  {}",
        problems.join("\n  ")
    );
    println!(
        "accessibility checks took {:.1} s",
        start.elapsed().as_secs_f64()
    );
}
