//! The page on a native `gpt2 serve --device cpu`, started here on the
//! mirror's tiny checkpoints: the page's engine runs every strategy against
//! the server's models over a WebSocket and gets the ids `gpt2 generate`
//! prints for the same folders; the chart redraws from the server's logits
//! without a pass; the token never enters the page's address.

use e2e::fixture;
use e2e::mirror::{DRAFT, TINY};
use e2e::native_server::{generate_ids, NativeServer};
use e2e::page::{Page, LONG};
use e2e::playground::{bars, forward_count, generate};
use e2e::webdriver::Gpu;
use serde_json::json;
use std::time::Duration;

const PROMPT: &str = "See you";

/// A strategy's name, its settings on the page, and `gpt2 generate`'s flags for the same run.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Vec<&'a str>);

#[test]
fn the_page_on_a_native_server_matches_the_command_line() {
    let fx = fixture();
    let (tiny, draft) = (fx.mirror.join(TINY), fx.mirror.join(DRAFT));
    let server = NativeServer::start(&tiny, Some(&draft));
    let (tiny_name, draft_name) = (tiny.to_str().unwrap(), draft.to_str().unwrap());
    let url = fx.page_url_with_fragment(
        &[
            ("device", "server"),
            ("server", &server.url),
            ("model", tiny_name),
            ("second", draft_name),
        ],
        &format!("token={}", server.token),
    );
    let page = Page::open(Gpu::WebGpu, &url);
    page.wait_for_state("ready", LONG);
    let device = page.text("device").unwrap_or_default();
    assert!(
        device.contains(&server.url) && device.contains("cpu"),
        "the device line names the server and its device: {device:?}"
    );
    let address = page.url();
    assert!(
        address.contains("device=server") && address.contains("server=ws"),
        "the address holds the server: {address}"
    );
    assert!(
        !address.contains(&server.token) && !address.contains("token"),
        "the token left the address: {address}"
    );
    let listed = page.script(
        "return [...document.querySelectorAll('[data-testid=model] option')].map(o => o.value)",
        json!([]),
    );
    assert_eq!(
        listed,
        json!([tiny_name, draft_name]),
        "the model picker lists the server's models"
    );
    page.set_input("prompt", PROMPT);

    let cases: [Case; 7] = [
        (
            "greedy",
            &[("strategy", "greedy"), ("max-new-tokens", "10")],
            vec!["--strategy", "greedy", "--max-new-tokens", "10"],
        ),
        (
            "beam",
            &[
                ("strategy", "beam"),
                ("num-beams", "3"),
                ("max-new-tokens", "6"),
            ],
            vec![
                "--strategy",
                "beam",
                "--num-beams",
                "3",
                "--max-new-tokens",
                "6",
            ],
        ),
        (
            "contrastive",
            &[("strategy", "contrastive"), ("max-new-tokens", "6")],
            vec![
                "--strategy",
                "contrastive",
                "--amateur",
                draft_name,
                "--max-new-tokens",
                "6",
            ],
        ),
        (
            "speculative",
            &[
                ("strategy", "speculative"),
                ("temperature", "1"),
                ("seed", "3"),
                ("gamma", "3"),
                ("max-new-tokens", "8"),
            ],
            vec![
                "--strategy",
                "speculative",
                "--draft",
                draft_name,
                "--gamma",
                "3",
                "--sample",
                "--seed",
                "3",
                "--max-new-tokens",
                "8",
            ],
        ),
        // Hidden states over the socket: the documented defaults.
        (
            "contrastive search",
            &[("strategy", "contrastive-search"), ("max-new-tokens", "6")],
            vec!["--strategy", "contrastive-search", "--max-new-tokens", "6"],
        ),
        (
            "DoLa",
            &[("strategy", "dola"), ("max-new-tokens", "6")],
            vec!["--strategy", "dola", "--max-new-tokens", "6"],
        ),
        // Last: its chart is redrawn below.
        (
            "sample",
            &[
                ("strategy", "sample"),
                ("temperature", "0.8"),
                ("top-k", "20"),
                ("seed", "7"),
                ("max-new-tokens", "8"),
            ],
            vec![
                "--strategy",
                "sample",
                "--temperature",
                "0.8",
                "--top-k",
                "20",
                "--seed",
                "7",
                "--max-new-tokens",
                "8",
            ],
        ),
    ];
    for (name, settings, args) in cases {
        let ids = generate(&page, settings);
        let expected = generate_ids(&tiny, PROMPT, &args);
        assert_eq!(
            ids, expected,
            "{name} on the server through the page vs gpt2 generate {args:?}"
        );
    }
    page.screenshot("native-server");

    // The chart redraws from the logits the server sent: no new pass.
    let passes = forward_count(&page);
    let before = bars(&page);
    page.set_input("temperature", "0.4");
    page.wait_for(
        |p| bars(p) != before,
        Duration::from_secs(10),
        "bars redrawn at temperature 0.4",
    );
    assert_eq!(
        forward_count(&page),
        passes,
        "forward passes after moving a slider on the server's logits"
    );
}
