//! Export and reproduce: the finished run's step events as a JSON file (the
//! form `gpt2 generate --json --steps` prints), and the `gpt2 generate`
//! command that reproduces the run natively from the page's settings.

use leptos::prelude::*;

use crate::state::{AppState, Status};

/// The download link (once a run has ended) and the command line.
#[component]
pub fn RunExport() -> impl IntoView {
    let state = expect_context::<AppState>();
    // A Blob URL of the finished run's JSON, made once per run, the last revoked.
    let url = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let json = match state.status.get() {
            Status::Done => state.run.with(|r| {
                r.as_ref()
                    .and_then(crate::export::record)
                    .and_then(|rec| rec.to_json().ok())
            }),
            _ => None,
        };
        if let Some(old) = url.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&old);
        }
        url.set(json.and_then(|j| blob_url(&j)));
    });
    // The command of the run shown (its settings as it started), or of the
    // current settings before the first run.
    let command = move || {
        let of_run = state.run.with(|r| r.as_ref().map(|r| r.command.clone()));
        of_run.unwrap_or_else(|| {
            let local = state.main_model().and_then(|m| local_name(&m.name, &state));
            state.settings.with(|s| s.command_line(local.as_deref()))
        })
    };
    view! {
        <section class="export-panel" aria-label="Export and reproduce">
            <h2>"Reproduce"</h2>
            <p class="hint">"The gpt2 command that reproduces the run natively (on the CPU, with the same ids):"</p>
            <pre class="command"><code data-testid="reproduce">{command}</code></pre>
            <Show when=move || url.with(Option::is_some)
                fallback=|| view! { <p class="hint">"Once a run has finished, its steps can be downloaded as JSON."</p> }>
                <a class="button" data-testid="export-json" download="gpt2-run.json"
                    href=move || url.get().unwrap_or_default()>
                    "Download the run's steps (JSON, as gpt2 generate --json --steps)"
                </a>
            </Show>
        </section>
    }
}

/// The model's folder name, when it was opened from disk rather than the
/// settings' Hub repository.
pub fn local_name(loaded: &str, state: &AppState) -> Option<String> {
    state
        .settings
        .with_untracked(|s| loaded != s.model)
        .then(|| loaded.to_string())
}

/// An object URL for `text` as a JSON file.
fn blob_url(text: &str) -> Option<String> {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
    web_sys::Url::create_object_url_with_blob(&blob).ok()
}
