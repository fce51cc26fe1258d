//! How downloads report progress: a trait, an indicatif bar and a reporter without bars.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How downloads report progress.
///
/// A download calls [`Progress::start`] once per file, then
/// [`Progress::advance`] for every chunk written, then [`Progress::finish`]
/// (also when the transfer fails part-way).
pub trait Progress {
    /// A transfer of `file` begins: `total` is its full size when the server
    /// said it, `already` the bytes kept from an earlier, interrupted run.
    fn start(&self, file: &str, total: Option<u64>, already: u64);
    /// `bytes` more bytes were written.
    fn advance(&self, bytes: u64);
    /// The transfer ended (completed or not).
    fn finish(&self);
    /// Another process is downloading `file` of `repo` into the same cache:
    /// this one waits for it rather than fetching it twice. Says so on stderr,
    /// as a silent wait would look like a hang.
    fn waiting(&self, repo: &str, file: &str) {
        eprintln!("waiting for another download of {file} from {repo}");
    }
}

/// A reporter that draws no progress bars (it still says when it waits for
/// another process's download).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _file: &str, _total: Option<u64>, _already: u64) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

/// A progress reporter drawing an indicatif bar (bytes, speed, ETA) on stderr.
///
/// Nothing is drawn when stderr is not a terminal (indicatif hides the bar).
#[derive(Debug, Default)]
pub struct BarProgress {
    bar: Mutex<Option<ProgressBar>>,
}

impl BarProgress {
    /// A reporter with no bar yet: one is drawn per file on [`Progress::start`].
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        // A poisoned lock only means another thread panicked mid-update of a
        // progress bar: the bar itself is still usable.
        self.bar
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

const KNOWN_SIZE: &str =
    "{msg:20!} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}";
const UNKNOWN_SIZE: &str = "{spinner} {msg:20!} {bytes} {binary_bytes_per_sec}";

impl Progress for BarProgress {
    fn start(&self, file: &str, total: Option<u64>, already: u64) {
        let (template, len) = match total {
            Some(total) => (KNOWN_SIZE, Some(total)),
            None => (UNKNOWN_SIZE, None),
        };
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(file.to_string());
        bar.set_position(already);
        // The bytes kept from an earlier run are not part of this run's speed.
        bar.reset_eta();
        if let Some(old) = self.slot().replace(bar) {
            old.finish();
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = self.slot().as_ref() {
            bar.inc(bytes);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.slot().take() {
            bar.finish();
        }
    }
}
