//! Model sources: local folders and Hub downloads.
//!
//! `--model` is either a folder holding `config.json`, `model.safetensors` and
//! `tokenizer.json`, or a Hugging Face Hub name (`gpt2`, `openai-community/gpt2-xl`).
//! Hub files are downloaded once into the Hugging Face cache, in the layout
//! Python's `huggingface_hub` uses, so both share the same files:
//! `models--{owner}--{repo}/blobs/{etag}`, `refs/{revision}` (the commit) and
//! `snapshots/{commit}/{file}`, a relative symlink to the blob; a process
//! downloading a blob holds `.locks/models--{owner}--{repo}/{etag}.lock`.
//! Settings come from the usual environment variables: `HF_ENDPOINT`,
//! `HF_HUB_CACHE`, `HF_HOME`, `HF_TOKEN`, `HF_HUB_OFFLINE`. The names
//! `bundled` and `bundled-draft` are the small trained pair kept in the
//! repository ([`bundled`]), never downloaded.

pub mod bundled;
mod cache;
mod download;
mod http;
mod lock;
mod progress;

use std::path::{Path, PathBuf};

pub use progress::{BarProgress, NoProgress, Progress};

use crate::error::{Error, Result};

/// The three files a model folder needs.
const CONFIG: &str = "config.json";
const WEIGHTS: &str = "model.safetensors";
const TOKENIZER: &str = "tokenizer.json";

/// The three files of a model in the Hugging Face layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The folder holding them (for a Hub model, its snapshot folder).
    pub dir: PathBuf,
    pub config: PathBuf,
    pub weights: PathBuf,
    pub tokenizer: PathBuf,
}

/// Resolves `--model`: a bundled model, a local folder, or a Hub name
/// downloaded (once) into the HF cache.
pub fn resolve(model: &str, progress: &dyn Progress) -> Result<ModelFiles> {
    if bundled::is_bundled(model) {
        return local(&bundled::folder(model)?);
    }
    let path = expand_home(model);
    if path.is_dir() {
        return local(&path);
    }
    if looks_like_path(model) {
        let what = if path.exists() {
            "is a file, not a folder"
        } else {
            "no such folder"
        };
        return Err(Error::input(format!(
            "{model}: {what}; --model takes a folder with {CONFIG}, {WEIGHTS} and \
             {TOKENIZER}, or a Hugging Face Hub name such as gpt2"
        )));
    }
    let repo = repo_for_name(model);
    if !is_repo_id(&repo) {
        return Err(Error::input(format!(
            "{model:?} is neither a model folder nor a Hugging Face Hub name (such as gpt2, \
             gpt2-medium or openai-community/gpt2-large)"
        )));
    }
    Hub::from_env().model(&repo, progress)
}

/// A local model folder, checked for the three files.
fn local(dir: &Path) -> Result<ModelFiles> {
    let files = ModelFiles {
        dir: dir.to_path_buf(),
        config: dir.join(CONFIG),
        weights: dir.join(WEIGHTS),
        tokenizer: dir.join(TOKENIZER),
    };
    for path in [&files.config, &files.weights, &files.tokenizer] {
        if !path.is_file() {
            return Err(Error::input(format!(
                "{} is missing: a model folder needs {CONFIG}, {WEIGHTS} and {TOKENIZER} \
                 (as saved by transformers' save_pretrained plus the tokenizer)",
                path.display()
            )));
        }
    }
    Ok(files)
}

/// The Hub repository for a `--model` name: the GPT-2 checkpoints by their
/// short names, anything else (`owner/repo`) as given.
pub fn repo_for_name(name: &str) -> String {
    match name {
        "gpt2" | "gpt2-medium" | "gpt2-large" | "gpt2-xl" => format!("openai-community/{name}"),
        "distilgpt2" => "distilbert/distilgpt2".to_string(),
        _ => name.to_string(),
    }
}

