//! Hub downloads against a tiny local HTTP server that mimics the Hub's URLs
//! and headers: the cache layout, caching, resuming, errors, local folders.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use engine::hub::{self, Hub, NoProgress, Progress};
use engine::Error;

mod fake_hub;
mod processes;

use fake_hub::*;

fn repo_dir(cache: &Path) -> PathBuf {
    cache.join("models--openai-community--gpt2")
}

/// Every file under `dir`, relative to it.
fn listing(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn downloads_a_model_into_the_hf_cache_layout() {
    let server = Server::model();
    let cache = tempfile::tempdir().unwrap();
    let files = server.hub(cache.path()).model(REPO, &NoProgress).unwrap();

    let repo = repo_dir(cache.path());
    let snapshot = repo.join("snapshots").join(COMMIT);
    assert_eq!(files.dir, snapshot);
    assert_eq!(files.config, snapshot.join("config.json"));
    assert_eq!(files.weights, snapshot.join("model.safetensors"));
    assert_eq!(files.tokenizer, snapshot.join("tokenizer.json"));
    assert_eq!(fs::read_to_string(repo.join("refs/main")).unwrap(), COMMIT);

    let weights = weights();
    let expected = [
        ("config.json", CONFIG.to_vec(), git_etag(CONFIG)),
        ("model.safetensors", weights.clone(), sha256(&weights)),
        ("tokenizer.json", TOKENIZER.to_vec(), git_etag(TOKENIZER)),
    ];
    let mut blobs: Vec<String> = expected.iter().map(|(_, _, etag)| etag.clone()).collect();
    blobs.sort();
    assert_eq!(listing(&repo.join("blobs")), blobs);
    for (file, content, etag) in &expected {
        let link = snapshot.join(file);
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::read_link(&link).unwrap(),
            Path::new("../../blobs").join(etag)
        );
        assert_eq!(&fs::read(repo.join("blobs").join(etag)).unwrap(), content);
        assert_eq!(&fs::read(&link).unwrap(), content, "{file}");
    }
}

#[test]
fn a_cached_model_makes_no_request() {
    let server = Server::model();
    let cache = tempfile::tempdir().unwrap();
    let hub = server.hub(cache.path());
    let first = hub.model(REPO, &NoProgress).unwrap();
    let requests = server.seen().len();
    assert!(requests >= 3, "{:?}", server.seen());

    let second = hub.model(REPO, &NoProgress).unwrap();
    let one = hub.get(REPO, "tokenizer.json", &NoProgress).unwrap();
    assert_eq!(first, second);
    assert_eq!(one, first.tokenizer);
    assert_eq!(server.seen().len(), requests, "{:?}", server.seen());

    // Not even a connection: the same cache works with the Hub unreachable.
    let offline = Hub {
        endpoint: closed_port(),
        ..hub
    };
    assert_eq!(offline.model(REPO, &NoProgress).unwrap(), first);
}

