//! The model bar: which model, where it runs, download progress, the page's
//! status and its errors in words.

use leptos::prelude::*;

use crate::actions::load_main;
use crate::instant::{self, Standby};
use crate::loader::Source;
use crate::settings::{server_address, DeviceChoice, MODELS};
use crate::speed::figure;
use crate::state::{AppState, Status};

/// Bytes for people: `12.3 MB`.
pub fn human_bytes(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
}

/// The model picker, the local-folder picker and the device.
#[component]
pub fn ModelBar() -> impl IntoView {
    let state = expect_context::<AppState>();
    let model = move || state.settings.with(|s| s.model.clone());
    let on_server = move || state.settings.with(|s| s.device == DeviceChoice::Server);
    let options = move || {
        let mut names: Vec<String> = if on_server() {
            state.server_models.get()
        } else {
            MODELS.iter().map(|m| m.to_string()).collect()
        };
        if !names.contains(&model()) {
            names.insert(0, model());
        }
        names
    };
    // A folder picker: `webkitdirectory` has no attribute of its own in the view macro.
    let folder = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(input) = folder.get() {
            input.set_webkitdirectory(true);
        }
    });
    view! {
        <div class="model-bar">
            <EnginePicker/>
            <label for="model">"Model"</label>
            <select id="model" data-testid="model" disabled=move || state.status.get() == Status::Running
                on:change=move |ev| {
                    let v = event_target_value(&ev);
                    state.settings.update(|s| s.model = v);
                    load_main(state, None);
                }>
                {move || options().into_iter().map(|m| {
                    let selected = m == model();
                    view! { <option value=m.clone() selected=selected>{m.clone()}</option> }
                }).collect_view()}
            </select>
            <label class="file-button" class:hidden=on_server>
                "Open a folder…"
                <input type="file" data-testid="local-folder" node_ref=folder multiple=true
                    on:change=move |ev| {
                        let input: web_sys::HtmlInputElement = event_target(&ev);
                        if let Some(list) = input.files() {
                            let files: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
                            let name = files.first()
                                .map(|f| {
                                    let path = js_sys::Reflect::get(f, &"webkitRelativePath".into())
                                        .ok().and_then(|p| p.as_string()).unwrap_or_default();
                                    path.split('/').next().unwrap_or("local").to_string()
                                })
                                .unwrap_or_else(|| "local".into());
                            load_main(state, Some(Source::Local { name, files }));
                        }
                    }/>
            </label>
            <span class="device" data-testid="device" data-model=move || state.main_name.get()>
                {move || {
                    let (name, device) = (state.main_name.get(), state.device.get());
                    if name.is_empty() { device } else { format!("{name} on {device}") }
                }}
            </span>
        </div>
    }
}

/// Where the model runs: this browser's GPU or CPU, or a native server, with
/// the server's address and token.
#[component]
fn EnginePicker() -> impl IntoView {
    let state = expect_context::<AppState>();
    let device = move || state.settings.with(|s| s.device);
    let idle = move || state.status.get() != Status::Running;
    view! {
        <label for="engine">"Engine"</label>
        <select id="engine" data-testid="engine" disabled=move || !idle()
            on:change=move |ev| {
                if let Some(d) = DeviceChoice::parse(&event_target_value(&ev)) {
                    state.settings.update(|s| s.device = d);
                    // A server waits for its address and token: Connect loads.
                    if d != DeviceChoice::Server {
                        load_main(state, None);
                    }
                }
            }>
            {DeviceChoice::ALL.into_iter().map(|d| view! {
                <option value=d.name() selected=move || device() == d>{d.label()}</option>
            }).collect_view()}
        </select>
        <Show when=move || device() == DeviceChoice::Server>
            <form class="server" on:submit=move |ev| { ev.prevent_default(); load_main(state, None); }>
                <input type="text" data-testid="server-address" aria-label="Server address" size="22"
                    title="gpt2 serve's address, as its ready line prints it"
                    prop:value=move || state.settings.with(|s| s.server.clone())
                    on:change=move |ev| match server_address(&event_target_value(&ev)) {
                        Ok(address) => state.settings.update(|s| s.server = address),
                        Err(why) => state.fail(format!("the server's address {why}")),
                    }/>
                <input type="password" data-testid="server-token" aria-label="Token" size="12"
                    placeholder="token" autocomplete="off"
                    title="The token gpt2 serve printed on its ready line; it never enters the page's address"
                    prop:value=move || state.token.get()
                    on:change=move |ev| state.token.set(event_target_value(&ev).trim().to_string())/>
                <button type="submit" data-testid="connect" disabled=move || !idle()>"Connect"</button>
            </form>
        </Show>
    }
}

