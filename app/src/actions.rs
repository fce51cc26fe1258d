//! What the buttons do: load the model, generate, stop, score.

use std::rc::Rc;

use engine::decoding::score;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::bench::{self, BenchState};
use crate::instant;
use crate::loader::{load_model, LoadError, Source};
use crate::runner::{run, token_text};
use crate::server;
use crate::settings::{starts_on_bundled, DeviceChoice, Settings};
use crate::state::{AppState, Loaded, ScoredText, Status};
use crate::tracked::Tracked;

/// Loads the main model named by the settings (or the local folder given),
/// replacing the one loaded: fetched from the Hub onto this browser's
/// device, or a native server's, connected to anew. One of the picker's Hub
/// models starts the page on the bundled target while it downloads
/// ([`crate::instant`]).
pub fn load_main(state: AppState, local: Option<Source>) {
    state.status.set(Status::Loading);
    state.error.set(None);
    state.no_webgpu.set(false);
    state.progress.set(Vec::new());
    state.standby.set(None);
    if state.settings.with_untracked(|s| s.bench) {
        state
            .bench
            .set(Some(BenchState::Running("loading the model".into())));
    }
    let load = state.models.with_value(|m| {
        m.main.borrow_mut().take();
        m.second.borrow_mut().take();
        m.begin_load()
    });
    spawn_local(async move {
        let settings = state.settings.get_untracked();
        let source = match local {
            None if settings.device == DeviceChoice::Server => None,
            None => Some(Source::named(&settings.hub, &settings.model)),
            local => local,
        };
        let instant = matches!(source, Some(Source::Hub { .. }))
            && starts_on_bundled(&settings)
            && !settings.bench;
        let mut loaded = match &source {
            None => load_from_server(state, &settings).await,
            Some(_) if instant => load_model(state, &settings, &instant::bundled()).await,
            Some(source) => load_model(state, &settings, source).await,
        };
        let mut follow = instant;
        if let (true, Err(_), Some(source)) = (instant, &loaded, &source) {
            // No bundled model beside the page: load the one asked for alone.
            follow = false;
            loaded = load_model(state, &settings, source).await;
        }
        if !state.models.with_value(|m| m.is_latest(load)) {
            return;
        }
        match loaded {
            Ok(loaded) => {
                let loaded = Rc::new(loaded);
                install_main(state, loaded.clone());
                if settings.bench {
                    run_bench(state, loaded).await;
                }
                state.status.set(Status::Ready);
            }
            Err(e) => {
                if settings.bench {
                    let why = "the model did not load (the page's error says why)";
                    state.bench.set(Some(BenchState::Error(why.into())));
                }
                return report_load_error(state, e);
            }
        }
        if let (true, Some(source)) = (follow, source) {
            instant::follow(state, &settings, source, load).await;
        }
    });
}

/// Makes `loaded` the main model (and forgets the second model, which was
/// picked for the one before).
pub(crate) fn install_main(state: AppState, loaded: Rc<Loaded>) {
    state
        .device
        .set(crate::threads::device_label(&loaded.model));
    state.main_name.set(loaded.name.clone());
    state.models.with_value(|m| {
        *m.main.borrow_mut() = Some(loaded);
        m.second.borrow_mut().take();
    });
}

/// The main model from the server the settings name: a new connection, and
/// the server's model of the settings' name (else its first, which the
/// settings then name).
async fn load_from_server(state: AppState, settings: &Settings) -> Result<Loaded, LoadError> {
    let token = state.token.get_untracked();
    let remote = server::connect(state, &settings.server, &token).await?;
    let index = server::pick_main(&state.server_models.get_untracked(), &settings.model);
    let loaded = server::load(&remote, index).await?;
    if loaded.name != settings.model {
        state.settings.update(|s| s.model = loaded.name.clone());
    }
    Ok(loaded)
}

/// `?bench=1`: the benchmark on the model just loaded, the page running meanwhile.
async fn run_bench(state: AppState, main: Rc<Loaded>) {
    state.status.set(Status::Running);
    state.models.with_value(|m| m.stop.set(false));
    let outcome = match bench::run(state, main).await {
        Ok(result) => BenchState::Done(result),
        Err(e) => BenchState::Error(e.to_string()),
    };
    state.bench.set(Some(outcome));
}

fn report_load_error(state: AppState, e: LoadError) {
    match e {
        LoadError::NoWebGpu(message) => {
            state.no_webgpu.set(true);
            state.fail(message);
        }
        LoadError::Other(message) => state.fail(message),
    }
}

/// Whether Generate and Score can start now.
pub fn can_start(state: AppState) -> bool {
    matches!(
        state.status.get(),
        Status::Ready | Status::Done | Status::Stopped
    ) || (state.status.get() == Status::Error && state.main_model().is_some())
}

