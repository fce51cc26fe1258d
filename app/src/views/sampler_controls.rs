//! The sampler chain's controls, grouped as the stages work: truncation
//! (which tokens stay), penalties (what the context lowers), adaptive (XTC,
//! mirostat: draws that change from step to step) and guidance. Only the
//! controls that apply show: the chain for sampling and speculative
//! decoding, XTC, mirostat and guidance for sampling alone (speculative
//! decoding verifies against the target's distribution as a function of the
//! context), a stage's secondary settings once the stage is on.

use leptos::prelude::*;

use crate::settings::{Settings, Strategy};
use crate::state::AppState;
use crate::views::fields::{Number, Slider, Text};
use crate::views::sampler_order::SamplerOrder;

/// `transformers`' logit processors, where several stages follow it.
const TRANSFORMERS: &str = "https://github.com/huggingface/transformers/blob/main/src/transformers/generation/logits_process.py";

/// `v` with `digits` decimals, or "off" at the slider's off end.
fn off_at(v: f32, off: f32, digits: usize) -> String {
    match v == off {
        true => "off".into(),
        false => format!("{v:.digits$}"),
    }
}

/// A group of controls under a heading.
#[component]
fn Group(
    /// `data-testid` is `group-<name>`.
    name: &'static str,
    title: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <fieldset class="group" data-testid=format!("group-{name}")>
            <legend>{title}</legend>
            {children()}
        </fieldset>
    }
}

