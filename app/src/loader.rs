//! Loading a model from the Hub (or a mirror with its layout) into the page:
//! config, tokenizer and weights fetched with progress, checked, and uploaded
//! to the GPU tensor by tensor.

use engine::backend::{Device, Precision};
use engine::config::Gpt2Config;
use engine::loading::{self, check_vocabulary, is_bundled};
use engine::tokenizer::Tokenizer;
use engine::weights::SafetensorsFile;
use engine::Error;
use leptos::prelude::*;

use crate::fetch::{fetch_bytes, forget, read_file, Limit, Progress};
use crate::settings::{DeviceChoice, Settings};
use crate::state::{AppState, FileProgress, Loaded};
use crate::webgpu;

/// Why a load failed.
pub enum LoadError {
    /// The browser has no usable WebGPU.
    NoWebGpu(String),
    /// Anything else, in words.
    Other(String),
}

/// Where a model's files come from.
pub enum Source {
    /// A repository of the Hub, or of a mirror with its URL layout.
    Hub { hub: String, repo: String },
    /// One of the bundled models, served with the page (`models/{name}/`).
    Bundled { name: String },
    /// A folder on the user's disk, by file name.
    Local {
        name: String,
        files: Vec<web_sys::File>,
    },
}

impl Source {
    /// Repository `repo` of the hub at `hub`.
    pub fn hub(hub: &str, repo: &str) -> Source {
        Source::Hub {
            hub: hub.trim_end_matches('/').to_string(),
            repo: repo.to_string(),
        }
    }

    /// The model `name` of the settings: a bundled one from the page's own
    /// server, any other from the hub at `hub`.
    pub fn named(hub: &str, name: &str) -> Source {
        if is_bundled(name) {
            Source::Bundled { name: name.into() }
        } else {
            Source::hub(hub, name)
        }
    }

    /// The model's name, for people and progress entries.
    pub fn name(&self) -> &str {
        match self {
            Source::Hub { repo, .. } => repo,
            Source::Bundled { name } | Source::Local { name, .. } => name,
        }
    }

    /// Where `file` is, for messages and downloads.
    fn location(&self, file: &str) -> String {
        match self {
            Source::Hub { hub, repo } => format!("{hub}/{repo}/resolve/main/{file}"),
            Source::Bundled { name } => bundled_url(name, file),
            Source::Local { name, .. } => format!("{name}/{file}"),
        }
    }

    /// Forgets a cached copy of `file` found broken.
    async fn forget(&self, file: &str) {
        if let Source::Hub { .. } = self {
            forget(&self.location(file)).await;
        }
    }
}

/// The address of a bundled model's file: `models/{name}/{file}` beside the page.
fn bundled_url(name: &str, file: &str) -> String {
    let path = format!("models/{name}/{file}");
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .and_then(|page| web_sys::Url::new_with_base(&path, &page).ok())
        .map(|url| url.href())
        .unwrap_or(path)
}

/// The Hugging Face Hub: fetched from without asking.
const HF_HUB: &str = "https://huggingface.co";

/// The most a `config.json` may weigh (GPT-2's is under 1 KB).
const CONFIG_LIMIT: Limit = Limit {
    bytes: 1 << 20,
    why: "a config.json can reasonably be",
};
/// The most a `tokenizer.json` may weigh (GPT-2's is 1.4 MB).
const TOKENIZER_LIMIT: Limit = Limit {
    bytes: 64 << 20,
    why: "a tokenizer.json can reasonably be",
};
/// The most of one file this page can hold: a WebAssembly memory is at most
/// 4 GiB, and the page needs some of it besides.
const MEMORY_LIMIT: u64 = (4 << 30) - (256 << 20);

/// Whether the page fetches from `hub` without asking: the Hugging Face Hub,
/// or the page's own origin (a mirror beside it).
pub fn trusted_hub(hub: &str, page_origin: &str) -> bool {
    let hub = hub.trim_end_matches('/');
    let within =
        |base: &str| !base.is_empty() && (hub == base || hub.starts_with(&format!("{base}/")));
    within(HF_HUB) || within(page_origin)
}