/// Download progress of each file, the status, the forward-pass count and errors.
#[component]
pub fn StatusBar() -> impl IntoView {
    let state = expect_context::<AppState>();
    let use_cpu = move |_| {
        state.settings.update(|s| s.device = DeviceChoice::Cpu);
        let query = state.settings.with_untracked(|s| s.to_query());
        if let Some(w) = web_sys::window() {
            let _ = w.location().set_search(&query);
        }
    };
    view! {
        <div class="status-bar">
            <p class="status" data-testid="status" data-state=move || state.status.get().name() role="status">
                {move || match state.status.get() {
                    Status::Loading => "Loading the model…".to_string(),
                    Status::Ready => "Ready.".to_string(),
                    Status::Running => "Running…".to_string(),
                    Status::Done => "Done.".to_string(),
                    Status::Stopped => "Stopped.".to_string(),
                    Status::Error => "Something went wrong.".to_string(),
                }}
                " "
                <span class="forwards" data-testid="forward-count" data-count=move || state.forwards.get()>
                    {move || format!("{} forward passes", state.forwards.get())}
                </span>
                {move || state.speed.get().map(|s| view! {
                    <span class="speed" data-testid="run-speed"
                        data-decode-tps=s.decode_tps.map(|x| x.to_string())
                        data-prefill-tps=s.prefill_tps.map(|x| x.to_string())
                        title="The last run: new tokens after the first over the time after the prompt's pass; the prompt's tokens over that pass's time">
                        {format!("last run: decode {} tokens/s, prefill {} tokens/s",
                            figure(s.decode_tps), figure(s.prefill_tps))}
                    </span>
                })}
            </p>
            <ul class="progress-list">
                {move || state.progress.get().into_iter().map(|p| {
                    let fraction = if p.total > 0 { p.loaded as f64 / p.total as f64 } else { 0.0 };
                    let words = if p.done {
                        format!("{} {}", human_bytes(p.loaded as f64), if p.cached { "(from cache)" } else { "" })
                    } else if p.total > 0 {
                        format!("{} of {} · {}/s", human_bytes(p.loaded as f64), human_bytes(p.total as f64), human_bytes(p.speed))
                    } else {
                        format!("{} · {}/s", human_bytes(p.loaded as f64), human_bytes(p.speed))
                    };
                    view! {
                        <li data-testid="load-progress" data-file=p.file.clone() data-loaded=p.loaded
                            data-total=p.total data-done=p.done.to_string()>
                            <span class="file">{p.file.clone()}</span>
                            <progress max="1" value=if p.done { 1.0 } else { fraction }></progress>
                            <span class="bytes">{words}</span>
                        </li>
                    }
                }).collect_view()}
            </ul>
            {move || state.notices.get().into_iter().map(|n| view! { <p class="notice">{n}</p> }).collect_view()}
            {move || state.standby.get().map(|standby| {
                let waiting = matches!(standby, Standby::Waiting { .. });
                view! {
                    <p class="notice standby" data-testid="standby" data-state=standby.name()>
                        {standby.words()}
                        {waiting.then(|| view! {
                            " "
                            <button type="button" data-testid="stay-bundled"
                                on:click=move |_| instant::stay(state)>"Stay on bundled"</button>
                        })}
                    </p>
                }
            })}
            <Show when=move || state.error.get().is_some()>
                <div class="error" data-testid="error" role="alert">
                    <p>{move || state.error.get().unwrap_or_default()}</p>
                    <Show when=move || state.no_webgpu.get()>
                        <button type="button" data-testid="use-cpu" on:click=use_cpu>"Run on the CPU instead"</button>
                    </Show>
                </div>
            </Show>
        </div>
    }
}
