//! Any query string as the page's address: `Settings::from_query` gives
//! settings and messages, never a panic, and the settings survive `to_query`.
//!
//! The page's settings module is compiled here on its own, so that fuzzing
//! does not build Leptos and web-sys; it needs only the engine and
//! `form_urlencoded`.
#![no_main]

#[path = "../../app/src/settings/mod.rs"]
#[allow(dead_code)]
mod settings;

use libfuzzer_sys::fuzz_target;
use settings::Settings;

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    let (settings, _problems) = Settings::from_query(&query);
    let written = settings.to_query();
    let (back, problems) = Settings::from_query(&written);
    assert!(problems.is_empty(), "{problems:?} from {written}");
    assert_eq!(back, settings, "query was {written}");
    let _ = settings.decoding(None);
});
