//! The methods' settings: their URL form, the engine's parameters they make,
//! and the engine's own rules across them.

use engine::decoding::{DolaLayers, DraftSource, Strategy as Decoding};

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn the_methods_keys_survive_the_url() {
    let s = Settings {
        strategy: Strategy::Dola,
        methods: MethodSettings {
            penalty_alpha: 0.35,
            dola_layers: DolaLayers::List(vec![0, 1]),
            num_beam_groups: 2,
            diversity_penalty: 0.5,
            max_matching_ngram_size: 3,
        },
        ..Settings::default()
    };
    let query = s.to_query();
    assert_eq!(
        query,
        "?model=gpt2&strategy=dola&penalty_alpha=0.35&dola_layers=0%2C1&num_beam_groups=2\
         &diversity_penalty=0.5&max_matching_ngram_size=3"
    );
    let (back, problems) = Settings::from_query(&query);
    assert!(problems.is_empty(), "{problems:?} from {query}");
    assert_eq!(back, s, "query was {query}");
    for layers in ["low", "high"] {
        let (s, problems) = Settings::from_query(&format!("?dola_layers={layers}"));
        assert!(problems.is_empty(), "{problems:?}");
        let expected = (layers == "low").then_some("dola_layers=low");
        assert_eq!(s.to_query().split('&').nth(1), expected, "{layers}");
    }
}

#[test]
fn bad_method_values_are_reported_and_replaced_by_defaults() {
    let (s, problems) = Settings::from_query(
        "?penalty_alpha=1.5&dola_layers=2,x&num_beam_groups=0&diversity_penalty=-1\
         &max_matching_ngram_size=0",
    );
    assert_eq!(s, Settings::default());
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert!(problems[0].contains("between 0 and 1"), "{}", problems[0]);
    assert!(
        problems[1].contains("low, high or layer numbers"),
        "{}",
        problems[1]
    );
    for p in &problems {
        assert!(p.ends_with("the default is used"), "{p}");
    }
}

#[test]
fn contrastive_search_shares_top_k_and_defaults_where_it_is_off() {
    let (s, problems) = Settings::from_query("?strategy=contrastive-search&penalty_alpha=0.4");
    assert!(problems.is_empty(), "{problems:?}");
    let Ok(Decoding::ContrastiveSearch(p)) = s.decoding(None) else {
        panic!("{s:?}")
    };
    assert_eq!(
        (p.penalty_alpha, p.top_k),
        (0.4, 4),
        "top_k 0: the engine's k"
    );
    let (s, _) = Settings::from_query("?strategy=contrastive-search&top_k=6");
    let Ok(Decoding::ContrastiveSearch(p)) = s.decoding(None) else {
        panic!("{s:?}")
    };
    assert_eq!((p.penalty_alpha, p.top_k), (0.6, 6));
}

#[test]
fn dola_reads_the_layers_and_the_chains_repetition_penalty() {
    let (s, problems) = Settings::from_query("?strategy=dola&dola_layers=0,1");
    assert!(problems.is_empty(), "{problems:?}");
    let Ok(Decoding::Dola(p)) = s.decoding(None) else {
        panic!("{s:?}")
    };
    assert_eq!(p.layers, DolaLayers::List(vec![0, 1]));
    assert_eq!(p.repetition_penalty, None, "θ = 1: no penalty");
    let (s, _) = Settings::from_query("?strategy=dola&repetition_penalty=1.2");
    let Ok(Decoding::Dola(p)) = s.decoding(None) else {
        panic!("{s:?}")
    };
    assert_eq!(
        (p.layers, p.repetition_penalty),
        (DolaLayers::High, Some(1.2))
    );
}

#[test]
fn group_beam_search_and_prompt_lookup_reach_the_engine() {
    let (s, problems) =
        Settings::from_query("?strategy=beam&beams=4&num_beam_groups=2&diversity_penalty=0.5");
    assert!(problems.is_empty(), "{problems:?}");
    let b = s.beam();
    assert_eq!(
        (b.num_beams, b.num_beam_groups, b.diversity_penalty),
        (4, 2, 0.5)
    );
    assert_eq!(s.problem(None), None);

    let (s, _) = Settings::from_query(
        "?strategy=speculative&second=prompt-lookup&max_matching_ngram_size=4",
    );
    let Ok(Decoding::Speculative(p)) = s.decoding(None) else {
        panic!("{s:?}")
    };
    assert_eq!(
        p.draft,
        DraftSource::PromptLookup {
            max_matching_ngram_size: 4
        }
    );
}

#[test]
fn rules_across_settings_are_the_engines() {
    // Each URL value is in range; together they break one of the engine's rules.
    for (query, words) in [
        (
            "?strategy=beam&beams=4&num_beam_groups=3",
            "must divide --num-beams",
        ),
        (
            "?strategy=beam&diversity_penalty=0.5",
            "needs --num-beam-groups above 1",
        ),
        ("?strategy=contrastive-search&top_k=2000", "--top-k"),
    ] {
        let (s, problems) = Settings::from_query(query);
        assert!(problems.is_empty(), "{query}: {problems:?}");
        let problem = s
            .problem(None)
            .unwrap_or_else(|| panic!("{query}: no problem"));
        assert!(problem.contains(words), "{query}: {problem}");
    }
    // The same settings under another strategy are fine.
    let (s, _) = Settings::from_query("?strategy=greedy&beams=4&num_beam_groups=3");
    assert_eq!(s.problem(None), None);
}

#[test]
fn dolas_layers_are_checked_against_the_loaded_model() {
    let (s, problems) = Settings::from_query("?strategy=dola&dola_layers=0,5");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(s.problem(None), None, "no model: checked when a run starts");
    let problem = s.problem(Some(2)).expect("layer 5 of a 2-layer model");
    assert!(
        problem.contains("layer 5 is not a premature layer"),
        "{problem}"
    );
    assert_eq!(s.problem(Some(12)), None);
}
