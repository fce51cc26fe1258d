//! The Hub mirror the page downloads from: seeded random GPT-2 checkpoints in
//! the Hub's folder layout (`config.json`, `model.safetensors`,
//! `tokenizer.json`), and a broken one whose weights file is cut in half.

use std::path::Path;

use engine::config::Gpt2Config;
use engine::weights::random::RandomCheckpoint;

/// The model the page runs.
pub const TINY: &str = "tiny-gpt2";
/// The same shape with other weights: the amateur and the draft.
pub const DRAFT: &str = "tiny-draft";
/// `TINY` again under the name of the page's default model: the page starts
/// on the bundled model while it downloads, then moves to it.
pub const DEFAULT: &str = "gpt2";
/// `TINY` with `model.safetensors` truncated to half its length.
pub const BROKEN: &str = "broken-gpt2";
/// A seeded random checkpoint of gpt2's shape (124M parameters, f32), for
/// speed figures; written by [`build_gpt2_shaped`] only, not by [`build`].
pub const GPT2_SHAPED: &str = "random-gpt2";

/// The shape of every mirrored model: 2 layers, 2 heads, 64 wide, 256 positions.
pub fn tiny_config() -> Gpt2Config {
    Gpt2Config::new(2, 2, 64, 256)
}

/// Writes the mirror's model folders into `root` (`root/<repo>/<file>`).
///
/// Every file is written beside its final name and then renamed into place, so
/// that test processes sharing `root` never see a partly written file.
pub fn build(root: &Path) {
    let staging = root.join(format!(".staging-{}", std::process::id()));
    for (repo, seed) in [(TINY, 1), (DRAFT, 2), (BROKEN, 1), (DEFAULT, 1)] {
        let dir = staging.join(repo);
        RandomCheckpoint::new(tiny_config(), seed)
            .write(&dir)
            .unwrap_or_else(|e| panic!("writing the {repo} checkpoint: {e}"));
        if repo == BROKEN {
            truncate_to_half(&dir.join("model.safetensors"));
        }
        move_into_place(&dir, &root.join(repo));
    }
    std::fs::remove_dir_all(&staging)
        .unwrap_or_else(|e| panic!("removing {}: {e}", staging.display()));
}

/// Writes [`GPT2_SHAPED`] into `root` unless it is there already: the
/// checkpoint `random_checkpoint DIR --shape gpt2` writes (seed 0), 500 MB.
pub fn build_gpt2_shaped(root: &Path) {
    let target = root.join(GPT2_SHAPED);
    if FILES.iter().all(|file| target.join(file).is_file()) {
        return;
    }
    let staging = root.join(format!(".staging-{}", std::process::id()));
    let dir = staging.join(GPT2_SHAPED);
    let config = Gpt2Config::preset("gpt2").expect("gpt2 is a preset");
    RandomCheckpoint::new(config, 0)
        .write(&dir)
        .unwrap_or_else(|e| panic!("writing the {GPT2_SHAPED} checkpoint: {e}"));
    move_into_place(&dir, &target);
    std::fs::remove_dir_all(&staging)
        .unwrap_or_else(|e| panic!("removing {}: {e}", staging.display()));
}

/// A model folder's files.
const FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// Renames the files of `dir` into `target`, one by one.
fn move_into_place(dir: &Path, target: &Path) {
    std::fs::create_dir_all(target)
        .unwrap_or_else(|e| panic!("creating {}: {e}", target.display()));
    for file in FILES {
        let (from, to) = (dir.join(file), target.join(file));
        std::fs::rename(&from, &to)
            .unwrap_or_else(|e| panic!("moving {} to {}: {e}", from.display(), to.display()));
    }
}

/// The URL path of a mirrored file, as the server counts its requests.
pub fn url_path(repo: &str, file: &str) -> String {
    format!("/mirror/{repo}/resolve/main/{file}")
}

fn truncate_to_half(path: &Path) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let length = file.metadata().expect("file length").len();
    file.set_len(length / 2)
        .unwrap_or_else(|e| panic!("truncating {}: {e}", path.display()));
}
