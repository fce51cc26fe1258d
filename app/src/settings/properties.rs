//! Properties of the page's settings in the URL, on generated query strings:
//! any address gives settings and one message per value it could not use,
//! never a panic; the settings then survive `to_query` and back. The fuzz
//! target `settings_query` (scripts/fuzz) searches the same inputs by coverage.

use proptest::prelude::*;
use proptest::strategy::Strategy as _;

use engine::decoding::{DolaLayers, Stage};

use crate::settings::{ChainSettings, DeviceChoice, MethodSettings, Settings, Strategy};

/// The keys the page reads, and a few it does not.
const KEYS: [&str; 49] = [
    "lane1",
    "lane3",
    "force",
    "model",
    "second",
    "hub",
    "device",
    "strategy",
    "prompt",
    "temperature",
    "top_k",
    "top_p",
    "min_p",
    "beams",
    "max_new_tokens",
    "seed",
    "alpha",
    "lambda",
    "gamma",
    "bench",
    "typical_p",
    "epsilon_cutoff",
    "eta_cutoff",
    "top_h",
    "top_n_sigma",
    "repetition_penalty",
    "no_repeat_ngram_size",
    "presence_penalty",
    "frequency_penalty",
    "dry_multiplier",
    "dry_base",
    "dry_allowed_length",
    "dry_penalty_last_n",
    "dry_sequence_breakers",
    "xtc_probability",
    "xtc_threshold",
    "mirostat_tau",
    "mirostat_eta",
    "guidance_scale",
    "negative_prompt",
    "samplers",
    "penalty_alpha",
    "dola_layers",
    "num_beam_groups",
    "diversity_penalty",
    "max_matching_ngram_size",
    "",
    "x",
    "model ",
];

/// A value as a person or a broken link might write it.
fn value() -> impl prop::strategy::Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        "[-+0-9.eE]{0,8}",
        "[ /a-z:]{0,6}",
        prop::sample::select(vec![
            "NaN",
            "inf",
            "-0",
            "1e-45",
            "0x10",
            "1",
            "0",
            "true",
            "cpu",
            "webgpu",
            "beam",
            "speculative",
            " / ",
            "/",
            "http://h/ /",
            "%zz",
            "%E2%82",
            "[\"\\n\", \":\"]",
            "[1]",
            "top_k,temperature",
            "mirostat,top_k,top_k",
            "low",
            "high",
            "0, 2",
            "2,x",
            ",",
            "contrastive-search",
            "top_q",
            "+",
            "&",
            "=",
            "3:262",
            "0:1,2:3",
            "2:1,1:2",
            "1:50257",
        ])
        .prop_map(String::from),
    ]
}

/// A query string from `pairs`, escaped or (sometimes) raw.
fn query() -> impl prop::strategy::Strategy<Value = String> {
    let pair = (prop::sample::select(KEYS.to_vec()), value(), any::<bool>());
    prop_oneof![
        prop::collection::vec(pair, 0..8).prop_map(|pairs| {
            let mut q = String::from("?");
            for (key, value, raw) in pairs {
                if raw {
                    q.push_str(&format!("{key}={value}&"));
                } else {
                    let escaped: String =
                        form_urlencoded::byte_serialize(value.as_bytes()).collect();
                    q.push_str(&format!("{key}={escaped}&"));
                }
            }
            q
        }),
        "\\PC{0,48}",
    ]
}

/// A value in (0, 1], 1 (off) as often as not.
fn unit() -> impl prop::strategy::Strategy<Value = f32> {
    prop_oneof![Just(1.0f32), 0.001f32..=1.0]
}

/// A value in [0, hi], 0 (off) as often as not.
fn from_zero(hi: f32) -> impl prop::strategy::Strategy<Value = f32> {
    prop_oneof![Just(0.0f32), 0f32..=hi]
}

/// The chain's settings, each in the range the URL accepts.
fn valid_chain() -> impl prop::strategy::Strategy<Value = ChainSettings> {
    (
        (
            unit(),
            from_zero(0.99),
            from_zero(0.99),
            unit(),
            from_zero(10.0),
        ),
        (0.01f32..=10.0, 0usize..=32, -2f32..=2.0, -2f32..=2.0),
        (
            from_zero(10.0),
            1f32..=10.0,
            1usize..=64,
            0usize..=4096,
            prop::collection::vec("\\PC{0,3}", 0..4),
        ),
        (
            from_zero(1.0),
            0f32..=1.0,
            from_zero(20.0),
            0.001f32..=1.0,
            0f32..=10.0,
            "\\PC{0,12}",
            Just(Stage::DEFAULT_ORDER.to_vec()).prop_shuffle(),
        ),
    )
        .prop_map(|(truncation, penalties, dry, rest)| {
            let (typical_p, epsilon_cutoff, eta_cutoff, top_h, top_n_sigma) = truncation;
            let (repetition_penalty, no_repeat_ngram_size, presence_penalty, frequency_penalty) =
                penalties;
            let (dry_multiplier, dry_base, dry_allowed_length, dry_penalty_last_n, breakers) = dry;
            let (xtc_probability, xtc_threshold, mirostat_tau, mirostat_eta, guidance_scale) =
                (rest.0, rest.1, rest.2, rest.3, rest.4);
            ChainSettings {
                typical_p,
                epsilon_cutoff,
                eta_cutoff,
                top_h,
                top_n_sigma,
                repetition_penalty,
                no_repeat_ngram_size,
                presence_penalty,
                frequency_penalty,
                dry_multiplier,
                dry_base,
                dry_allowed_length,
                dry_penalty_last_n,
                dry_sequence_breakers: breakers,
                xtc_probability,
                xtc_threshold,
                mirostat_tau,
                mirostat_eta,
                guidance_scale,
                negative_prompt: rest.5,
                order: rest.6,
            }
        })
}

