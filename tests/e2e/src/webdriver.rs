//! Headless Chromium through chromedriver, spoken to in WebDriver's HTTP
//! protocol: a chromedriver process of its own per browser, one session in it,
//! both ended when the [`Browser`] is dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Which browser to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gpu {
    /// WebGPU on (SwiftShader's adapter where there is no GPU).
    WebGpu,
    /// WebGPU off: `navigator.gpu` offers no adapter (Chromium 156 keeps
    /// `navigator.gpu` itself even with WebGPU disabled).
    NoWebGpu,
}

/// Chromium's flags, as in `engine/webdriver.json`, without WebGPU.
const ARGS: [&str; 9] = [
    "--headless=new",
    "--window-size=1280,1000",
    "--no-sandbox",
    "--disable-gpu-sandbox",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// A WebDriver failure, with the command that failed.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// An element reference of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

/// A chromedriver process with one Chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    agent: ureq::Agent,
    /// One browser at a time in a test process: WebGPU on SwiftShader shares
    /// the machine's cores, and tests time their waits.
    _turn: MutexGuard<'static, ()>,
}

static ONE_BROWSER: Mutex<()> = Mutex::new(());

impl Browser {
    /// Starts chromedriver (`$CHROMEDRIVER`, else `chromedriver` on PATH) and
    /// Chromium (`$CHROME_BIN`, else `chromium`), with console logging on.
    pub fn start(gpu: Gpu) -> Browser {
        // A test that failed while holding the turn poisons the lock; the turn is still free.
        let turn = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
        let driver_path = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("chromedriver"));
        let port = free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start chromedriver ({}: {e}); the end-to-end tests need Chromium \
                     and chromedriver: apt-get install chromium chromium-driver \
                     (or set CHROMEDRIVER and CHROME_BIN)",
                    driver_path.display()
                )
            });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            agent,
            _turn: turn,
        };
        browser.wait_until_ready();
        let session = browser
            .call("POST", "/session", Some(capabilities(gpu)))
            .unwrap_or_else(|e| panic!("creating a Chromium session: {e}"));
        let id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in the new session's answer: {session}"));
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    fn wait_until_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Ok(status) = self.call("GET", "/status", None) {
                if status["ready"] == true {
                    return;
                }
            }
            if let Ok(Some(exit)) = self.driver.try_wait() {
                panic!("chromedriver exited before it was ready: {exit}");
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("chromedriver at {} was not ready after 30 s", self.base);
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// One WebDriver command; returns the answer's `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let answer = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self.agent.post(&url).send_json(body.unwrap_or(json!({}))),
        };
        let mut answer = answer.map_err(|e| Error(format!("{method} {path}: {e}")))?;
        let status = answer.status();
        let text = answer
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| Error(format!("{method} {path}: reading the answer: {e}")))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| Error(format!("{method} {path}: {status}: not JSON ({e}): {text}")))?;
        let value = value["value"].clone();
        if !status.is_success() {
            return Err(Error(format!(
                "{method} {path}: {status}: {}: {}",
                value["error"].as_str().unwrap_or("error"),
                value["message"].as_str().unwrap_or_default()
            )));
        }
        Ok(value)
    }

    /// Opens `url` and waits for the document to load.
    pub fn navigate(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })))
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// The elements matching a CSS selector.
    pub fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        let found = self.call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        let list = found.as_array().cloned().unwrap_or_default();
        Ok(list
            .iter()
            .filter_map(|e| e[ELEMENT].as_str().map(|id| Element(id.to_string())))
            .collect())
    }

    /// The first element matching a CSS selector.
    pub fn find(&self, css: &str) -> Result<Element> {
        let found = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        found[ELEMENT]
            .as_str()
            .map(|id| Element(id.to_string()))
            .ok_or_else(|| Error(format!("no element reference for {css}: {found}")))
    }

    /// An attribute of an element (`None` when it has none).
    pub fn attribute(&self, element: &Element, name: &str) -> Result<Option<String>> {
        let value = self.call(
            "GET",
            &format!("/element/{}/attribute/{name}", element.0),
            None,
        )?;
        Ok(value.as_str().map(str::to_string))
    }

    /// The rendered text of an element.
    pub fn text(&self, element: &Element) -> Result<String> {
        let value = self.call("GET", &format!("/element/{}/text", element.0), None)?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// Clicks an element as a user would (scrolled into view, at its centre).
    pub fn click(&self, element: &Element) -> Result<()> {
        self.call("POST", &format!("/element/{}/click", element.0), None)
            .map(drop)
    }

    /// Types `text` into an element as keystrokes (WebDriver's key codes, e.g.
    /// `"\u{E007}"` for Enter), focusing it first.
    pub fn send_keys(&self, element: &Element, text: &str) -> Result<()> {
        self.call(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        )
        .map(drop)
    }

    /// Presses and releases one key (a WebDriver key code such as `"\u{E004}"`,
    /// Tab) wherever the focus is.
    pub fn press_key(&self, key: &str) -> Result<()> {
        let actions = json!({"actions": [{
            "type": "key",
            "id": "keyboard",
            "actions": [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}],
        }]});
        self.call("POST", "/actions", Some(actions)).map(drop)
    }

    /// Runs `script` as a function body with `args`; a returned promise is awaited.
    pub fn execute(&self, script: &str, args: Value) -> Result<Value> {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Resizes the window to `width` × `height` CSS pixels (a phone's 390 × 844).
    pub fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .map(drop)
    }

    /// The viewport as PNG bytes.
    pub fn screenshot_png(&self) -> Result<Vec<u8>> {
        use base64::Engine as _;
        let value = self.call("GET", "/screenshot", None)?;
        let text = value.as_str().unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| Error(format!("the screenshot is not base64: {e}")))
    }

    /// The browser console's entries since the last call, one line each.
    pub fn console_log(&self) -> Vec<String> {
        match self.call("POST", "/se/log", Some(json!({"type": "browser"}))) {
            Ok(entries) => entries
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|e| format!("{} {}", e["level"].as_str().unwrap_or("?"), e["message"]))
                .collect(),
            Err(e) => vec![format!("(no console log: {e})")],
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session first, so that Chromium exits; then its driver.
        if self.base.contains("/session/") {
            let _ = self.call("DELETE", "", None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn capabilities(gpu: Gpu) -> Value {
    let mut args: Vec<&str> = ARGS.to_vec();
    match gpu {
        Gpu::WebGpu => args.push("--enable-unsafe-webgpu"),
        Gpu::NoWebGpu => args.extend(["--disable-gpu", "--disable-features=WebGPU"]),
    }
    let binary = std::env::var("CHROME_BIN").unwrap_or_else(|_| "chromium".into());
    let binary = if binary.contains('/') {
        binary
    } else {
        which(&binary).unwrap_or(binary)
    };
    json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": binary, "args": args},
        "goog:loggingPrefs": {"browser": "ALL"},
    }}})
}

/// The full path of a program on PATH (chromedriver wants a path, not a name).
fn which(program: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}
