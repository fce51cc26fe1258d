//! The controls of contrastive search, DoLa, diverse beam search and prompt
//! lookup (each shown for its method only), and the engine's word on the
//! settings when they cannot run together.

use engine::backend::LanguageModel;
use engine::decoding::DraftSource;
use leptos::prelude::*;

use crate::settings::methods::contrastive_k;
use crate::settings::Strategy;
use crate::state::AppState;
use crate::views::fields::{Number, Slider, Text};

/// Su et al. 2022, contrastive search.
const CONTRASTIVE_SEARCH: &str = "https://arxiv.org/abs/2202.06417";
/// Chuang et al. 2023, DoLa.
const DOLA: &str = "https://arxiv.org/abs/2309.03883";
/// Vijayakumar et al. 2016, diverse beam search.
const DIVERSE_BEAM: &str = "https://arxiv.org/abs/1610.02424";
/// Prompt lookup decoding, as transformers takes it.
const PROMPT_LOOKUP: &str = "https://github.com/apoorvumang/prompt-lookup-decoding";

/// Why the settings cannot run with the loaded model (see
/// [`crate::settings::Settings::problem`]), followed as the settings change
/// and as a model loads.
pub fn settings_problem(state: AppState) -> Option<String> {
    state.status.track();
    let n_layer = state.main_model().map(|m| m.model.config().n_layer);
    state.settings.with(|s| s.problem(n_layer))
}

/// The methods' own controls and, below them, why the settings cannot run.
#[component]
pub fn MethodControls() -> impl IntoView {
    let state = expect_context::<AppState>();
    let strategy = move || state.settings.with(|s| s.strategy);
    let prompt_lookup = move || {
        state
            .settings
            .with(|s| s.strategy == Strategy::Speculative && s.second == DraftSource::PROMPT_LOOKUP)
    };
    let problem = move || settings_problem(state);
    view! {
        <Show when=move || strategy() == Strategy::ContrastiveSearch>
            <Slider id="penalty-alpha" label="Degeneration penalty α" min=0.0 max=1.0 step=0.05
                get={|s| s.methods.penalty_alpha} set={|s, v| s.methods.penalty_alpha = v}
                show={|v| if v == 0.0 { "0 (greedy)".into() } else { format!("{v:.2}") }}
                hint="score = (1 − α)·p(token) − α·(its largest cosine similarity to the text so far)"
                source=CONTRASTIVE_SEARCH/>
            <Number id="contrastive-k" label="Candidates k" min=1 max=100
                get={|s| contrastive_k(s.top_k) as u64} set={|s, v| s.top_k = v as usize}
                hint="The k most likely tokens compared at each step (top-k, as --top-k)"
                source=CONTRASTIVE_SEARCH/>
        </Show>
        <Show when=move || strategy() == Strategy::Dola>
            <Text id="dola-layers" label="Premature layers"
                get={|s| s.methods.dola_layers.to_string()}
                set={|s, v| s.methods.set("dola_layers", v).map(|_| ())}
                hint="Layers contrasted with the last: low, high, or numbers such as 0,1 (0 is the embeddings)"
                source=DOLA/>
            <Slider id="repetition-penalty" label="Repetition penalty" min=0.5 max=2.0 step=0.05
                get={|s| s.chain.repetition_penalty} set={|s, v| s.chain.repetition_penalty = v}
                show={|v| if v == 1.0 { "off".into() } else { format!("{v:.2}") }}
                hint="Applied to the contrast of the tokens already in the text (transformers recommends 1.2)"
                source="https://arxiv.org/abs/1909.05858"/>
        </Show>
        <Show when=move || strategy() == Strategy::Beam>
            <Number id="num-beam-groups" label="Beam groups G" min=1 max=16
                get={|s| s.methods.num_beam_groups as u64} set={|s, v| s.methods.num_beam_groups = v as usize}
                hint="Splits the beams into G groups that search one after another (G must divide the beams)"
                source=DIVERSE_BEAM/>
            <Slider id="diversity-penalty" label="Diversity penalty D" min=0.0 max=2.0 step=0.05
                get={|s| s.methods.diversity_penalty} set={|s, v| s.methods.diversity_penalty = v}
                show={|v| if v == 0.0 { "off".into() } else { format!("{v:.2}") }}
                hint="Lowers a token's score by D for each earlier group's beam that chose it at this step"
                source=DIVERSE_BEAM/>
        </Show>
        <Show when=prompt_lookup>
            <Number id="max-matching-ngram-size" label="Longest n-gram looked up" min=1 max=16
                get={|s| s.methods.max_matching_ngram_size as u64}
                set={|s, v| s.methods.max_matching_ngram_size = v as usize}
                hint="The draft copies what followed the text's last n-gram where it occurred before, n from this down to 1"
                source=PROMPT_LOOKUP/>
        </Show>
        {move || problem().map(|p| view! {
            <p class="field-problem" data-testid="settings-problem" role="alert">{p}</p>
        })}
    }
}
