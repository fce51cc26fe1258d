//! The Hugging Face cache layout, shared with Python's `huggingface_hub`:
//!
//! ```text
//! {cache}/models--{owner}--{repo}/
//!     blobs/{etag}                      the files' contents, named by etag
//!     blobs/{etag}.incomplete           a download in progress (resumable)
//!     refs/{revision}                   the commit hash a branch pointed at
//!     snapshots/{commit}/{file}         -> ../../blobs/{etag} (relative symlink)
//! {cache}/.locks/models--{owner}--{repo}/
//!     {etag}.lock                       held while a process downloads that blob
//! ```

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// One repository's folder in the cache.
pub(super) struct RepoCache {
    dir: PathBuf,
    locks: PathBuf,
}

impl RepoCache {
    pub(super) fn new(cache_dir: &Path, repo: &str) -> Self {
        let name = format!("models--{}", repo.replace('/', "--"));
        RepoCache {
            dir: cache_dir.join(&name),
            locks: cache_dir.join(".locks").join(name),
        }
    }

    pub(super) fn blobs(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    pub(super) fn blob(&self, etag: &str) -> PathBuf {
        self.blobs().join(etag)
    }

    /// Where a download in progress is written, named after its blob.
    pub(super) fn incomplete(&self, name: &str) -> PathBuf {
        self.blobs().join(format!("{name}.incomplete"))
    }

    /// The lock file guarding the download of a blob.
    pub(super) fn lock(&self, name: &str) -> PathBuf {
        self.locks.join(format!("{name}.lock"))
    }

    pub(super) fn snapshot_file(&self, commit: &str, file: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit).join(file)
    }

    /// The commit a revision resolves to without asking the Hub: the content of
    /// `refs/{revision}`, or the revision itself when it names a snapshot (a
    /// commit hash, or the fallback used when the server sent no commit).
    pub(super) fn commit_for(&self, revision: &str) -> Option<String> {
        match fs::read_to_string(self.dir.join("refs").join(revision)) {
            Ok(commit) => {
                let commit = commit.trim();
                (!commit.is_empty()).then(|| commit.to_string())
            }
            Err(_) => self
                .dir
                .join("snapshots")
                .join(revision)
                .is_dir()
                .then(|| revision.to_string()),
        }
    }

    /// The cached file for `revision`, when there is one (its link is not dangling).
    pub(super) fn cached(&self, revision: &str, file: &str) -> Option<PathBuf> {
        let commit = self.commit_for(revision)?;
        let path = self.snapshot_file(&commit, file);
        path.is_file().then_some(path)
    }

    /// Points `snapshots/{commit}/{file}` at `blobs/{etag}` with a relative
    /// link, made under a temporary name and renamed into place, so a process
    /// linking the same file at the same time never sees it missing.
    pub(super) fn link(&self, commit: &str, file: &str, etag: &str) -> Result<PathBuf> {
        let path = self.snapshot_file(commit, file);
        let parent = path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        // snapshots/{commit}/{file}: one `..` per folder between the link and the repo folder.
        let depth = Path::new("snapshots")
            .join(commit)
            .join(file)
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .count()
            - 1;
        let mut target = PathBuf::new();
        for _ in 0..depth {
            target.push("..");
        }
        target.push("blobs");
        target.push(etag);
        if fs::read_link(&path).is_ok_and(|old| old == target) {
            return Ok(path);
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = parent.join(format!(".{name}.tmp{}", std::process::id()));
        if fs::symlink_metadata(&tmp).is_ok() {
            fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        make_link(&target, &self.blob(etag), &tmp)?;
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }

    /// Records that `revision` now points at `commit` (atomically: readers see
    /// the old or the new hash, never a half-written one).
    pub(super) fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        if revision == commit {
            return Ok(());
        }
        let path = self.dir.join("refs").join(revision);
        let parent = path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        fs::write(&tmp, commit).map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }
}

#[cfg(unix)]
fn make_link(target: &Path, _blob: &Path, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link).map_err(|e| Error::io(link, e))
}

/// Windows needs a privilege for symlinks: without it, copy the blob (as
/// `huggingface_hub` does, the cache then holds the file twice).
#[cfg(windows)]
fn make_link(target: &Path, blob: &Path, link: &Path) -> Result<()> {
    if std::os::windows::fs::symlink_file(target, link).is_ok() {
        return Ok(());
    }
    fs::copy(blob, link)
        .map(drop)
        .map_err(|e| Error::io(link, e))
}

#[cfg(not(any(unix, windows)))]
fn make_link(_target: &Path, blob: &Path, link: &Path) -> Result<()> {
    fs::copy(blob, link)
        .map(drop)
        .map_err(|e| Error::io(link, e))
}