/// The methods' settings, each in the range the URL accepts.
fn valid_methods() -> impl prop::strategy::Strategy<Value = MethodSettings> {
    let layers = prop_oneof![
        Just(DolaLayers::Low),
        Just(DolaLayers::High),
        prop::collection::vec(0usize..48, 1..5).prop_map(DolaLayers::List),
    ];
    (0f32..=1.0, layers, 1usize..=16, 0f32..=10.0, 1usize..=16).prop_map(
        |(penalty_alpha, dola_layers, num_beam_groups, diversity_penalty, ngram)| MethodSettings {
            penalty_alpha,
            dola_layers,
            num_beam_groups,
            diversity_penalty,
            max_matching_ngram_size: ngram,
        },
    )
}

/// A branch's path: ascending steps below the longest run, GPT-2's ids.
fn valid_forced() -> impl prop::strategy::Strategy<Value = Vec<(usize, u32)>> {
    prop::collection::btree_map(0usize..512, 0u32..=50_256, 0..5)
        .prop_map(|path| path.into_iter().collect())
}

/// Settings the page can hold, a branch's path and compare lanes among them.
fn valid_settings() -> impl prop::strategy::Strategy<Value = Settings> {
    let lanes = prop::collection::vec(valid_settings_but_forced(), 0..=3);
    (valid_settings_but_forced(), valid_forced(), lanes).prop_map(|(settings, forced, lanes)| {
        Settings {
            forced,
            // A lane keeps its own settings only (the shared ones are lane 0's).
            lanes: lanes.iter().map(Settings::per_lane).collect(),
            ..settings
        }
    })
}

/// Settings the page can hold: text trimmed as `set` leaves it, numbers in range.
fn valid_settings_but_forced() -> impl prop::strategy::Strategy<Value = Settings> {
    let name = "[a-zA-Z0-9_./-]{1,20}";
    (
        (
            name,
            name,
            "https?://[a-z0-9.:]{1,12}(/[a-z]{1,5}){0,2}",
            0usize..DeviceChoice::ALL.len(),
            "wss?://[a-z0-9.:]{1,12}",
        ),
        (
            0usize..Strategy::ALL.len(),
            "\\PC{0,24}",
            0f32..=5.0,
            0usize..=50_257,
            0f32..=1.0,
            0f32..=1.0,
        ),
        (
            1usize..=16,
            1usize..=512,
            any::<u64>(),
            0f32..=1.0,
            0f32..=10.0,
            1usize..=16,
            any::<bool>(),
        ),
        valid_chain(),
        valid_methods(),
    )
        .prop_map(
            |(
                (model, second, hub, device, server),
                (strategy, prompt, temperature, top_k, top_p, min_p),
                rest,
                chain,
                methods,
            )| {
                let (beams, max_new_tokens, seed, alpha, lambda, gamma, bench) = rest;
                Settings {
                    model,
                    second,
                    hub,
                    device: DeviceChoice::ALL[device],
                    server,
                    strategy: Strategy::ALL[strategy],
                    prompt,
                    temperature,
                    top_k,
                    top_p: if top_p > 0.0 { top_p } else { 1.0 },
                    min_p,
                    beams,
                    max_new_tokens,
                    seed,
                    alpha,
                    lambda,
                    gamma,
                    bench,
                    chain,
                    methods,
                    forced: Vec::new(),
                    lanes: Vec::new(),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_query_gives_settings_and_a_message_per_unused_value(query in query()) {
        let (settings, problems) = Settings::from_query(&query);
        for problem in &problems {
            prop_assert!(problem.starts_with('?'), "{}", problem);
            prop_assert!(problem.ends_with("the default is used"), "{}", problem);
        }
        // What was read is usable: it goes back into a URL and reads the same.
        let written = settings.to_query();
        let (back, again) = Settings::from_query(&written);
        prop_assert!(again.is_empty(), "{:?} from {}", again, written);
        prop_assert_eq!(back, settings, "{}", written);
    }

    #[test]
    fn valid_settings_survive_the_url(settings in valid_settings()) {
        let written = settings.to_query();
        let (back, problems) = Settings::from_query(&written);
        prop_assert!(problems.is_empty(), "{:?} from {}", problems, written);
        prop_assert_eq!(back, settings, "{}", written);
    }

    #[test]
    fn a_value_that_cannot_be_used_leaves_the_setting_as_it_was(
        key in prop::sample::select(KEYS.to_vec()),
        value in value(),
    ) {
        let mut settings = Settings::default();
        if let Err(why) = settings.set(key, &value) {
            prop_assert_eq!(settings, Settings::default());
            prop_assert!(!why.is_empty());
        }
    }
}
