//! The harness on its own, without the playground: the server's answers, a
//! trivial page driven in Chromium, and the two browsers' WebGPU (on in one,
//! off in the other), so that a failing page test is the page's failure.

use std::io::Read;
use std::thread;

use e2e::page::{Page, LONG};
use e2e::server::Server;
use e2e::webdriver::Gpu;
use serde_json::json;

const PAGE: &str = r#"<!doctype html>
<html><head><title>harness</title><link rel="stylesheet" href="style.css"></head>
<body>
  <div data-testid="status" data-state="ready">ready</div>
  <input data-testid="name" value="">
  <button data-testid="go">Go</button>
  <p data-testid="echo"></p>
  <script src="main.js"></script>
</body></html>"#;

const SCRIPT: &str = r#"
const status = document.querySelector('[data-testid="status"]');
const name = document.querySelector('[data-testid="name"]');
name.addEventListener('input', () => { status.dataset.state = 'typed'; });
document.querySelector('[data-testid="go"]').addEventListener('click', () => {
  setTimeout(() => {
    document.querySelector('[data-testid="echo"]').textContent = 'hello ' + name.value;
    status.dataset.state = 'done';
    console.log('clicked with', name.value);
  }, 300);
});
"#;

/// A site with the harness page and a mirror with one large file.
fn serve() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (site, mirror) = (dir.path().join("site"), dir.path().join("mirror"));
    std::fs::create_dir_all(&site).unwrap();
    std::fs::create_dir_all(mirror.join("owner/big")).unwrap();
    std::fs::write(site.join("index.html"), PAGE).unwrap();
    std::fs::write(site.join("main.js"), SCRIPT).unwrap();
    std::fs::write(site.join("style.css"), "body { font-family: sans-serif; }").unwrap();
    std::fs::write(site.join("app_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let big: Vec<u8> = (0..40u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(mirror.join("owner/big/model.safetensors"), &big).unwrap();
    (Server::start(&site, &mirror), dir)
}

#[test]
fn server_answers_with_types_lengths_and_404() {
    let (server, dir) = serve();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |path: &str| agent.get(format!("{}{path}", server.url())).call().unwrap();
    for (path, kind) in [
        ("/", "text/html; charset=utf-8"),
        ("/main.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/app_bg.wasm", "application/wasm"),
    ] {
        let answer = get(path);
        assert_eq!(answer.status(), 200, "GET {path}");
        assert_eq!(answer.headers()["content-type"], kind, "GET {path}");
        assert_eq!(
            answer.headers()["access-control-allow-origin"],
            "*",
            "GET {path}"
        );
    }
    let missing = get("/mirror/owner/none/resolve/main/config.json");
    assert_eq!(missing.status(), 404, "a missing file");

    // Four clients at once download the 40 MiB file in full.
    let path = "/mirror/owner/big/resolve/main/model.safetensors";
    let expected = std::fs::read(dir.path().join("mirror/owner/big/model.safetensors")).unwrap();
    thread::scope(|s| {
        let downloads: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let answer = get(path);
                    assert_eq!(answer.headers()["content-type"], "application/octet-stream");
                    let length: usize = answer.headers()["content-length"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    let mut body = Vec::new();
                    answer
                        .into_body()
                        .into_reader()
                        .read_to_end(&mut body)
                        .unwrap();
                    (length, body)
                })
            })
            .collect();
        for download in downloads {
            let (length, body) = download.join().unwrap();
            assert_eq!(length, expected.len(), "Content-Length of {path}");
            assert!(body == expected, "the body of {path} differs from the file");
        }
    });
    assert_eq!(server.requests(path), 4, "requests counted for {path}");
    assert_eq!(server.requests("/"), 1, "requests counted for /");
}

#[test]
fn harness_serves_a_page_and_drives_chromium() {
    let (server, _dir) = serve();
    let page = Page::open(Gpu::WebGpu, &format!("{}/?x=1", server.url()));
    assert_eq!(page.state(), "ready");
    page.set_input("name", "world");
    assert_eq!(page.attr("status", "data-state").as_deref(), Some("typed"));
    page.click("go");
    page.wait_for_state("done", LONG);
    assert_eq!(page.text("echo").as_deref(), Some("hello world"));
    let log = page.browser.console_log();
    assert!(
        log.iter()
            .any(|l| l.contains("clicked with") && l.contains("world")),
        "the console log lacks the page's message: {log:?}"
    );
    let shot = page.screenshot("harness");
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        shot.display()
    );
    assert_eq!(
        server.requests("/main.js"),
        1,
        "requests counted for /main.js"
    );
}

/// What `navigator.gpu` offers in a browser: "no navigator.gpu", "no adapter" or "adapter".
fn webgpu_in(gpu: Gpu, server: &Server) -> String {
    let page = Page::open(gpu, &server.url());
    let found = page.script(
        "if (!navigator.gpu) return 'no navigator.gpu';\
         return navigator.gpu.requestAdapter().then(a => a ? 'adapter' : 'no adapter');",
        json!([]),
    );
    found.as_str().unwrap_or_default().to_string()
}

#[test]
fn webgpu_is_on_in_one_browser_and_off_in_the_other() {
    let (server, _dir) = serve();
    assert_eq!(
        webgpu_in(Gpu::WebGpu, &server),
        "adapter",
        "Chromium with --enable-unsafe-webgpu"
    );
    let off = webgpu_in(Gpu::NoWebGpu, &server);
    assert!(
        off == "no navigator.gpu" || off == "no adapter",
        "Chromium without WebGPU: expected no navigator.gpu or no adapter, got {off}"
    );
}