/// The most bytes a `model.safetensors` of `config`'s shape can have: every
/// parameter in f32, an untied `lm_head`, the causal-mask buffers older
/// checkpoints keep (`n_positions²` per layer), and room for the header;
/// never more than the page's memory holds.
pub fn weights_limit(config: &Gpt2Config) -> Limit {
    let (layers, positions) = (config.n_layer as u64, config.n_positions as u64);
    let numbers = (config.num_params() as u64)
        .saturating_add((config.vocab_size as u64).saturating_mul(config.n_embd as u64))
        .saturating_add(layers.saturating_mul(positions).saturating_mul(positions));
    let bytes = numbers.saturating_mul(4).saturating_add(1 << 20);
    if bytes > MEMORY_LIMIT {
        Limit {
            bytes: MEMORY_LIMIT,
            why: "this page's WebAssembly memory can hold",
        }
    } else {
        Limit {
            bytes,
            why: "a checkpoint of this config.json's shape can be",
        }
    }
}

/// Asks the user before anything is fetched from a hub the page does not
/// know (a shared link can name any host); asks once per hub.
fn confirm_hub(hub: &str) -> Result<(), LoadError> {
    thread_local! {
        static CONFIRMED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let window = web_sys::window().ok_or_else(|| LoadError::Other("no window".into()))?;
    let origin = window.location().origin().unwrap_or_default();
    if trusted_hub(hub, &origin) || CONFIRMED.with(|c| c.borrow().iter().any(|h| h == hub)) {
        return Ok(());
    }
    let question = format!(
        "This link loads the model from {hub}, which is not the Hugging Face Hub.\n\nDownload model files from {hub}?"
    );
    if window.confirm_with_message(&question).unwrap_or(false) {
        CONFIRMED.with(|c| c.borrow_mut().push(hub.to_string()));
        Ok(())
    } else {
        Err(LoadError::Other(format!(
            "not loaded: fetching from {hub} was declined (remove hub= from the address to use the Hugging Face Hub)"
        )))
    }
}

/// Fetches, checks and loads `repo` onto the device `settings` name.
pub async fn load_model(
    state: AppState,
    settings: &Settings,
    source: &Source,
) -> Result<Loaded, LoadError> {
    if let Source::Hub { hub, .. } = source {
        confirm_hub(hub)?;
    }
    if settings.device == DeviceChoice::WebGpu {
        webgpu::check().await.map_err(LoadError::NoWebGpu)?;
    }
    let repo = source.name();
    let config_url = source.location("config.json");
    let config_bytes = fetch_tracked(state, source, "config.json", CONFIG_LIMIT)
        .await
        .map_err(LoadError::Other)?;
    let config = std::str::from_utf8(&config_bytes)
        .map_err(|_| format!("{config_url} is not text: is this a GPT-2 model repository?"))
        .and_then(|t| Gpt2Config::from_json(t).map_err(|e| format!("{config_url}: {e}")));
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            source.forget("config.json").await;
            return Err(LoadError::Other(e));
        }
    };
    let tokenizer_url = source.location("tokenizer.json");
    let tokenizer_bytes = fetch_tracked(state, source, "tokenizer.json", TOKENIZER_LIMIT)
        .await
        .map_err(LoadError::Other)?;
    let tokenizer = match Tokenizer::from_bytes(&tokenizer_bytes) {
        Ok(t) => t,
        Err(e) => {
            source.forget("tokenizer.json").await;
            return Err(LoadError::Other(format!("{tokenizer_url}: {e}")));
        }
    };
    drop(tokenizer_bytes);
    // Checked before the weights are fetched.
    check_vocabulary(&config, &tokenizer).map_err(|e| LoadError::Other(format!("{repo}: {e}")))?;
    let weights_url = source.location("model.safetensors");
    let weights = fetch_tracked(state, source, "model.safetensors", weights_limit(&config))
        .await
        .map_err(LoadError::Other)?;
    let device = match settings.device {
        DeviceChoice::WebGpu => Device::Wgpu(Default::default()),
        DeviceChoice::Cpu => {
            crate::threads::start_cpu_team()
                .await
                .map_err(LoadError::Other)?;
            Device::Cpu
        }
        DeviceChoice::Server => {
            return Err(LoadError::Other(format!(
                "{repo} is on the server's disk, not fetched: the page loads a server's models \
                 by connecting to it"
            )))
        }
    };
    let loaded = match SafetensorsFile::from_bytes(weights, weights_url.clone()) {
        Ok(file) => loading::load(&config, tokenizer, file, &device, Precision::F32).await,
        Err(e) => Err(e),
    };
    match loaded {
        Ok(l) => Ok(Loaded {
            name: repo.to_string(),
            model: l.model,
            tokenizer: l.tokenizer,
        }),
        Err(e) => {
            if !matches!(e, Error::Backend(_)) {
                // A broken file is not kept: the next try downloads it again.
                source.forget("model.safetensors").await;
            }
            Err(LoadError::Other(e.to_string()))
        }
    }
}

