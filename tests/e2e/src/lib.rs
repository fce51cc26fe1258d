//! End-to-end tests of the playground page: the page built into `dist/` (by
//! `trunk build --release --offline`) is served with a Hub mirror of tiny
//! random checkpoints, opened in headless Chromium through chromedriver, and
//! what it shows is checked against the engine run natively on the CPU.
//!
//! Run with `cargo test -p e2e --release -- --test-threads 1` once `dist/` is
//! built. Needs Chromium and chromedriver (`apt-get install chromium
//! chromium-driver`; `CHROME_BIN` and `CHROMEDRIVER` name others). Screenshots
//! are saved in `target/e2e-screenshots/`, the mirror in `target/e2e-mirror/`.
//!
//! - [`a11y`]: axe-core, the Tab order, overlaps and layout shifts;
//! - [`server`]: the static HTTP server (page and mirror);
//! - [`mirror`]: the mirrored model folders;
//! - [`webdriver`]: Chromium through WebDriver's HTTP protocol;
//! - [`page`]: test hooks, waits and screenshots of any page;
//! - [`playground`]: the playground page's contract (`CONTRACT.md`) as calls;
//! - [`expected`]: the native reference;
//! - [`native_server`]: `gpt2 serve` and `gpt2 generate` on the mirror's folders.

pub mod a11y;
pub mod expected;
pub mod mirror;
pub mod native_server;
pub mod page;
pub mod playground;
pub mod server;
pub mod webdriver;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use expected::Native;
use server::Server;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .expect("tests/e2e lies two folders below the root")
        .to_path_buf()
}

/// What the page tests share: the server and the mirror.
pub struct Fixture {
    pub server: Server,
    pub mirror: PathBuf,
    site: PathBuf,
    isolated: OnceLock<Server>,
}

/// The shared fixture, made on first use. Fails when the page is not built.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = repo_root();
        let site = root.join("dist");
        assert!(
            site.join("index.html").is_file(),
            "{} is missing: build the page first with `trunk build --release --offline` \
             at the repository's root",
            site.join("index.html").display()
        );
        let mirror = root.join("target/e2e-mirror");
        mirror::build(&mirror);
        Fixture {
            server: Server::start(&site, &mirror),
            mirror,
            site,
            isolated: OnceLock::new(),
        }
    })
}

impl Fixture {
    /// The page's URL with `params` and the mirror as its Hub.
    pub fn page_url(&self, params: &[(&str, &str)]) -> String {
        Self::url_on(&self.server, params)
    }

    /// The same page, and mirror, served cross-origin isolated: the page
    /// loads its threaded build.
    pub fn isolated_page_url(&self, params: &[(&str, &str)]) -> String {
        let server = self
            .isolated
            .get_or_init(|| Server::start_isolated(&self.site, &self.mirror));
        Self::url_on(server, params)
    }

    fn url_on(server: &Server, params: &[(&str, &str)]) -> String {
        let hub = server.hub_url();
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().copied().chain([("hub", hub.as_str())]))
            .finish();
        format!("{}/?{query}", server.url())
    }

    /// The page's URL with `params` and `fragment` (after a `#`).
    pub fn page_url_with_fragment(&self, params: &[(&str, &str)], fragment: &str) -> String {
        format!("{}#{fragment}", self.page_url(params))
    }

    /// The mirror's tiny model, loaded natively on the CPU.
    pub fn native(&self) -> Native {
        Native::load(&self.mirror.join(mirror::TINY))
    }
}
