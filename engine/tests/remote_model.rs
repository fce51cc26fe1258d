//! `RemoteModel` against `gpt2 serve --device cpu`, started here on the
//! fixtures' tiny checkpoints: every strategy, run by `decoding::run` over the
//! socket, gives the same ids and scores as over the same models loaded here
//! (contrastive search and DoLa through protocol v2's hidden states, their
//! steps too), the logits cross the socket bit for bit, the tokenizer comes
//! back byte for byte, and a version-1 client is told what is wrong.

mod common;
#[path = "common/serve.rs"]
mod serve;

use engine::backend::{block_on, HiddenRequest, KvCache, LanguageModel, Model};
use engine::decoding::{
    run, BeamParams, ContrastiveParams, ContrastiveSearchParams, DolaLayers, DolaParams,
    DraftSource, GenerateOptions, Outcome, SamplingParams, SpeculativeParams, Strategy,
};
use engine::remote::protocol::{Reply, Request};
use engine::remote::Remote;
use serve::Server;
use tungstenite::Message;

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
        forced: Vec::new(),
        whole_rows: false,
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

#[test]
fn contrastive_search_and_dola_over_the_socket_give_the_local_ids_and_steps() {
    let server = Server::start(&["odd"], &[]);
    let local = common::model_for(&common::fixture("odd"));
    let remote = block_on(Remote::connect(&server.url, &server.token)).unwrap();
    let model = Model::Remote(remote.model(0).unwrap());
    assert_eq!(model.device_name(), format!("server {}: cpu", server.url));
    let options = GenerateOptions {
        max_new_tokens: 16,
        min_new_tokens: 4,
        eos_token_id: Some(local.config().eos_token_id),
        forced: Vec::new(),
        whole_rows: false,
    };
    let search = |penalty_alpha, top_k| {
        Strategy::ContrastiveSearch(ContrastiveSearchParams {
            penalty_alpha,
            top_k,
        })
    };
    let dola = |layers, repetition_penalty| {
        Strategy::Dola(DolaParams {
            layers,
            repetition_penalty,
        })
    };
    let strategies = [
        search(0.6, 4),
        search(0.3, 7),
        search(0.0, 2),
        dola(DolaLayers::High, None),
        dola(DolaLayers::List(vec![1]), Some(1.2)),
        dola(DolaLayers::List(vec![0, 2]), None),
    ];
    for prompt in [
        &[6214u32, 345, 1110][..],
        &[464, 2068, 7586, 21831, 18045, 625],
    ] {
        for strategy in &strategies {
            let name = format!("{strategy:?} after {prompt:?}");
            let (mut here, mut there) = (Vec::new(), Vec::new());
            let l = block_on(run::<_, Model>(
                strategy,
                &local,
                None,
                prompt,
                &options,
                &mut |s| here.push(format!("{s:?}")),
            ));
            let r = block_on(run::<_, Model>(
                strategy,
                &model,
                None,
                prompt,
                &options,
                &mut |s| there.push(format!("{s:?}")),
            ));
            assert_same(&name, &l.unwrap(), &r.unwrap());
            assert_eq!(here, there, "{name}: the steps over the socket differ");
        }
    }
}

