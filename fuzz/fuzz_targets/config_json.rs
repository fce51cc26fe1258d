//! Any text as a `config.json`: refused with an `Error`, or a valid config
//! whose sizes are computed without overflow and that survives `to_json`.
#![no_main]

use engine::config::{Gpt2Config, MAX_PARAMS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Gpt2Config::from_json(text) else {
        return;
    };
    assert!(config.num_params() as u64 <= MAX_PARAMS);
    let _ = (config.head_dim(), config.n_inner());
    let back = Gpt2Config::from_json(&config.to_json()).expect("a valid config reads back");
    assert_eq!(back, config);
});
