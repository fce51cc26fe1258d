//! The settings and their URL form.

use super::*;
// Natively plain tests; on wasm32 the same tests through wasm-bindgen-test.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn settings_survive_the_round_trip_through_the_url() {
    let s = Settings {
        model: "gpt2-medium".into(),
        hub: "http://127.0.0.1:8080/mirror".into(),
        device: DeviceChoice::Cpu,
        strategy: Strategy::Sample,
        prompt: "See you later, alligator & co. 100% ünïcode".into(),
        temperature: 0.7,
        top_k: 40,
        top_p: 0.9,
        min_p: 0.05,
        seed: 42,
        bench: true,
        ..Settings::default()
    };
    let query = s.to_query();
    let (back, problems) = Settings::from_query(&query);
    assert!(problems.is_empty(), "{problems:?} from {query}");
    assert_eq!(back, s, "query was {query}");
}

#[test]
fn bench_is_one_in_the_url_and_absent_when_off() {
    let (s, problems) = Settings::from_query("?model=gpt2&bench=1");
    assert!(problems.is_empty(), "{problems:?}");
    assert!(s.bench);
    assert_eq!(s.to_query(), "?model=gpt2&bench=1");
    let (off, problems) = Settings::from_query("?bench=0");
    assert!(problems.is_empty(), "{problems:?}");
    assert!(!off.bench);
    assert_eq!(off.to_query(), "?model=gpt2");
    let (bad, problems) = Settings::from_query("?bench=yes");
    assert!(!bad.bench);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("1 or 0"), "{}", problems[0]);
}

#[test]
fn defaults_leave_the_url_short() {
    assert_eq!(Settings::default().to_query(), "?model=gpt2");
}

#[test]
fn bad_values_are_reported_and_replaced_by_defaults() {
    let (s, problems) = Settings::from_query("?top_p=0&strategy=magic&top_k=abc&beams=3");
    assert_eq!(s.top_p, 1.0);
    assert_eq!(s.strategy, Strategy::Greedy);
    assert_eq!(s.beams, 3);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("(0, 1]"), "{}", problems[0]);
}

#[test]
fn sliders_at_their_off_end_turn_the_cuts_off() {
    let off = Settings::default().sampling(None).unwrap();
    assert_eq!((off.top_k, off.top_p, off.min_p), (None, None, None));
    let on = Settings {
        top_k: 5,
        top_p: 0.5,
        min_p: 0.1,
        ..Settings::default()
    }
    .sampling(None)
    .unwrap();
    assert_eq!(
        (on.top_k, on.top_p, on.min_p),
        (Some(5), Some(0.5), Some(0.1))
    );
    on.validate().unwrap();
}

#[test]
fn plus_and_percent_escapes_decode() {
    let pairs = parse_query("?prompt=See+you%2C%20later&x=%zz&&y=%2C");
    assert_eq!(pairs[0].1, "See you, later");
    assert_eq!(pairs[1].1, "%zz");
    assert_eq!(pairs[2], ("y".to_string(), ",".to_string()));
}

#[test]
fn a_hub_of_only_slashes_and_spaces_is_empty() {
    // "/ " once became an empty hub, and "h/ /" the hub "h/ ": neither
    // read back the same from the URL the page then wrote.
    let (s, problems) = Settings::from_query("?hub=%2F+");
    assert_eq!(s.hub, Settings::default().hub);
    assert!(problems[0].contains("is empty"), "{problems:?}");
    let (s, problems) = Settings::from_query("?hub=http%3A%2F%2Fh%2F+%2F");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(s.hub, "http://h");
    assert_eq!(Settings::from_query(&s.to_query()).0, s);
}

#[test]
fn the_url_escapes_what_a_query_value_cannot_hold() {
    let s = Settings {
        prompt: "a b&c=d+e%".into(),
        ..Settings::default()
    };
    assert_eq!(s.to_query(), "?model=gpt2&prompt=a+b%26c%3Dd%2Be%25");
}