#[test]
fn offline_a_partly_cached_model_says_what_is_missing() {
    let server = Server::model();
    let cache = tempfile::tempdir().unwrap();
    let hub = server.hub(cache.path());
    let config = hub.get(REPO, "config.json", &NoProgress).unwrap();
    let requests = server.seen().len();

    let offline = Hub {
        offline: true,
        ..hub
    };
    assert_eq!(
        offline.get(REPO, "config.json", &NoProgress).unwrap(),
        config
    );
    let err = offline.model(REPO, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("missing model.safetensors, tokenizer.json"),
        "{message}"
    );
    assert!(
        message.contains(&cache.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("HF_HUB_OFFLINE"), "{message}");
    let err = offline
        .get(REPO, "tokenizer.json", &NoProgress)
        .unwrap_err();
    assert!(err.is_bad_input(), "{err:?}");
    assert_eq!(server.seen().len(), requests, "{:?}", server.seen());
}

/// Records what a download reported.
#[derive(Default)]
struct Recorder {
    starts: Mutex<Vec<(String, Option<u64>, u64)>>,
    advanced: Mutex<u64>,
    finishes: Mutex<usize>,
}

impl Progress for Recorder {
    fn start(&self, file: &str, total: Option<u64>, already: u64) {
        self.starts
            .lock()
            .unwrap()
            .push((file.to_string(), total, already));
    }
    fn advance(&self, bytes: u64) {
        *self.advanced.lock().unwrap() += bytes;
    }
    fn finish(&self) {
        *self.finishes.lock().unwrap() += 1;
    }
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let server = Server::model();
    let cache = tempfile::tempdir().unwrap();
    let hub = server.hub(cache.path());
    let weights = weights();
    let sha = sha256(&weights);
    let cut = 300_000;
    server.state.lock().unwrap().cut_after = Some(cut);

    let err = hub.get(REPO, "model.safetensors", &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Download(_)), "{err:?}");
    assert!(err.to_string().contains("again"), "{err}");
    let blobs = repo_dir(cache.path()).join("blobs");
    let partial = blobs.join(format!("{sha}.incomplete"));
    assert_eq!(fs::metadata(&partial).unwrap().len(), cut as u64);
    assert!(!blobs.join(&sha).exists());

    let progress = Recorder::default();
    let path = hub.get(REPO, "model.safetensors", &progress).unwrap();
    assert_eq!(fs::read(&path).unwrap(), weights);
    assert!(!partial.exists());
    assert!(server.seen().iter().any(|s| s.method == "GET"
        && s.path.starts_with("/cdn/")
        && s.range.as_deref() == Some(&format!("bytes={cut}-"))));
    assert_eq!(
        *progress.starts.lock().unwrap(),
        [(
            "model.safetensors".to_string(),
            Some(weights.len() as u64),
            cut as u64
        )]
    );
    assert_eq!(
        *progress.advanced.lock().unwrap(),
        (weights.len() - cut) as u64
    );
    assert_eq!(*progress.finishes.lock().unwrap(), 1);
}

#[test]
fn a_missing_repo_or_file_is_bad_input() {
    let server = Server::model();
    let cache = tempfile::tempdir().unwrap();
    let hub = server.hub(cache.path());

    let err = hub.model("nobody/no-such-model", &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("nobody/no-such-model"), "{message}");
    assert!(message.contains(&server.endpoint), "{message}");

    let err = hub.get(REPO, "pytorch_model.bin", &NoProgress).unwrap_err();
    assert!(err.is_bad_input(), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(REPO) && message.contains("pytorch_model.bin"));
}

/// An endpoint on a port nothing listens on.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[test]
fn an_unreachable_hub_is_a_download_error() {
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub {
        endpoint: closed_port(),
        cache_dir: cache.path().to_path_buf(),
        revision: "main".to_string(),
        offline: false,
    };
    let err = hub.model(REPO, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Download(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&hub.endpoint), "{message}");
    assert!(message.contains("HF_ENDPOINT"), "{message}");
    assert!(message.contains("local model folder"), "{message}");
}

#[test]
fn a_corrupted_download_is_rejected_and_leaves_no_blob() {
    let server = Server::model();
    let cache = tempfile::tempdir().unwrap();
    let hub = server.hub(cache.path());
    server.state.lock().unwrap().corrupt = true;

    let err = hub.get(REPO, "model.safetensors", &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Download(_)), "{err:?}");
    assert!(err.to_string().contains("sha256"), "{err}");
    let repo = repo_dir(cache.path());
    assert_eq!(listing(&repo.join("blobs")), Vec::<String>::new());
    assert!(!repo.join("snapshots").join(COMMIT).exists());

    // Once the server sends the right bytes, the next run succeeds.
    server.state.lock().unwrap().corrupt = false;
    let path = hub.get(REPO, "model.safetensors", &NoProgress).unwrap();
    assert_eq!(fs::read(path).unwrap(), weights());
}

