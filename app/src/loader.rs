//! Loading a model from the Hub (or a mirror with its layout) into the page:
//! config, tokenizer and weights fetched with progress, checked, and uploaded
//! to the GPU tensor by tensor.

use engine::backend::{Device, Precision};
use engine::config::Gpt2Config;
use engine::loading::{self, check_vocabulary};
use engine::tokenizer::Tokenizer;
use engine::weights::SafetensorsFile;
use engine::Error;
use leptos::prelude::*;

use crate::fetch::{fetch_bytes, forget, read_file, Progress};
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

    /// The model's name, for people and progress entries.
    pub fn name(&self) -> &str {
        match self {
            Source::Hub { repo, .. } => repo,
            Source::Local { name, .. } => name,
        }
    }

    /// Where `file` is, for messages.
    fn location(&self, file: &str) -> String {
        match self {
            Source::Hub { hub, repo } => format!("{hub}/{repo}/resolve/main/{file}"),
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

/// Fetches, checks and loads `repo` onto the device `settings` name.
pub async fn load_model(
    state: AppState,
    settings: &Settings,
    source: &Source,
) -> Result<Loaded, LoadError> {
    if settings.device == DeviceChoice::WebGpu {
        webgpu::check().await.map_err(LoadError::NoWebGpu)?;
    }
    let repo = source.name();
    let config_url = source.location("config.json");
    let config_bytes = fetch_tracked(state, source, "config.json")
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
    let tokenizer_bytes = fetch_tracked(state, source, "tokenizer.json")
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
    let weights = fetch_tracked(state, source, "model.safetensors")
        .await
        .map_err(LoadError::Other)?;
    let device = match settings.device {
        DeviceChoice::WebGpu => Device::Wgpu(Default::default()),
        DeviceChoice::Cpu => Device::Cpu,
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
async fn fetch_tracked(state: AppState, source: &Source, file: &str) -> Result<Vec<u8>, String> {
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
        Source::Hub { .. } => fetch_bytes(&source.location(file), &mut on_progress).await?,
        Source::Local { name, files } => {
            let found = files.iter().find(|f| f.name() == file).ok_or_else(|| {
                format!("the folder {name} has no {file}: a model folder holds config.json, tokenizer.json and model.safetensors")
            })?;
            read_file(found, &mut on_progress).await?
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
