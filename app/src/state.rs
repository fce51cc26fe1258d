//! What the page knows, shared by its components through context: settings,
//! status, load progress, the current run's steps, scores. Everything here is
//! plain data in signals; the loaded models live in [`Models`], outside the
//! reactive graph.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use engine::backend::Model;
use engine::decoding::{SamplingParams, SequenceRecord, Step};
use engine::tokenizer::Tokenizer;
use leptos::prelude::*;

use crate::bench::BenchState;
use crate::settings::{Settings, Strategy};
use crate::speed::Speed;
use crate::surprise::PromptSurprise;

/// Where the page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Loading,
    Ready,
    Running,
    Done,
    Stopped,
    Error,
}

impl Status {
    /// The name in `data-state`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Loading => "loading",
            Status::Ready => "ready",
            Status::Running => "running",
            Status::Done => "done",
            Status::Stopped => "stopped",
            Status::Error => "error",
        }
    }
}

/// Download progress of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileProgress {
    /// `model/file`, e.g. `gpt2/model.safetensors`.
    pub file: String,
    pub loaded: u64,
    /// 0 when the server did not say.
    pub total: u64,
    pub done: bool,
    /// Served from the page's cache rather than the network.
    pub cached: bool,
    /// Bytes per second so far.
    pub speed: f64,
}

/// One step of a run as the page keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// The step as the engine reported it (a token step carries the raw
    /// logits it was chosen from, when the strategy read the whole row).
    pub step: Step,
    /// How many output tokens came before this step.
    pub before: usize,
    /// The step on the timeline, if it chose one token from a distribution.
    pub point: Option<crate::timeline::Point>,
}

/// One output token, as a chip.
#[derive(Debug, Clone, PartialEq)]
pub struct Chip {
    pub id: u32,
    pub text: String,
    /// The step that produced it (index into [`RunView::steps`]).
    pub step: usize,
}

/// The current (or last) run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub strategy: Strategy,
    /// The distribution the run's token steps were chosen from (greedy and
    /// sampling), to tell whether the sliders have moved since.
    pub sampling: Option<SamplingParams>,
    pub prompt_ids: Vec<u32>,
    pub chips: Vec<Chip>,
    pub text: String,
    pub steps: Vec<StepRecord>,
    /// A line of figures when the run ends (tokens/s, acceptance rate, ...).
    pub summary: String,
    /// What the run returned, once it ended without error: the export's
    /// sequences and stats.
    pub finished: Option<Finished>,
    /// The `gpt2 generate` command that reproduces the run.
    pub command: String,
    /// The forced choices it ran with (a branch; empty for the strategy's own run).
    pub forced: Vec<(usize, u32)>,
}

/// A run's returned sequences and figures, as `gpt2 generate --json` gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub sequences: Vec<SequenceRecord>,
    pub stats: serde_json::Map<String, serde_json::Value>,
}

impl RunView {
    /// An empty run of `strategy` after `prompt_ids`.
    pub fn new(strategy: Strategy, prompt_ids: Vec<u32>, sampling: Option<SamplingParams>) -> Self {
        RunView {
            strategy,
            sampling,
            prompt_ids,
            chips: Vec::new(),
            text: String::new(),
            steps: Vec::new(),
            summary: String::new(),
            finished: None,
            command: String::new(),
            forced: Vec::new(),
        }
    }

    /// The generated ids.
    pub fn ids(&self) -> Vec<u32> {
        self.chips.iter().map(|c| c.id).collect()
    }
}

/// One text of the scoring panel, scored.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredText {
    pub text: String,
    /// (token, log p(token | before)) for every token after `<|endoftext|>`.
    pub tokens: Vec<(String, f32)>,
    pub total: f32,
}

/// A model loaded in the page, with its tokenizer.
pub struct Loaded {
    /// The Hub repository it came from.
    pub name: String,
    pub model: Model,
    pub tokenizer: Tokenizer,
}

/// The loaded models and the stop switch: not reactive, not `Send`.
#[derive(Default)]
pub struct Models {
    pub main: RefCell<Option<Rc<Loaded>>>,
    pub second: RefCell<Option<Rc<Loaded>>>,
    /// The connection to `gpt2 serve`, when the models are a server's.
    pub server: RefCell<Option<crate::server::Connection>>,
    /// Set by Stop; the running strategy ends at its next forward pass.
    pub stop: Rc<Cell<bool>>,
    /// Counts the loads begun: a load that finds a later one begun since
    /// leaves the page to it.
    pub load: Cell<u64>,
}