/// Every stage of the chain on, off its default.
fn chain_on() -> ChainSettings {
    use engine::decoding::Stage;
    let mut order = Stage::DEFAULT_ORDER.to_vec();
    order.swap(8, 9);
    ChainSettings {
        typical_p: 0.9,
        epsilon_cutoff: 0.0003,
        eta_cutoff: 0.002,
        top_h: 0.5,
        top_n_sigma: 1.5,
        repetition_penalty: 1.2,
        no_repeat_ngram_size: 3,
        presence_penalty: 0.5,
        frequency_penalty: -0.25,
        dry_multiplier: 0.8,
        dry_base: 2.0,
        dry_allowed_length: 3,
        dry_penalty_last_n: 64,
        dry_sequence_breakers: vec!["\n".into(), ",".into(), "é & =".into()],
        xtc_probability: 0.5,
        xtc_threshold: 0.2,
        mirostat_tau: 4.0,
        mirostat_eta: 0.2,
        guidance_scale: 1.5,
        negative_prompt: "Goodbye, & farewell".into(),
        order,
    }
}

#[test]
fn every_stage_of_the_chain_survives_the_url() {
    let s = Settings {
        strategy: Strategy::Sample,
        chain: chain_on(),
        ..Settings::default()
    };
    let query = s.to_query();
    for key in [
        "typical_p=0.9",
        "xtc_probability=0.5",
        "samplers=",
        "dry_sequence_breakers=",
    ] {
        assert!(query.contains(key), "{key} missing from {query}");
    }
    let (back, problems) = Settings::from_query(&query);
    assert!(problems.is_empty(), "{problems:?} from {query}");
    assert_eq!(back, s, "query was {query}");
}

#[test]
fn bad_chain_values_are_reported_and_replaced_by_defaults() {
    let (s, problems) = Settings::from_query(
        "?typical_p=0&xtc_probability=2&samplers=top_k,top_q&dry_sequence_breakers=%5B1%5D&top_h=0.5",
    );
    assert_eq!(
        s.chain,
        ChainSettings {
            top_h: 0.5,
            ..ChainSettings::default()
        }
    );
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems[0].contains("(0, 1]"), "{}", problems[0]);
    assert!(
        problems[2].contains("\"top_q\" is not a sampler"),
        "{}",
        problems[2]
    );
    assert!(
        problems[3].contains("JSON list of strings"),
        "{}",
        problems[3]
    );
    let (twice, problems) = Settings::from_query("?samplers=top_k,top_k");
    assert_eq!(twice.chain.order, ChainSettings::default().order);
    assert!(problems[0].contains("twice"), "{problems:?}");
}

#[test]
fn a_partial_order_is_completed_in_the_default_order() {
    use engine::decoding::Stage;
    let (s, problems) = Settings::from_query("?samplers=temperature,top_k");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(&s.chain.order[..2], [Stage::Temperature, Stage::TopK]);
    assert_eq!(s.chain.order.len(), Stage::DEFAULT_ORDER.len());
    assert_eq!(Settings::from_query(&s.to_query()).0, s);
    let mut moved = ChainSettings::default();
    moved.move_stage(Stage::TopK, true);
    moved.move_stage(Stage::Guidance, true);
    moved.move_stage(Stage::Mirostat, false);
    assert_eq!(moved.order[7], Stage::TopK);
    assert_eq!(moved.order[8], Stage::TopNSigma);
    assert_eq!(moved.order[0], Stage::Guidance);
    assert_eq!(moved.order.last(), Some(&Stage::Mirostat));
}