/// Runs the chosen strategy, loading the second model first if it needs one.
pub fn generate(state: AppState) {
    let Some(main) = state.main_model() else {
        return;
    };
    if state.status.get_untracked() == Status::Running {
        return;
    }
    let settings = state.settings.get_untracked();
    state.models.with_value(|m| m.stop.set(false));
    state.error.set(None);
    state.status.set(Status::Running);
    spawn_local(async move {
        let second = if settings
            .decoding(None)
            .is_ok_and(|d| d.second_model().is_some())
        {
            match second_model(state, &settings).await {
                Ok(s) => Some(s),
                Err(e) => return report_load_error(state, e),
            }
        } else {
            None
        };
        let result = if settings.lanes.is_empty() {
            state.lanes.set(Vec::new());
            state.lane.set(0);
            run(state, settings.clone(), main, second).await
        } else {
            crate::lanes::run_all(state, &settings, main, second).await
        };
        let stopped = state.models.with_value(|m| m.stop.get());
        match result {
            Ok(summary) => {
                state.run.update(|r| {
                    if let Some(r) = r {
                        r.summary = summary
                    }
                });
                if let Some(run) = state.run.get_untracked().filter(|_| !stopped) {
                    state.branches.update(|tree| tree.keep(&settings, run));
                }
                state.status.set(if stopped {
                    Status::Stopped
                } else {
                    Status::Done
                });
            }
            Err(_) if stopped => state.status.set(Status::Stopped),
            Err(e) => state.fail(e.to_string()),
        }
    });
}

/// The amateur / draft model, loaded on first use (and again when its name changes).
pub(crate) async fn second_model(
    state: AppState,
    settings: &Settings,
) -> Result<Rc<Loaded>, LoadError> {
    let name = settings.second_for(&state.main_name.get_untracked());
    let have = state.models.with_value(|m| m.second.borrow().clone());
    if let Some(s) = have.filter(|s| s.name == name) {
        return Ok(s);
    }
    let loaded = if settings.device == DeviceChoice::Server {
        let remote = server::open_connection(state)
            .ok_or_else(|| LoadError::Other("not connected to the server: press Connect".into()))?;
        let names = state.server_models.get_untracked();
        let index = server::pick_second(&names, &settings.model, &settings.second)
            .map_err(LoadError::Other)?;
        let loaded = server::load(&remote, index).await?;
        if loaded.name != settings.second {
            state.settings.update(|s| s.second = loaded.name.clone());
        }
        Rc::new(loaded)
    } else {
        let source = Source::named(&settings.hub, &name);
        Rc::new(load_model(state, settings, &source).await?)
    };
    let main_vocab = state.main_model().map(|m| m.tokenizer.vocab_size());
    if main_vocab != Some(loaded.tokenizer.vocab_size()) {
        return Err(LoadError::Other(format!(
            "{name} has a different vocabulary from the main model: the second model must share its tokenizer"
        )));
    }
    state
        .models
        .with_value(|m| *m.second.borrow_mut() = Some(loaded.clone()));
    Ok(loaded)
}

/// Asks the running strategy to stop at its next forward pass.
pub fn stop(state: AppState) {
    state.models.with_value(|m| m.stop.set(true));
}

/// Scores each text after `<|endoftext|>` with the main model.
pub fn score_texts(state: AppState, texts: Vec<String>) {
    let Some(main) = state.main_model() else {
        return;
    };
    let previous = state.status.get_untracked();
    state.status.set(Status::Running);
    state.models.with_value(|m| m.stop.set(false));
    spawn_local(async move {
        let model = Tracked {
            model: &main.model,
            forwards: state.forwards,
            stop: state.models.with_value(|m| m.stop.clone()),
            passes: None,
            yields: true,
        };
        let mut results = Vec::new();
        for text in texts.into_iter().filter(|t| !t.trim().is_empty()) {
            let tokenizer = &main.tokenizer;
            let scored = async {
                let eos = tokenizer.eos_token_id().unwrap_or(50256);
                let mut ids = vec![eos];
                ids.extend(tokenizer.encode(&text)?);
                let logprobs = score(&model, &ids).await?;
                let tokens: Vec<(String, f32)> = ids[1..]
                    .iter()
                    .zip(&logprobs)
                    .map(|(&id, &lp)| (token_text(tokenizer, id), lp))
                    .collect();
                let total = logprobs.iter().sum();
                Ok::<_, engine::Error>(ScoredText {
                    text: text.clone(),
                    tokens,
                    total,
                })
            };
            match scored.await {
                Ok(s) => results.push(s),
                Err(e) => return state.fail(format!("scoring \"{text}\": {e}")),
            }
        }
        state.scores.set(results);
        state.status.set(match previous {
            Status::Running | Status::Loading | Status::Error => Status::Ready,
            s => s,
        });
    });
}

/// Continues the shown run from `step` with token `id` chosen instead: a
/// new branch, its path that run's choices before `step` and this one.
pub fn branch(state: AppState, step: usize, id: u32) {
    let Some(path) = state.run.with_untracked(|r| {
        r.as_ref()
            .map(|r| crate::settings::forced::branch_at(&r.forced, step, id))
    }) else {
        return;
    };
    state.settings.update(|s| s.forced = path);
    generate(state);
}

/// Shows branch `index` of the tree again: its kept run while the settings
/// are those it ran under, else a new run along its path.
pub fn reopen_branch(state: AppState, index: usize) {
    if state.status.get_untracked() == Status::Running {
        return;
    }
    let settings = state.settings.get_untracked();
    let Some(branch) = state
        .branches
        .with_untracked(|t| t.reopen(index, &settings))
    else {
        return;
    };
    state.settings.update(|s| s.forced = branch.forced);
    match branch.run {
        Some(run) => {
            state.run.set(Some(run));
            state.selected.set(None);
        }
        None => generate(state),
    }
}
