//! `RemoteModel` against `gpt2 serve --device cpu`, started here on the
//! fixtures' tiny checkpoints: every strategy, run by `decoding::run` over the
//! socket, gives the same ids and scores as over the same models loaded here,
//! and the logits cross the socket bit for bit.

mod common;
#[path = "common/serve.rs"]
mod serve;

use engine::backend::{block_on, KvCache, LanguageModel};
use engine::decoding::{
    run, BeamParams, ContrastiveParams, DraftSource, GenerateOptions, Outcome, SamplingParams,
    SpeculativeParams, Strategy,
};
use engine::remote::Remote;
use serve::Server;

fn strategies() -> Vec<Strategy> {
    let sampling = SamplingParams {
        temperature: 0.8,
        top_k: Some(40),
        top_p: Some(0.9),
        ..SamplingParams::default()
    };
    vec![
        Strategy::Greedy,
        Strategy::Beam(BeamParams {
            num_beams: 4,
            num_return_sequences: 2,
            ..BeamParams::default()
        }),
        Strategy::Sample {
            sampling: sampling.clone(),
            seed: 7,
            num_return_sequences: 3,
        },
        Strategy::Contrastive(ContrastiveParams::default()),
        Strategy::Speculative(SpeculativeParams {
            gamma: 3,
            draft: DraftSource::Model,
            sampling: SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            },
            seed: 0,
            num_return_sequences: 1,
        }),
        Strategy::Speculative(SpeculativeParams {
            gamma: 4,
            draft: DraftSource::Model,
            sampling: sampling.clone(),
            seed: 11,
            num_return_sequences: 2,
        }),
        Strategy::Speculative(SpeculativeParams {
            gamma: 4,
            draft: DraftSource::PromptLookup {
                max_matching_ngram_size: 2,
            },
            sampling,
            seed: 11,
            num_return_sequences: 1,
        }),
    ]
}

fn assert_same(name: &str, local: &Outcome, remote: &Outcome) {
    assert_eq!(local.sequences.len(), remote.sequences.len(), "{name}");
    for (l, r) in local.sequences.iter().zip(&remote.sequences) {
        assert_eq!(l.ids, r.ids, "{name}: ids over the socket differ");
        let diff = (l.score - r.score).abs();
        assert!(
            diff <= 1e-6,
            "{name}: score {} locally, {} remote (diff {diff})",
            l.score,
            r.score
        );
    }
    assert_eq!(
        local.speculative, remote.speculative,
        "{name}: speculative counts"
    );
}

#[test]
fn every_strategy_over_the_socket_gives_the_local_ids() {
    let server = Server::start(&["odd", "tiny"], &[]);
    let target = common::model_for(&common::fixture("odd"));
    let second = common::model_for(&common::fixture("tiny"));
    let remote = block_on(Remote::connect(&server.url, &server.token)).unwrap();
    assert_eq!(remote.models().len(), 2);
    assert_eq!(remote.models()[0].device, "cpu");
    let (r_target, r_second) = (remote.model(0).unwrap(), remote.model(1).unwrap());
    assert_eq!(r_target.config(), target.config());
    let options = GenerateOptions {
        max_new_tokens: 20,
        min_new_tokens: 0,
        eos_token_id: Some(target.config().eos_token_id),
    };
    let prompt = [6214, 345, 1110];
    for strategy in strategies() {
        let name = format!("{strategy:?}");
        let local = block_on(run(
            &strategy,
            &target,
            Some(&second),
            &prompt,
            &options,
            &mut |_| {},
        ));
        let over = block_on(run(
            &strategy,
            &r_target,
            Some(&r_second),
            &prompt,
            &options,
            &mut |_| {},
        ));
        assert_same(&name, &local.unwrap(), &over.unwrap());
    }
    // The caches each run made were released with the next pass, or are
    // the last run's: far below one per pass.
    let (sessions, caches) = block_on(remote.stats()).unwrap();
    assert_eq!(sessions, 1);
    assert!(caches <= 4, "{caches} caches held after the runs");
}

#[test]
fn logits_and_summaries_cross_the_socket_bit_for_bit() {
    let server = Server::start(&["odd"], &[]);
    let local = common::model_for(&common::fixture("odd"));
    let remote = block_on(Remote::connect(&server.url, &server.token)).unwrap();
    let model = remote.model(0).unwrap();
    let (mut lc, mut rc) = (local.new_cache(2).unwrap(), model.new_cache(2).unwrap());
    rc.reserve(16).unwrap();
    let prompt: [&[u32]; 2] = [&[1, 2, 3, 4], &[5, 6, 7, 8]];
    let l = block_on(local.forward(&mut lc, &prompt, 4)).unwrap();
    let r = block_on(model.forward(&mut rc, &prompt, 4)).unwrap();
    assert_eq!(
        (r.rows, r.positions, r.vocab),
        (l.rows, l.positions, l.vocab)
    );
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert!(
        bits(&l.data) == bits(&r.data),
        "logits differ over the socket"
    );
    // Rollback and reordering are replayed on the server before the next pass.
    for c in [&mut lc as &mut dyn KvCache, &mut rc] {
        c.truncate(2);
        c.reorder(&[1, 1, 0]).unwrap();
    }
    assert_eq!((rc.len(), rc.rows()), (2, 3));
    let next: [&[u32]; 3] = [&[9], &[10], &[11]];
    let l = block_on(local.forward_top(&mut lc, &next, 1, 5, &[50256])).unwrap();
    let r = block_on(model.forward_top(&mut rc, &next, 1, 5, &[50256])).unwrap();
    assert_eq!(l, r, "summaries differ over the socket");
    assert_eq!(rc.len(), 3);
    // The engine's own checks run before anything is sent, with its words.
    let err = block_on(model.forward(&mut rc, &[&[1], &[2]], 1)).unwrap_err();
    assert!(
        err.to_string()
            .contains("2 rows of tokens for a cache of 3 rows"),
        "{err}"
    );
    let err = block_on(model.forward(&mut rc, &[&[99999], &[1], &[2]], 1)).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("99999"),
        "{err}"
    );
}