impl Models {
    /// Begins a load: its number, for [`Models::is_latest`].
    pub fn begin_load(&self) -> u64 {
        self.load.set(self.load.get() + 1);
        self.load.get()
    }

    /// Whether load `number` is still the latest begun.
    pub fn is_latest(&self, number: u64) -> bool {
        self.load.get() == number
    }
}

/// The page's state, handed to every component through context.
#[derive(Clone, Copy)]
pub struct AppState {
    pub settings: RwSignal<Settings>,
    pub status: RwSignal<Status>,
    /// A failure, in words.
    pub error: RwSignal<Option<String>>,
    /// The error is a missing WebGPU: offer the CPU instead.
    pub no_webgpu: RwSignal<bool>,
    /// Settings from the URL that could not be used.
    pub notices: RwSignal<Vec<String>>,
    pub progress: RwSignal<Vec<FileProgress>>,
    /// Forward passes run so far, by every model.
    pub forwards: RwSignal<usize>,
    /// Where the model runs, in words.
    pub device: RwSignal<String>,
    /// The name of the main model loaded (empty until one is).
    pub main_name: RwSignal<String>,
    /// The instant start: running on the bundled target while the model
    /// asked for downloads ([`crate::instant`]).
    pub standby: RwSignal<Option<crate::instant::Standby>>,
    pub run: RwSignal<Option<RunView>>,
    /// The last run's speed, once it ended.
    pub speed: RwSignal<Option<Speed>>,
    /// `?bench=1`'s benchmark; `None` without it.
    pub bench: RwSignal<Option<BenchState>>,
    /// The step the chart and views show; `None` follows the latest.
    pub selected: RwSignal<Option<usize>>,
    pub scores: RwSignal<Vec<ScoredText>>,
    /// `gpt2 serve`'s token: from the URL's fragment or typed in, never
    /// written into the URL.
    pub token: RwSignal<String>,
    /// The models the connected server holds, by name.
    pub server_models: RwSignal<Vec<String>>,
    /// The last run's prompt, scored by its first pass.
    pub surprise: RwSignal<Option<PromptSurprise>>,
    /// The run and its branches.
    pub branches: RwSignal<crate::branches::BranchTree>,
    /// The compare lanes' last runs, lane 0 first (empty for one lane).
    pub lanes: RwSignal<Vec<crate::lanes::LaneRun>>,
    /// The lane whose run the step views show.
    pub lane: RwSignal<usize>,
    pub models: StoredValue<Models, LocalStorage>,
}

impl AppState {
    /// Fresh state for `settings`.
    pub fn new(settings: Settings, notices: Vec<String>, token: String) -> Self {
        let bench = settings
            .bench
            .then(|| BenchState::Running("waiting for the model".into()));
        AppState {
            settings: RwSignal::new(settings),
            status: RwSignal::new(Status::Loading),
            error: RwSignal::new(None),
            no_webgpu: RwSignal::new(false),
            notices: RwSignal::new(notices),
            progress: RwSignal::new(Vec::new()),
            forwards: RwSignal::new(0),
            device: RwSignal::new(String::new()),
            main_name: RwSignal::new(String::new()),
            standby: RwSignal::new(None),
            run: RwSignal::new(None),
            speed: RwSignal::new(None),
            bench: RwSignal::new(bench),
            selected: RwSignal::new(None),
            scores: RwSignal::new(Vec::new()),
            token: RwSignal::new(token),
            server_models: RwSignal::new(Vec::new()),
            surprise: RwSignal::new(None),
            branches: RwSignal::new(Default::default()),
            lanes: RwSignal::new(Vec::new()),
            lane: RwSignal::new(0),
            models: StoredValue::new_local(Models::default()),
        }
    }

    /// Shows `message` as the page's error.
    pub fn fail(&self, message: impl Into<String>) {
        self.error.set(Some(message.into()));
        self.status.set(Status::Error);
    }

    /// The main model, once loaded.
    pub fn main_model(&self) -> Option<Rc<Loaded>> {
        self.models.with_value(|m| m.main.borrow().clone())
    }
}