#[test]
fn resolves_local_folders() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        fs::write(dir.path().join(file), b"{}").unwrap();
    }
    let model = dir.path().to_str().unwrap();
    let files = hub::resolve(model, &NoProgress).unwrap();
    assert_eq!(files.dir, dir.path());
    assert_eq!(files.config, dir.path().join("config.json"));
    assert_eq!(files.weights, dir.path().join("model.safetensors"));
    assert_eq!(files.tokenizer, dir.path().join("tokenizer.json"));

    fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = hub::resolve(model, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("tokenizer.json is missing"), "{message}");
    assert!(message.contains("save_pretrained"), "{message}");

    for missing in ["/no/such/model/folder", "./no-such-model-folder", "../nope"] {
        let err = hub::resolve(missing, &NoProgress).unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err:?}");
        assert!(err.to_string().contains("no such folder"), "{err}");
    }
    let err = hub::resolve("not a model name!", &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Input(_)), "{err:?}");
}

#[test]
fn hub_names_map_to_repos() {
    for name in ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"] {
        assert_eq!(hub::repo_for_name(name), format!("openai-community/{name}"));
    }
    assert_eq!(hub::repo_for_name("distilgpt2"), "distilbert/distilgpt2");
    assert_eq!(hub::repo_for_name("someone/my-gpt2"), "someone/my-gpt2");
}

/// Runs `from_env_child` in a fresh copy of this test binary with `vars` set
/// (and the other Hub variables removed), so no test mutates its own environment.
fn from_env_in_child(vars: &[(&str, &str)], endpoint: &str, cache: &str, offline: bool) {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args([
        "--exact",
        "from_env_child",
        "--nocapture",
        "--test-threads=1",
    ]);
    for name in [
        "HF_ENDPOINT",
        "HF_HUB_CACHE",
        "HF_HOME",
        "XDG_CACHE_HOME",
        "HF_HUB_OFFLINE",
    ] {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied());
    command.env("HUB_TEST_EXPECT", format!("{endpoint}\n{cache}\n{offline}"));
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn from_env_child() {
    // Only does something when started by `hub_settings_come_from_the_environment`.
    let Ok(expect) = std::env::var("HUB_TEST_EXPECT") else {
        return;
    };
    let [endpoint, cache, offline] = expect.split('\n').collect::<Vec<_>>()[..] else {
        panic!("HUB_TEST_EXPECT: {expect:?}");
    };
    let hub = Hub::from_env();
    assert_eq!(hub.endpoint, endpoint);
    assert_eq!(hub.cache_dir, Path::new(cache));
    assert_eq!(hub.revision, "main");
    assert_eq!(hub.offline.to_string(), offline);
}

#[test]
fn hub_settings_come_from_the_environment() {
    from_env_in_child(
        &[
            ("HF_ENDPOINT", "http://mirror.test:8080/"),
            ("HF_HOME", "/tmp/hf-home"),
        ],
        "http://mirror.test:8080",
        "/tmp/hf-home/hub",
        false,
    );
    from_env_in_child(
        &[
            ("HF_HUB_CACHE", "/tmp/hub-cache"),
            ("HF_HOME", "/tmp/hf-home"),
        ],
        "https://huggingface.co",
        "/tmp/hub-cache",
        false,
    );
    from_env_in_child(
        &[("HOME", "/home/someone")],
        "https://huggingface.co",
        "/home/someone/.cache/huggingface/hub",
        false,
    );
}

#[test]
fn hf_hub_offline_takes_the_values_huggingface_hub_takes() {
    for (value, offline) in [
        ("1", true),
        ("true", true),
        ("YES", true),
        ("on", true),
        ("0", false),
        ("false", false),
        ("", false),
    ] {
        let vars = [
            ("HF_HUB_CACHE", "/tmp/hub-cache"),
            ("HF_HUB_OFFLINE", value),
        ];
        from_env_in_child(&vars, "https://huggingface.co", "/tmp/hub-cache", offline);
    }
}
