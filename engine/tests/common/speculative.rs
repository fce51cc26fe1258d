//! Shared by the speculative decoding tests: tiny random models, the sampling
//! distribution they verify with, the target's own law of the first two
//! tokens, and Pearson's chi-square test.
#![allow(dead_code)]

use engine::backend::{block_on, LanguageModel, Model};
use engine::config::Gpt2Config;
use engine::decoding::rng::SplitMix64;
use engine::weights::random::RandomCheckpoint;

pub const VOCAB: usize = 10;
pub const TEMPERATURE: f32 = 1.5;
pub const PROMPT: [u32; 3] = [3, 1, 4];

/// A seeded random model of shape `config` on the test device.
pub fn random_model(config: Gpt2Config, seed: u64) -> Model {
    crate::common::load_bytes(
        RandomCheckpoint::new(config.clone(), seed).safetensors_bytes(),
        &config,
    )
}

/// A model of [`VOCAB`] tokens and 16 positions.
pub fn tiny(layers: usize, heads: usize, embd: usize, seed: u64) -> Model {
    let mut config = Gpt2Config::new(layers, heads, embd, 16);
    config.vocab_size = VOCAB;
    random_model(config, seed)
}

/// Uniform draws in [0, 1) for the tests, from splitmix64's stream.
pub struct Uniform(pub SplitMix64);

impl Uniform {
    pub fn next_f64(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The sampling distribution: softmax at a temperature, with a penalty on
/// tokens already in the context (so a wrong context would show).
pub fn probs(logits: &[f32], context: &[u32]) -> Vec<f32> {
    let scaled: Vec<f64> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            let seen = context.contains(&(i as u32));
            (l as f64 - if seen { 1.0 } else { 0.0 }) / TEMPERATURE as f64
        })
        .collect();
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = scaled.iter().map(|&s| (s - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|&x| (x / sum) as f32).collect()
}

/// The target's own next-token distribution after `context`.
pub fn target_dist(target: &Model, context: &[u32]) -> Vec<f64> {
    let mut cache = target.new_cache(1).unwrap();
    let logits = block_on(target.forward(&mut cache, &[context], 1)).unwrap();
    probs(logits.last(0), context)
        .iter()
        .map(|&p| p as f64)
        .collect()
}

/// The target's law of the first two tokens after `prompt`: (p(t1), p(t1) p(t2 | t1)).
pub fn first_two_law(target: &Model, prompt: &[u32]) -> (Vec<f64>, Vec<f64>) {
    let p1 = target_dist(target, prompt);
    let mut p12 = vec![0.0; VOCAB * VOCAB];
    for t1 in 0..VOCAB {
        let context: Vec<u32> = prompt.iter().copied().chain([t1 as u32]).collect();
        for (t2, p) in target_dist(target, &context).into_iter().enumerate() {
            p12[t1 * VOCAB + t2] = p1[t1] * p;
        }
    }
    (p1, p12)
}

/// The first tokens' counts from the joint counts of (first, second).
pub fn first_counts(joint: &[u64]) -> Vec<u64> {
    (0..VOCAB)
        .map(|a| joint[a * VOCAB..][..VOCAB].iter().sum())
        .collect()
}

/// Pearson's statistic with bins of expected count < 5 pooled; returns
/// (statistic, degrees of freedom, critical value at p = 0.001).
pub fn chi_square(observed: &[u64], p: &[f64], n: u64) -> (f64, usize, f64) {
    let mut bins: Vec<(f64, f64)> = Vec::new(); // (expected, observed)
    let mut pooled = (0.0, 0.0);
    for (&o, &p) in observed.iter().zip(p) {
        let e = p * n as f64;
        assert!(
            e > 0.0 || o == 0,
            "a token of probability 0 was drawn {o} times"
        );
        if e < 5.0 {
            pooled = (pooled.0 + e, pooled.1 + o as f64);
        } else {
            bins.push((e, o as f64));
        }
    }
    if pooled.0 > 0.0 {
        if pooled.0 < 5.0 {
            // Still too small: merge into the smallest bin.
            let i = (0..bins.len())
                .min_by(|&a, &b| bins[a].0.total_cmp(&bins[b].0))
                .unwrap();
            bins[i] = (bins[i].0 + pooled.0, bins[i].1 + pooled.1);
        } else {
            bins.push(pooled);
        }
    }
    let stat = bins.iter().map(|&(e, o)| (o - e) * (o - e) / e).sum();
    let df = bins.len() - 1;
    // Wilson–Hilferty: χ²_k quantile ≈ k (1 − 2/(9k) + z √(2/(9k)))³, z = Φ⁻¹(0.999).
    let k = df as f64;
    let z = 3.090_232_306;
    let critical = k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3);
    (stat, df, critical)
}