/// Every stage's controls that apply to the chosen strategy, and the order.
#[component]
pub fn SamplerControls() -> impl IntoView {
    let state = expect_context::<AppState>();
    let strategy = move || state.settings.with(|s| s.strategy);
    let on = move |f: fn(&Settings) -> bool| move || state.settings.with(f);
    view! {
        <Show when=move || strategy().uses_sampling()>
            <Group name="truncation" title="Truncation">
                <Slider id="top-k" label="Top-k" min=0.0 max=100.0 step=1.0
                    get={|s| s.top_k as f32} set={|s, v| s.top_k = v as usize}
                    show={|v| if v == 0.0 { "off".into() } else { format!("{v}") }}
                    hint="Keeps the k most likely tokens" source="https://arxiv.org/abs/1805.04833"/>
                <Slider id="top-p" label="Top-p" min=0.01 max=1.0 step=0.01
                    get={|s| s.top_p} set={|s, v| s.top_p = v} show={|v| off_at(v, 1.0, 2)}
                    hint="Keeps the most likely tokens until their probabilities add up to p"
                    source="https://arxiv.org/abs/1904.09751"/>
                <Slider id="min-p" label="Min-p" min=0.0 max=1.0 step=0.01
                    get={|s| s.min_p} set={|s, v| s.min_p = v} show={|v| off_at(v, 0.0, 2)}
                    hint="Keeps tokens at least min-p times as likely as the most likely one"
                    source="https://arxiv.org/abs/2407.01082"/>
                <Slider id="typical-p" label="Typical-p" min=0.01 max=1.0 step=0.01
                    get={|s| s.chain.typical_p} set={|s, v| s.chain.typical_p = v} show={|v| off_at(v, 1.0, 2)}
                    hint="Keeps the tokens whose surprise is closest to the entropy, up to mass p"
                    source="https://arxiv.org/abs/2202.00666"/>
                <Slider id="epsilon-cutoff" label="ε-cutoff" min=0.0 max=0.01 step=0.0001
                    get={|s| s.chain.epsilon_cutoff} set={|s, v| s.chain.epsilon_cutoff = v} show={|v| off_at(v, 0.0, 4)}
                    hint="Cuts tokens less likely than ε"
                    source="https://arxiv.org/abs/2210.15191"/>
                <Slider id="eta-cutoff" label="η-cutoff" min=0.0 max=0.01 step=0.0001
                    get={|s| s.chain.eta_cutoff} set={|s, v| s.chain.eta_cutoff = v} show={|v| off_at(v, 0.0, 4)}
                    hint="Cuts tokens below min(ε, √ε·e^−entropy): a floor that falls as the entropy rises"
                    source="https://arxiv.org/abs/2210.15191"/>
                <Slider id="top-h" label="Top-H" min=0.01 max=1.0 step=0.01
                    get={|s| s.chain.top_h} set={|s, v| s.chain.top_h = v} show={|v| off_at(v, 1.0, 2)}
                    hint="Keeps the likeliest tokens while their entropy stays within H times the whole's"
                    source=TRANSFORMERS/>
                <Slider id="top-n-sigma" label="Top-nσ" min=0.0 max=5.0 step=0.1
                    get={|s| s.chain.top_n_sigma} set={|s, v| s.chain.top_n_sigma = v} show={|v| off_at(v, 0.0, 1)}
                    hint="Keeps logits within n standard deviations of the largest"
                    source="https://arxiv.org/abs/2411.07641"/>
            </Group>
            <Group name="penalties" title="Penalties">
                <Slider id="repetition-penalty" label="Repetition penalty" min=0.5 max=2.0 step=0.05
                    get={|s| s.chain.repetition_penalty} set={|s, v| s.chain.repetition_penalty = v} show={|v| off_at(v, 1.0, 2)}
                    hint="Divides (or multiplies, if negative) the logit of every token already in the text"
                    source="https://arxiv.org/abs/1909.05858"/>
                <Slider id="presence-penalty" label="Presence penalty" min=-2.0 max=2.0 step=0.05
                    get={|s| s.chain.presence_penalty} set={|s, v| s.chain.presence_penalty = v} show={|v| off_at(v, 0.0, 2)}
                    hint="Lowers every token generated so far by this much"
                    source="https://platform.openai.com/docs/advanced-usage#frequency-and-presence-penalties"/>
                <Slider id="frequency-penalty" label="Frequency penalty" min=-2.0 max=2.0 step=0.05
                    get={|s| s.chain.frequency_penalty} set={|s, v| s.chain.frequency_penalty = v} show={|v| off_at(v, 0.0, 2)}
                    hint="Lowers every token by this much per time it was generated"
                    source="https://platform.openai.com/docs/advanced-usage#frequency-and-presence-penalties"/>
                <Number id="no-repeat-ngram-size" label="No repeated n-grams of size (0: off)" min=0 max=32
                    get={|s| s.chain.no_repeat_ngram_size as u64} set={|s, v| s.chain.no_repeat_ngram_size = v as usize}
                    hint="Bans a token that would repeat an n-gram of the text"
                    source="https://arxiv.org/abs/1705.04304"/>
                <Slider id="dry-multiplier" label="DRY multiplier" min=0.0 max=2.0 step=0.05
                    get={|s| s.chain.dry_multiplier} set={|s, v| s.chain.dry_multiplier = v} show={|v| off_at(v, 0.0, 2)}
                    hint="Don't Repeat Yourself: lowers a token that would extend a repeat of earlier text, more the longer the repeat"
                    source="https://github.com/oobabooga/text-generation-webui/pull/5677"/>
                <Show when=on(|s| s.chain.dry_multiplier > 0.0)>
                    <Slider id="dry-base" label="DRY base" min=1.0 max=4.0 step=0.05
                        get={|s| s.chain.dry_base} set={|s, v| s.chain.dry_base = v} show={|v| format!("{v:.2}")}
                        hint="The penalty is multiplier · base^(repeat length − allowed length)"/>
                    <Number id="dry-allowed-length" label="DRY allowed length" min=1 max=64
                        get={|s| s.chain.dry_allowed_length as u64} set={|s, v| s.chain.dry_allowed_length = v as usize}
                        hint="Repeats shorter than this go unpenalised"/>
                    <Number id="dry-penalty-last-n" label="DRY last n tokens (0: all)" min=0 max=4096
                        get={|s| s.chain.dry_penalty_last_n as u64} set={|s, v| s.chain.dry_penalty_last_n = v as usize}
                        hint="How far back DRY looks for repeats"/>
                    <Text id="dry-sequence-breakers" label="DRY sequence breakers"
                        get={|s| serde_json::to_string(&s.chain.dry_sequence_breakers).unwrap_or_default()}
                        set={|s, v| s.chain.set("dry_sequence_breakers", v).map(|_| ())}
                        hint="A JSON list of strings that end a repeat (each is mapped to its token)"/>
                </Show>
            </Group>
            <Show when=move || strategy() == Strategy::Sample>
                <Group name="adaptive" title="Adaptive">
                    <Slider id="xtc-probability" label="XTC probability" min=0.0 max=1.0 step=0.01
                        get={|s| s.chain.xtc_probability} set={|s, v| s.chain.xtc_probability = v} show={|v| off_at(v, 0.0, 2)}
                        hint="Exclude Top Choices: with this chance per step, cuts every token above the threshold but the least likely"
                        source="https://github.com/oobabooga/text-generation-webui/pull/6335"/>
                    <Show when=on(|s| s.chain.xtc_probability > 0.0)>
                        <Slider id="xtc-threshold" label="XTC threshold" min=0.0 max=0.5 step=0.01
                            get={|s| s.chain.xtc_threshold} set={|s, v| s.chain.xtc_threshold = v} show={|v| format!("{v:.2}")}
                            hint="Tokens at least this likely are the top choices"/>
                    </Show>
                    <Slider id="mirostat-tau" label="Mirostat τ (bits)" min=0.0 max=10.0 step=0.1
                        get={|s| s.chain.mirostat_tau} set={|s, v| s.chain.mirostat_tau = v} show={|v| off_at(v, 0.0, 1)}
                        hint="Mirostat 2.0: cuts tokens more surprising than μ, and moves μ so the surprise stays near τ"
                        source="https://arxiv.org/abs/2007.14966"/>
                    <Show when=on(|s| s.chain.mirostat_tau > 0.0)>
                        <Slider id="mirostat-eta" label="Mirostat η" min=0.01 max=1.0 step=0.01
                            get={|s| s.chain.mirostat_eta} set={|s, v| s.chain.mirostat_eta = v} show={|v| format!("{v:.2}")}
                            hint="How fast μ follows the surprise of the chosen tokens"/>
                    </Show>
                </Group>
                <Group name="guidance" title="Guidance">
                    <Slider id="guidance-scale" label="Guidance scale" min=0.0 max=5.0 step=0.05
                        get={|s| s.chain.guidance_scale} set={|s, v| s.chain.guidance_scale = v} show={|v| off_at(v, 1.0, 2)}
                        hint="Classifier-free guidance: above 1 pushes away from the negative prompt"
                        source="https://arxiv.org/abs/2306.17806"/>
                    <Show when=on(|s| s.chain.guidance_scale != 1.0)>
                        <Text id="negative-prompt" label="Negative prompt"
                            get={|s| s.chain.negative_prompt.clone()}
                            set={|s, v| { s.chain.negative_prompt = v.to_string(); Ok(()) }}
                            hint="The text to steer away from (empty: the prompt's last token alone)"/>
                    </Show>
                </Group>
            </Show>
            <SamplerOrder/>
        </Show>
    }
}
