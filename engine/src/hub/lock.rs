//! One download per blob across processes: an exclusive file lock on
//! `{cache}/.locks/models--{owner}--{repo}/{blob}.lock`, the file Python's
//! `huggingface_hub` locks too, so neither writes a blob another is writing.

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use fs4::{FileExt, TryLockError};

use super::progress::Progress;
use crate::error::{Error, Result};

/// An exclusive lock, held until dropped. Closing the file releases it, and so
/// does the end of the process: a crashed download leaves no stale lock.
pub(super) struct BlobLock {
    _file: File,
}

impl BlobLock {
    /// Takes the lock at `path`; while another process holds it, waits for it
    /// and says so once through `progress` (the wait is for `file` of `repo`).
    pub(super) fn acquire(
        path: &Path,
        repo: &str,
        file: &str,
        progress: &dyn Progress,
    ) -> Result<BlobLock> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        // Called through the trait: newer std has inherent methods of the same names.
        match FileExt::try_lock(&lock) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                progress.waiting(repo, file);
                FileExt::lock(&lock).map_err(|e| unlockable(path, e))?;
            }
            Err(TryLockError::Error(e)) => return Err(unlockable(path, e)),
        }
        Ok(BlobLock { _file: lock })
    }
}

fn unlockable(path: &Path, e: std::io::Error) -> Error {
    Error::Download(format!(
        "could not lock {} ({e}): the cache's file system may not support file locks; \
         set HF_HUB_CACHE to a folder on a local disk",
        path.display()
    ))
}