/// The bytes of `file`, with a progress entry `model/file` in the page's state.
async fn fetch_tracked(
    state: AppState,
    source: &Source,
    file: &str,
    limit: Limit,
) -> Result<Vec<u8>, String> {
    let name = format!("{}/{file}", source.name());
    let start = now_ms();
    state.progress.update(|list| {
        list.retain(|p| p.file != name);
        list.push(FileProgress {
            file: name.clone(),
            loaded: 0,
            total: 0,
            done: false,
            cached: false,
            speed: 0.0,
        });
    });
    let mut last_update = 0.0;
    let mut report = |p: Progress, done: bool| {
        let now = now_ms();
        // Redraw at most every 50 ms while bytes stream in.
        if !done && p.loaded > 0 && p.loaded != p.total && now - last_update < 50.0 {
            return;
        }
        last_update = now;
        let seconds = ((now - start) / 1000.0).max(1e-3);
        state.progress.update(|list| {
            if let Some(entry) = list.iter_mut().find(|e| e.file == name) {
                entry.loaded = p.loaded;
                entry.total = p.total;
                entry.cached = p.cached;
                entry.done = done;
                entry.speed = p.loaded as f64 / seconds;
            }
        });
    };
    let mut last = Progress {
        loaded: 0,
        total: 0,
        cached: false,
    };
    let mut on_progress = |p: Progress| {
        last = p;
        report(p, false);
    };
    let bytes = match source {
        // Files served with the page are left to the browser's HTTP cache.
        Source::Hub { .. } | Source::Bundled { .. } => {
            let keep = matches!(source, Source::Hub { .. });
            fetch_bytes(&source.location(file), limit, keep, &mut on_progress).await?
        }
        Source::Local { name, files } => {
            let found = files.iter().find(|f| f.name() == file).ok_or_else(|| {
                format!("the folder {name} has no {file}: a model folder holds config.json, tokenizer.json and model.safetensors")
            })?;
            read_file(found, limit, &mut on_progress).await?
        }
    };
    report(
        Progress {
            loaded: bytes.len() as u64,
            total: last.total.max(bytes.len() as u64),
            cached: last.cached,
        },
        true,
    );
    Ok(bytes)
}

/// Milliseconds since the page opened.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    // Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn only_the_hub_and_the_pages_own_origin_are_trusted() {
        let page = "http://127.0.0.1:8080";
        assert!(trusted_hub("https://huggingface.co", page));
        assert!(trusted_hub("https://huggingface.co/", page));
        assert!(trusted_hub("http://127.0.0.1:8080/mirror", page));
        assert!(!trusted_hub("https://huggingface.co.example.com", page));
        assert!(!trusted_hub("http://huggingface.co", page));
        assert!(!trusted_hub("https://example.com", page));
        assert!(!trusted_hub("http://127.0.0.1:8081", page));
        assert!(!trusted_hub("https://example.com", ""));
    }

    #[test]
    fn a_body_larger_than_the_configs_checkpoint_is_refused() {
        let gpt2 = Gpt2Config::preset("gpt2").unwrap();
        let limit = weights_limit(&gpt2);
        // The Hub's gpt2 model.safetensors: 548 MB.
        assert!(limit.check("model.safetensors", 548_105_171).is_ok());
        let err = limit.check("model.safetensors", 5 << 30).unwrap_err();
        assert!(err.contains("more than the"), "{err}");
        // A shape too large for the page: capped at what its memory holds.
        let xl = Gpt2Config::preset("gpt2-xl").unwrap();
        assert!(weights_limit(&xl).bytes <= MEMORY_LIMIT);
        assert!(CONFIG_LIMIT.check("config.json", 2 << 20).is_err());
    }
}
