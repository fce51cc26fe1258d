//! Where the model runs: this browser's GPU or CPU, or a native `gpt2 serve`,
//! with the server's address and the token its links carry.

use super::parse_query;

/// Where the model runs: in the browser, or on a native `gpt2 serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The GPU, through WebGPU.
    WebGpu,
    /// candle on the CPU, inside WebAssembly (slow, but works everywhere).
    Cpu,
    /// The models a native `gpt2 serve` holds (gpt2-xl on CUDA, say), driven
    /// over a WebSocket; the strategies still run in the page.
    Server,
}

impl DeviceChoice {
    pub const ALL: [DeviceChoice; 3] = [
        DeviceChoice::WebGpu,
        DeviceChoice::Cpu,
        DeviceChoice::Server,
    ];

    /// The name in the URL (`device=`).
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::WebGpu => "webgpu",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Server => "server",
        }
    }

    /// The name for people (the engine picker).
    pub fn label(self) -> &'static str {
        match self {
            DeviceChoice::WebGpu => "this browser's GPU",
            DeviceChoice::Cpu => "this browser's CPU",
            DeviceChoice::Server => "a native server",
        }
    }

    /// The choice named `name`, if one is.
    pub fn parse(name: &str) -> Option<DeviceChoice> {
        DeviceChoice::ALL
            .into_iter()
            .find(|d| d.name() == name.trim())
    }
}

/// Where `gpt2 serve` listens unless told otherwise.
pub const DEFAULT_SERVER: &str = "ws://127.0.0.1:8765";

/// A `gpt2 serve` address as written (`ws://HOST:PORT` or `wss://...`),
/// without surrounding spaces or a trailing `/`.
pub fn server_address(value: &str) -> Result<String, String> {
    let address = value.trim().trim_end_matches('/');
    let rest = address
        .strip_prefix("ws://")
        .or_else(|| address.strip_prefix("wss://"))
        .ok_or("must start with ws:// or wss://, as gpt2 serve's ready line prints it")?;
    if rest.is_empty() || rest.contains(|c: char| c.is_whitespace() || c == '#') {
        return Err("must be ws://HOST:PORT, as gpt2 serve's ready line prints it".into());
    }
    Ok(address.to_string())
}

/// The token in a URL's fragment (`#token=...`, with or without the `#`),
/// where a link to a server carries it: a fragment never reaches a server's
/// log or a Referer.
pub fn token_from_fragment(fragment: &str) -> Option<String> {
    parse_query(fragment.trim_start_matches('#'))
        .into_iter()
        .find(|(key, value)| key == "token" && !value.trim().is_empty())
        .map(|(_, value)| value.trim().to_string())
}
