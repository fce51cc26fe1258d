//! The page's instant start. While one of the picker's Hub models downloads
//! (gpt2's 548 MB on a first visit), the page runs on the bundled target,
//! served with the page itself, and moves to the model asked for once it is
//! loaded — after the run in progress, if one is. When that model cannot be
//! had (offline, the Hub unreachable), the page stays on the bundled pair and
//! says why; the user may also choose to stay.

use std::rc::Rc;

use engine::loading::BUNDLED_TARGET;
use leptos::prelude::*;

use crate::actions::install_main;
use crate::loader::{load_model, LoadError, Source};
use crate::settings::Settings;
use crate::state::{AppState, Status};
use crate::tracked::sleep_ms;

/// Where the instant start stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standby {
    /// Running on the bundled target while `model` loads.
    Waiting { model: String },
    /// `model` could not be loaded: the page stays on the bundled target.
    Failed { model: String, why: String },
    /// The page moved to `model`.
    Moved { model: String },
    /// The user chose to stay on the bundled target.
    Stayed,
}

impl Standby {
    /// The name in `data-state`.
    pub fn name(&self) -> &'static str {
        match self {
            Standby::Waiting { .. } => "waiting",
            Standby::Failed { .. } => "failed",
            Standby::Moved { .. } => "moved",
            Standby::Stayed => "stayed",
        }
    }

    /// What the page says about it.
    pub fn words(&self) -> String {
        const BUNDLED: &str = "bundled, a 4-layer GPT-2 trained on the King James Bible and \
                               served with this page";
        match self {
            Standby::Waiting { model } => format!(
                "Running on {BUNDLED}, while {model} downloads: the page moves to {model} when \
                 it is loaded."
            ),
            Standby::Failed { model, why } => format!(
                "{model} could not be loaded ({why}): the page stays on {BUNDLED}. Pick a \
                 model to try again."
            ),
            Standby::Moved { model } => {
                format!("{model} is loaded: the page has moved to it from the bundled model.")
            }
            Standby::Stayed => format!("Staying on {BUNDLED}."),
        }
    }
}

/// The source the page loads first: the bundled target.
pub fn bundled() -> Source {
    Source::Bundled {
        name: BUNDLED_TARGET.into(),
    }
}

/// Loads `source` while the page runs on the bundled target, and moves the
/// page to it once loaded and idle, unless another load (`load` is this
/// one's number) or the user's choice came first.
pub async fn follow(state: AppState, settings: &Settings, source: Source, load: u64) {
    let model = source.name().to_string();
    state.standby.set(Some(Standby::Waiting {
        model: model.clone(),
    }));
    let result = load_model(state, settings, &source).await;
    let current = move || {
        state.models.with_value(|m| m.is_latest(load))
            && state
                .standby
                .with_untracked(|s| matches!(s, Some(Standby::Waiting { .. })))
    };
    if !current() {
        return;
    }
    match result {
        Ok(loaded) => {
            // A run in progress finishes on the bundled model.
            while state.status.get_untracked() == Status::Running {
                sleep_ms(200).await;
                if !current() {
                    return;
                }
            }
            install_main(state, Rc::new(loaded));
            state.standby.set(Some(Standby::Moved { model }));
        }
        Err(LoadError::NoWebGpu(why) | LoadError::Other(why)) => {
            // The files' bars stop where they failed; the notice says why.
            let prefix = format!("{model}/");
            state
                .progress
                .update(|list| list.retain(|p| !p.file.starts_with(&prefix)));
            state.standby.set(Some(Standby::Failed { model, why }));
        }
    }
}

/// The user's choice: stay on the bundled target (the model picker says so,
/// and the download in progress is no longer waited for).
pub fn stay(state: AppState) {
    state.models.with_value(|m| m.begin_load());
    state.standby.set(Some(Standby::Stayed));
    state
        .settings
        .update(|s| s.model = BUNDLED_TARGET.to_string());
}