#[test]
fn the_chain_becomes_the_engines_sampling_params() {
    let tokenizer = engine::tokenizer::Tokenizer::from_bytes(include_bytes!(
        "../../../engine/assets/tokenizer.json"
    ))
    .unwrap();
    let s = Settings {
        strategy: Strategy::Sample,
        chain: chain_on(),
        ..Settings::default()
    };
    let p = s.sampling(Some(&tokenizer)).unwrap();
    p.validate().unwrap();
    assert_eq!(
        (p.typical_p, p.epsilon_cutoff, p.eta_cutoff),
        (Some(0.9), Some(0.0003), Some(0.002))
    );
    assert_eq!((p.top_h, p.top_n_sigma), (Some(0.5), Some(1.5)));
    assert_eq!(
        (p.repetition_penalty, p.no_repeat_ngram_size),
        (Some(1.2), Some(3))
    );
    assert_eq!(
        (p.presence_penalty, p.frequency_penalty),
        (Some(0.5), Some(-0.25))
    );
    let xtc = p.xtc.unwrap();
    assert_eq!((xtc.probability, xtc.threshold), (0.5, 0.2));
    let m = p.mirostat.unwrap();
    assert_eq!((m.tau, m.eta), (4.0, 0.2));
    let g = p.guidance.as_ref().unwrap();
    assert_eq!(g.scale, 1.5);
    assert_eq!(
        g.negative_prompt,
        tokenizer.encode("Goodbye, & farewell").unwrap()
    );
    let dry = p.dry.as_ref().unwrap();
    assert_eq!(
        (
            dry.multiplier,
            dry.base,
            dry.allowed_length,
            dry.penalty_last_n
        ),
        (0.8, 2.0, 3, 64)
    );
    // The breakers as the command line maps them: the last token of "a" + breaker.
    let expected = engine::decoding::Dry::breaker_ids(&s.chain.dry_sequence_breakers, &tokenizer);
    assert_eq!(dry.breakers, expected.unwrap());
    assert_eq!(
        dry.breakers[0],
        *tokenizer.encode("a\n").unwrap().last().unwrap()
    );
    assert_eq!(p.order, s.chain.order);

    // Speculative decoding takes the chain but not XTC, mirostat or guidance.
    let speculative = Settings {
        strategy: Strategy::Speculative,
        ..s.clone()
    };
    let p = speculative.sampling(Some(&tokenizer)).unwrap();
    assert!(p.xtc.is_none() && p.mirostat.is_none() && p.guidance.is_none());
    assert_eq!(p.typical_p, Some(0.9));
    speculative
        .decoding(Some(&tokenizer))
        .unwrap()
        .validate()
        .unwrap();

    // Off: every stage at its slider's off end.
    let off = Settings::default().sampling(None).unwrap();
    assert_eq!(off, engine::decoding::SamplingParams::default());
}

#[test]
fn prompt_lookup_drafts_without_a_second_model() {
    let (s, problems) = Settings::from_query("?strategy=speculative&second=prompt-lookup");
    assert!(problems.is_empty(), "{problems:?}");
    let decoding = s.decoding(None).unwrap();
    let Decoding::Speculative(p) = &decoding else {
        panic!("{s:?}")
    };
    assert!(matches!(p.draft, DraftSource::PromptLookup { .. }));
    assert_eq!(decoding.second_model(), None);
}

#[test]
fn a_server_is_a_device_with_an_address_and_its_token_stays_out_of_the_url() {
    let (s, problems) =
        Settings::from_query("?model=gpt2-xl&device=server&server=ws://127.0.0.1:9000/");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(s.device, DeviceChoice::Server);
    assert_eq!(s.server, "ws://127.0.0.1:9000");
    assert_eq!(
        s.to_query(),
        "?model=gpt2-xl&device=server&server=ws%3A%2F%2F127.0.0.1%3A9000"
    );
    for bad in [
        "http://127.0.0.1:9000",
        "ws://",
        "ws://a b",
        "127.0.0.1:8765",
    ] {
        let (s, problems) = Settings::from_query(&format!("?server={bad}"));
        assert_eq!(s.server, DEFAULT_SERVER, "?server={bad}");
        assert_eq!(problems.len(), 1, "?server={bad}: {problems:?}");
        assert!(problems[0].contains("ws://"), "{problems:?}");
    }
    let (_, problems) = Settings::from_query("?device=cuda");
    assert!(
        problems[0].contains("webgpu, cpu or server"),
        "{problems:?}"
    );
    // A token in the query is not a setting (it belongs in the fragment).
    let (_, problems) = Settings::from_query("?token=abc");
    assert_eq!(problems.len(), 1, "{problems:?}");
}

#[test]
fn the_token_comes_from_the_fragment() {
    assert_eq!(token_from_fragment("#token=ab12"), Some("ab12".into()));
    assert_eq!(token_from_fragment("token=ab12&x=1"), Some("ab12".into()));
    assert_eq!(
        token_from_fragment("#x=1&token=%20ab12%20"),
        Some("ab12".into())
    );
    assert_eq!(token_from_fragment("#token="), None);
    assert_eq!(token_from_fragment(""), None);
}
