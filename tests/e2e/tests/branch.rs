//! Branching on the page: a greedy run on the tiny checkpoint, then the
//! branch button of a bar not chosen at step 3: the branch's ids are greedy's
//! continuation from the forced prefix, as the engine on the CPU and
//! `gpt2 generate --force` give them; the URL holds the path; the branch
//! list reopens the run and the branch without a forward pass.

use e2e::fixture;
use e2e::mirror::TINY;
use e2e::page::{Page, LONG};
use e2e::playground::{self, forward_count, generate, token_ids};
use e2e::webdriver::Gpu;
use serde_json::json;

const PROMPT: &str = "See you";
const NEW_TOKENS: usize = 8;
/// The token position branched from (the third new token).
const STEP: usize = 2;

/// Clicks the first element matching `selector` (a CSS selector).
fn click(page: &Page, selector: &str) {
    let clicked = page.script(
        "const e = document.querySelector(arguments[0]); if (!e) return false; e.click(); return true;",
        json!([selector]),
    );
    assert_eq!(
        clicked,
        json!(true),
        "no element {selector} to click\n{}",
        page.report()
    );
}

/// Waits for the run a click started to end (status `done` after a forward
/// pass beyond `before`).
fn wait_done(page: &Page, before: u64, what: &str) {
    page.wait_for(
        |p| {
            assert_ne!(
                p.state(),
                "error",
                "{what}: the page reported an error\n{}",
                p.report()
            );
            p.state() == "done" && forward_count(p) > before
        },
        LONG,
        what,
    );
}

#[test]
fn a_branch_continues_greedily_from_the_forced_token_and_the_list_reopens_it() {
    let native = fixture().native();
    let plain = native.greedy(PROMPT, NEW_TOKENS);
    let max = NEW_TOKENS.to_string();
    let page = playground::open(
        Gpu::WebGpu,
        &[
            ("model", TINY),
            ("strategy", "greedy"),
            ("prompt", PROMPT),
            ("max_new_tokens", &max),
        ],
    );
    assert_eq!(
        generate(&page, &[]),
        plain,
        "the page's greedy ids vs the engine's"
    );

    // Step 3's chart, and the branch button of its first bar not chosen.
    click(
        &page,
        &format!("[data-testid=token-chip][data-step=\"{STEP}\"]"),
    );
    let branch = format!("[data-testid=step-chart] [data-testid=branch][data-step=\"{STEP}\"]");
    page.wait_for(
        |p| {
            p.script(
                "return !!document.querySelector(arguments[0]);",
                json!([branch]),
            ) == json!(true)
        },
        LONG,
        "a branch button on step 3's chart",
    );
    let forced: u32 = page
        .script(
            "return document.querySelector(arguments[0]).dataset.tokenId;",
            json!([branch]),
        )
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("the branch button's data-token-id");
    assert_ne!(forced, plain[STEP], "the chosen bar offers no branch");
    let before = forward_count(&page);
    click(&page, &branch);
    wait_done(&page, before, "the branch's run");
    let got = token_ids(&page);

    // Greedy from prompt + the prefix + the forced token, three ways.
    let mut context = native.encode(PROMPT);
    context.extend(&plain[..STEP]);
    context.push(forced);
    let mut want = plain[..STEP].to_vec();
    want.push(forced);
    want.extend(native.greedy_after(&context, NEW_TOKENS - STEP - 1));
    assert_eq!(
        got, want,
        "the branch's ids vs greedy after the forced prefix"
    );
    let path = [(STEP, forced)];
    assert_eq!(got, native.greedy_forced(PROMPT, NEW_TOKENS, &path));
    let force = format!("{STEP}:{forced}");
    if let Some(cli) = native.greedy_forced_by_the_command_line(PROMPT, NEW_TOKENS, &force) {
        assert_eq!(
            got, cli,
            "the branch's ids vs gpt2 generate --force {force}"
        );
    }
    let url = page.url();
    assert!(url.contains(&format!("force={STEP}%3A{forced}")), "{url}");

    // The list: the run, then the branch (current); each reopens as it was.
    let entries = page.data_of_all("branch-entry", Some("branch-list"));
    let paths: Vec<&str> = entries.iter().map(|e| e["force"].as_str()).collect();
    assert_eq!(paths, ["", force.as_str()], "{entries:?}");
    assert_eq!(entries[1]["current"], "true", "{entries:?}");
    page.scroll_to("branch-list");
    page.screenshot("branch");
    let passes = forward_count(&page);
    click(&page, "[data-testid=branch-entry][data-force=\"\"]");
    page.wait_for(|p| token_ids(p) == plain, LONG, "the run reopened");
    assert!(!page.url().contains("force="), "{}", page.url());
    click(
        &page,
        &format!("[data-testid=branch-entry][data-force=\"{force}\"]"),
    );
    page.wait_for(|p| token_ids(p) == want, LONG, "the branch reopened");
    assert_eq!(forward_count(&page), passes, "reopening ran a forward pass");
}
