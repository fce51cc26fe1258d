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

    /// A call the engine's contract does not allow: a bug in the program
    /// driving the engine, or in the engine, never in what a user typed.
    #[error(transparent)]
    Misuse(#[from] Misuse),
}

/// Calls made in an order, or with a value, that the engine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Misuse {
    /// A cache handed to a model other than the one that made it.
    #[error("this cache was made by another model: use the model's own new_cache")]
    ForeignCache,
    /// A forward pass started while the same model runs another.
    #[error("this model is already running a forward pass: wait for it to finish")]
    PassInFlight,
    /// An internal step taken before the one it depends on.
    #[error("{0}: the engine took its steps out of order (a bug; please report it)")]
    OutOfOrder(&'static str),
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