/// `name` or `owner/name`, each part letters, digits, `-`, `_`, `.`, without
/// `--` or `..` (the Hub's own rules, which also keep cache paths safe).
fn is_repo_id(repo: &str) -> bool {
    let parts: Vec<&str> = repo.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|part| {
            !part.is_empty()
                && !part.starts_with(['.', '-'])
                && !part.contains("--")
                && !part.contains("..")
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
}

/// A revision or file path that stays inside the cache folder it names.
fn is_relative_path(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('/')
        && !s.contains('\\')
        && s.split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

fn looks_like_path(model: &str) -> bool {
    model.starts_with(['/', '~', '\\'])
        || model.starts_with("./")
        || model.starts_with("../")
        || model == "."
        || model == ".."
        || Path::new(model).is_absolute()
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `~/x` → `$HOME/x`.
fn expand_home(model: &str) -> PathBuf {
    match (
        model.strip_prefix("~/").or((model == "~").then_some("")),
        home(),
    ) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(model),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A yes/no variable set to yes: `1`, `true`, `yes` or `on` (any case), as
/// `huggingface_hub` reads them.
fn env_flag(name: &str) -> bool {
    env(name).is_some_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        matches!(v.as_str(), "1" | "true" | "yes" | "on")
    })
}

/// `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
fn hf_home() -> PathBuf {
    if let Some(home) = env("HF_HOME") {
        return PathBuf::from(home);
    }
    let cache = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("huggingface")
}

/// The access token: `$HF_TOKEN`, else the file `huggingface-cli login` writes
/// (`$HF_TOKEN_PATH`, else `$HF_HOME/token`).
fn token() -> Option<String> {
    if let Some(token) = env("HF_TOKEN") {
        return Some(token.trim().to_string());
    }
    let path = env("HF_TOKEN_PATH").map_or_else(|| hf_home().join("token"), PathBuf::from);
    let token = std::fs::read_to_string(path).ok()?;
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// Lower level, used by [`resolve`] and by tests: Hub settings read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hub {
    /// Base URL, without a trailing `/` (`https://huggingface.co`).
    pub endpoint: String,
    /// The cache folder holding `models--{owner}--{repo}` folders.
    pub cache_dir: PathBuf,
    /// Branch, tag or commit to download (`main`).
    pub revision: String,
    /// Use the cache only, never the network (`HF_HUB_OFFLINE`).
    pub offline: bool,
}

impl Hub {
    /// `HF_ENDPOINT` (default `https://huggingface.co`); the cache in
    /// `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`;
    /// revision `main`; offline when `HF_HUB_OFFLINE` is `1`, `true`, `yes` or `on`.
    pub fn from_env() -> Hub {
        let endpoint = env("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into());
        let cache_dir = env("HF_HUB_CACHE").map_or_else(|| hf_home().join("hub"), PathBuf::from);
        Hub {
            endpoint: endpoint.trim().trim_end_matches('/').to_string(),
            cache_dir,
            revision: "main".to_string(),
            offline: env_flag("HF_HUB_OFFLINE"),
        }
    }

    /// One file of `repo` at this revision: from the cache when it is there
    /// (no network at all), else downloaded into it. Returns its snapshot path.
    pub fn get(&self, repo: &str, file: &str, progress: &dyn Progress) -> Result<PathBuf> {
        self.check(repo, file)?;
        let cache = cache::RepoCache::new(&self.cache_dir, repo);
        if let Some(path) = cache.cached(&self.revision, file) {
            return Ok(path);
        }
        if self.offline {
            return Err(self.not_cached(repo, &[file]));
        }
        let client = download::Client::new(self);
        Ok(client.fetch(repo, file, &self.revision, progress)?.0)
    }

    /// `config.json`, `model.safetensors` and `tokenizer.json` of `repo`, all
    /// from one commit: the cached snapshot when it has all three, else the
    /// commit the revision points at now. Offline, only the cached snapshot
    /// (the commit `refs/{revision}` names).
    pub fn model(&self, repo: &str, progress: &dyn Progress) -> Result<ModelFiles> {
        self.check(repo, CONFIG)?;
        let cache = cache::RepoCache::new(&self.cache_dir, repo);
        let cached: Option<Vec<PathBuf>> = [CONFIG, WEIGHTS, TOKENIZER]
            .iter()
            .map(|file| cache.cached(&self.revision, file))
            .collect();
        let (config, weights, tokenizer) = match cached.as_deref() {
            Some([config, weights, tokenizer]) => {
                (config.clone(), weights.clone(), tokenizer.clone())
            }
            _ if self.offline => {
                let missing: Vec<&str> = [CONFIG, WEIGHTS, TOKENIZER]
                    .into_iter()
                    .filter(|file| cache.cached(&self.revision, file).is_none())
                    .collect();
                return Err(self.not_cached(repo, &missing));
            }
            _ => {
                let client = download::Client::new(self);
                // The first answer pins the commit, so a push in between
                // cannot mix files of two versions.
                let (config, commit) = client.fetch(repo, CONFIG, &self.revision, progress)?;
                let (weights, _) = client.fetch(repo, WEIGHTS, &commit, progress)?;
                let (tokenizer, _) = client.fetch(repo, TOKENIZER, &commit, progress)?;
                (config, weights, tokenizer)
            }
        };
        let dir = config.parent().unwrap_or(Path::new("")).to_path_buf();
        Ok(ModelFiles {
            dir,
            config,
            weights,
            tokenizer,
        })
    }

    /// Offline, and `files` of `repo` are not in the cache.
    fn not_cached(&self, repo: &str, files: &[&str]) -> Error {
        Error::Input(format!(
            "{repo} is not in the Hugging Face cache at {} (missing {} at revision {}), \
             and HF_HUB_OFFLINE is set, so it cannot be downloaded: unset HF_HUB_OFFLINE \
             to download it, or pass a local model folder to --model",
            self.cache_dir.display(),
            files.join(", "),
            self.revision
        ))
    }

    fn check(&self, repo: &str, file: &str) -> Result<()> {
        if !is_repo_id(repo) {
            return Err(Error::input(format!(
                "{repo:?} is not a Hugging Face Hub repository name (owner/name)"
            )));
        }
        if !is_relative_path(file) || !is_relative_path(&self.revision) {
            return Err(Error::input(format!(
                "cannot fetch {file:?} at revision {:?}: both must be relative names \
                 without `..`",
                self.revision
            )));
        }
        Ok(())
    }
}
