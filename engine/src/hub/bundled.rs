//! The bundled pair: `bundled` (the target) and `bundled-draft`, two small
//! GPT-2 checkpoints trained on the King James Bible and kept in the
//! repository's `models/` folder (see `tools/train_tiny.py`). They are found
//! on disk, never downloaded: in `$GPT2_MODELS_DIR`, else in a `models/`
//! folder beside the executable or above it (a `target/release/gpt2` of a
//! clone), else in the clone this crate was built from.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub use crate::loading::{is_bundled, BUNDLED_DRAFT, BUNDLED_TARGET};

/// The environment variable naming the folder that holds the bundled models.
pub const DIR_VARIABLE: &str = "GPT2_MODELS_DIR";

/// The folder of the bundled model `name`, or a message naming where it was
/// looked for.
pub fn folder(name: &str) -> Result<PathBuf> {
    let candidates = candidates();
    candidates
        .iter()
        .map(|dir| dir.join(name))
        .find(|dir| dir.join(super::CONFIG).is_file())
        .ok_or_else(|| {
            let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
            Error::input(format!(
                "the bundled model {name} was not found (looked in {}): set {DIR_VARIABLE} to the \
                 clone's models folder, or run gpt2 from a clone of the repository",
                looked.join(", ")
            ))
        })
}

/// The folders that may hold the bundled models, in the order they are tried.
fn candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(DIR_VARIABLE).filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe() {
        dirs.extend(exe.ancestors().skip(1).map(|d| d.join("models")));
    }
    dirs.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("models"),
    );
    let mut unique: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        if !unique.contains(&dir) {
            unique.push(dir);
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_names_are_found_in_the_clone() {
        for name in [BUNDLED_TARGET, BUNDLED_DRAFT] {
            let dir = folder(name).unwrap();
            assert!(dir.join("model.safetensors").is_file(), "{}", dir.display());
            assert!(dir.ends_with(name));
        }
        assert!(is_bundled("bundled-draft") && !is_bundled("gpt2"));
    }
}