#[test]
fn hidden_states_cross_the_socket_bit_for_bit_within_the_reply_bound() {
    let server = Server::start(&["odd"], &[]);
    let local = common::model_for(&common::fixture("odd"));
    let remote = block_on(Remote::connect(&server.url, &server.token)).unwrap();
    let model = remote.model(0).unwrap();
    let want = HiddenRequest {
        layers: &[3, 0, 1],
        positions: 2,
        heads: &[2, 0],
        lens: false,
    };
    let (mut lc, mut rc) = (local.new_cache(2).unwrap(), model.new_cache(2).unwrap());
    let tokens: [&[u32]; 2] = [&[1, 2, 3], &[4, 5, 6]];
    let l = block_on(local.forward_hidden(&mut lc, &tokens, 2, &want)).unwrap();
    let r = block_on(model.forward_hidden(&mut rc, &tokens, 2, &want)).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&l.logits.data), bits(&r.logits.data), "logits");
    assert_eq!(bits(&l.states), bits(&r.states), "states");
    assert_eq!(
        (&l.layers, l.positions, l.n_embd),
        (&r.layers, r.positions, r.n_embd)
    );
    for (a, b) in l.heads.iter().zip(&r.heads) {
        assert_eq!(bits(&a.data), bits(&b.data), "early exits");
    }
    assert_eq!(rc.len(), 3);
    // The logit lens's heads (through ln_f) cross the socket too.
    let lens = HiddenRequest {
        heads: &[0, 1, 2],
        lens: true,
        ..HiddenRequest::default()
    };
    let (mut lc, mut lrc) = (local.new_cache(2).unwrap(), model.new_cache(2).unwrap());
    let l = block_on(local.forward_hidden(&mut lc, &tokens, 1, &lens)).unwrap();
    let r = block_on(model.forward_hidden(&mut lrc, &tokens, 1, &lens)).unwrap();
    assert_eq!(l.heads.len(), 3);
    for (a, b) in l.heads.iter().zip(&r.heads) {
        assert_eq!(bits(&a.data), bits(&b.data), "lens heads");
    }
    // The engine's own checks, in its words, before anything is sent.
    let past = HiddenRequest {
        layers: &[4],
        positions: 1,
        heads: &[],
        lens: false,
    };
    let err = block_on(model.forward_hidden(&mut rc, &[&[7], &[8]], 1, &past)).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("hidden state 4"),
        "{err}"
    );
    // 26 blocks of 64 × 50257 logits: more than a reply carries, refused
    // before the pass with the server's bound in words.
    let mut cache = model.new_cache(1).unwrap();
    let long: Vec<u32> = (0..64).collect();
    let heavy = HiddenRequest {
        layers: &[],
        positions: 0,
        heads: &[0; 25],
        lens: false,
    };
    let err = block_on(model.forward_hidden(&mut cache, &[&long], 64, &heavy)).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("MiB a reply may carry"),
        "{err}"
    );
    assert_eq!(cache.len(), 0, "a refused pass appends nothing");
    // The connection serves on.
    let ok = block_on(model.forward_hidden(&mut cache, &[&long[..4]], 1, &want));
    assert_eq!(ok.unwrap().layers, vec![3, 0, 1]);
}

#[test]
fn the_tokenizer_comes_back_byte_for_byte() {
    let server = Server::start(&["odd", "tiny"], &[]);
    let remote = block_on(Remote::connect(&server.url, &server.token)).unwrap();
    for i in 0..2 {
        let bytes = block_on(remote.tokenizer(i)).unwrap();
        let file = std::fs::read(server.model_dir(i).join("tokenizer.json")).unwrap();
        assert_eq!(bytes.len(), file.len(), "model {i}");
        assert!(
            bytes == file,
            "model {i}: the bytes differ from tokenizer.json"
        );
        engine::tokenizer::Tokenizer::from_bytes(&bytes).unwrap();
    }
    let err = block_on(remote.tokenizer(2)).unwrap_err();
    assert!(err.to_string().contains("no model 2"), "{err}");
}

#[test]
fn a_version_1_client_is_told_the_versions() {
    let server = Server::start(&["tiny"], &[]);
    let (mut socket, _) = tungstenite::connect(server.url.as_str()).unwrap();
    let hello = Request::Hello {
        version: 1,
        token: server.token.clone(),
    };
    socket
        .send(Message::text(serde_json::to_string(&hello).unwrap()))
        .unwrap();
    let reply = loop {
        match socket.read().unwrap() {
            Message::Text(t) => break serde_json::from_str::<Reply>(t.as_str()).unwrap(),
            _ => continue,
        }
    };
    let Reply::Error { message, .. } = reply else {
        panic!("an error, not {reply:?}");
    };
    assert_eq!(message, "protocol version 1; this server speaks 2");
    server.wait_log("protocol version 1");
}
