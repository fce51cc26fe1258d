//! The engine's error type: every failure a user can cause says what was wrong
//! and what to do about it.

use std::path::PathBuf;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from the user: a flag, a prompt, an option combination.
    #[error("{0}")]
    Input(String),

    /// A checkpoint file that cannot be used as it is.
    #[error("{}: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },

    /// A model that cannot be fetched from the Hub (not found, network down).
    #[error("{0}")]
    Download(String),

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The tensor backend failed (out of memory, a lost device, a bug).
    #[error("backend error: {0}")]
    Backend(String),
}

impl Error {
    /// True when the user can fix this by changing what they passed in
    /// (the command line maps these to exit status 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Error::Input(_) | Error::Checkpoint { .. })
    }

    /// Shorthand for [`Error::Input`].
    pub fn input(message: impl Into<String>) -> Self {
        Error::Input(message.into())
    }

    /// Shorthand for [`Error::Checkpoint`].
    pub fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        // candle attaches a backtrace when RUST_BACKTRACE is set: keep the message only.
        match e {
            candle_core::Error::WithBacktrace { inner, .. } => Error::Backend(inner.to_string()),
            e => Error::Backend(e.to_string()),
        }
    }
}
