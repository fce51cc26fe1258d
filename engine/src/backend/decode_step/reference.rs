//! A [`Plan`] run on the CPU, one op at a time, as its kernels define it:
//! plain loops in f32 over the plan's own buffers, the ids and position
//! included. It is what the tests check the plan with (against the CPU
//! backend's logits), and what a GPU's fused kernels are checked against.

use std::collections::HashMap;

use super::{Buf, Epilogue, Op, Plan, Prologue};
use crate::weights::Gpt2Checkpoint;
use crate::{Error, Result};

/// The largest score a split without positions reports: it weighs nothing
/// once combined.
const EMPTY: f32 = -3.0e38;

/// A plan's buffers and weights on the CPU.
pub struct Reference {
    plan: Plan,
    weights: HashMap<String, Vec<f32>>,
    bufs: HashMap<Buf, Vec<f32>>,
    ids: Vec<u32>,
    pos: u32,
    history: Vec<u32>,
}

impl Reference {
    /// The plan's buffers, zeroed, and every weight it names from `ckpt`.
    pub fn new(plan: &Plan, ckpt: &Gpt2Checkpoint) -> Result<Self> {
        let weights = plan
            .weights()
            .into_iter()
            .map(|w| Ok((w.name.clone(), ckpt.f32(&w.name)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        let bufs = plan
            .buffers()
            .into_iter()
            .filter(|b| !b.is_u32())
            .map(|b| (b, vec![0.0; plan.len(b)]))
            .collect();
        Ok(Reference {
            plan: plan.clone(),
            weights,
            bufs,
            ids: vec![0; plan.rows],
            pos: 0,
            history: vec![0; plan.len(Buf::History)],
        })
    }

    /// Sets each row's token of the next step.
    pub fn set_ids(&mut self, ids: &[u32]) {
        assert_eq!(ids.len(), self.plan.rows, "one id per row");
        self.ids.copy_from_slice(ids);
    }

    /// Sets the positions already in the cache.
    pub fn set_pos(&mut self, pos: u32) {
        self.pos = pos;
    }

    /// The plan it runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    pub fn pos(&self) -> u32 {
        self.pos
    }

    /// The ids greedy's argmax wrote, `[rows, cap]` by position.
    pub fn history(&self) -> &[u32] {
        &self.history
    }

    /// An f32 buffer's contents.
    pub fn buf(&self, buf: Buf) -> &[f32] {
        &self.bufs[&buf]
    }

    /// Overwrites an f32 buffer (tests start ops from chosen contents).
    pub fn set_buf(&mut self, buf: Buf, values: &[f32]) {
        let dst = self.bufs.get_mut(&buf).expect("an f32 buffer");
        assert_eq!(dst.len(), values.len(), "{buf:?}'s length");
        dst.copy_from_slice(values);
    }

    /// Runs every op of the plan: one step.
    pub fn step(&mut self) -> Result<()> {
        let cfg = &self.plan.config;
        let pos = self.pos as usize;
        if pos >= self.plan.cap || pos >= cfg.n_positions {
            return Err(Error::input(format!(
                "position {pos} is past the step's cache of {} positions",
                self.plan.cap.min(cfg.n_positions)
            )));
        }
        if let Some(&id) = self.ids.iter().find(|&&id| id as usize >= cfg.vocab_size) {
            return Err(Error::input(format!(
                "token id {id} is past the vocabulary of {}",
                cfg.vocab_size
            )));
        }
        for i in 0..self.plan.ops.len() {
            self.run(i);
        }
        Ok(())
    }

    /// Runs op `i` of the plan.
    pub fn run(&mut self, i: usize) {
        match &self.plan.ops[i] {
            Op::Embed => self.embed(),
            Op::Matvec { .. } => self.matvec(i),
            Op::Attention { layer } => self.attention(*layer),
            Op::Argmax => self.argmax(),
        }
    }

    fn embed(&mut self) {
        let c = self.plan.config.n_embd;
        let (wte, wpe) = (&self.weights["wte.weight"], &self.weights["wpe.weight"]);
        let pos = self.pos as usize;
        let x = self.bufs.get_mut(&Buf::X).expect("X");
        for (r, &id) in self.ids.iter().enumerate() {
            for j in 0..c {
                x[r * c + j] = wte[id as usize * c + j] + wpe[pos * c + j];
            }
        }
    }

    fn matvec(&mut self, i: usize) {
        let Op::Matvec {
            input,
            prologue,
            weight,
            transposed,
            bias,
            epilogue,
            output,
            k,
            n,
            kv,
        } = &self.plan.ops[i]
        else {
            unreachable!("op {i} is a product")
        };
        let (k, n) = (*k, *n);
        let w = &self.weights[weight];
        let b = bias.as_ref().map(|name| &self.weights[name]);
        let c = self.plan.config.n_embd;
        let (cap, pos) = (self.plan.cap, self.pos as usize);
        let mut outputs = Vec::with_capacity(self.plan.rows);
        for r in 0..self.plan.rows {
            let x = self.prologue(prologue, *input, r, k);
            let mut y = vec![0f32; n];
            for (j, yj) in y.iter_mut().enumerate() {
                let mut acc = 0f32;
                for (kk, xk) in x.iter().enumerate() {
                    let wv = if *transposed {
                        w[j * k + kk]
                    } else {
                        w[kk * n + j]
                    };
                    acc += xk * wv;
                }
                *yj = acc;
            }
            outputs.push(y);
        }
        for (r, y) in outputs.into_iter().enumerate() {
            let out = self.bufs.get_mut(output).expect("output buffer");
            for (j, v) in y.into_iter().enumerate() {
                let o = &mut out[r * n + j];
                let bj = b.map_or(0.0, |b| b[j]);
                *o = match epilogue {
                    Epilogue::Store => v,
                    Epilogue::Bias => v + bj,
                    Epilogue::Gelu => gelu_new(v + bj),
                    Epilogue::Residual => *o + (v + bj),
                };
            }
            if let Some(layer) = kv {
                let qkv: Vec<f32> = out[r * n..(r + 1) * n].to_vec();
                let dst = (r * cap + pos) * c;
                let keys = self.bufs.get_mut(&Buf::Keys(*layer)).expect("keys");
                keys[dst..dst + c].copy_from_slice(&qkv[c..2 * c]);
                let values = self.bufs.get_mut(&Buf::Values(*layer)).expect("values");
                values[dst..dst + c].copy_from_slice(&qkv[2 * c..3 * c]);
            }
        }
    }

    /// Row `r` of `input` (`k` values) through `prologue`.
    fn prologue(&self, prologue: &Prologue, input: Buf, r: usize, k: usize) -> Vec<f32> {
        let src = &self.bufs[&input];
        match prologue {
            Prologue::Plain => src[r * k..(r + 1) * k].to_vec(),
            Prologue::LayerNorm { weight, bias } => {
                let row = &src[r * k..(r + 1) * k];
                let mean = row.iter().sum::<f32>() / k as f32;
                let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / k as f32;
                let eps = self.plan.config.layer_norm_epsilon as f32;
                let inv = 1.0 / (var + eps).sqrt();
                let (g, b) = (&self.weights[weight], &self.weights[bias]);
                (0..k)
                    .map(|j| (row[j] - mean) * inv * g[j] + b[j])
                    .collect()
            }
            Prologue::Combine => {
                let cfg = &self.plan.config;
                let (h, splits) = (cfg.n_head, self.plan.splits);
                let d = k / h;
                let mut x = vec![0f32; k];
                for head in 0..h {
                    let base = (r * h + head) * splits * (d + 2);
                    let parts: Vec<&[f32]> = (0..splits)
                        .map(|s| &src[base + s * (d + 2)..base + (s + 1) * (d + 2)])
                        .collect();
                    let m = parts.iter().fold(EMPTY, |m, p| m.max(p[0]));
                    let den: f32 = parts.iter().map(|p| (p[0] - m).exp() * p[1]).sum();
                    for dd in 0..d {
                        let num: f32 = parts.iter().map(|p| (p[0] - m).exp() * p[2 + dd]).sum();
                        x[head * d + dd] = num / den;
                    }
                }
                x
            }
        }
    }

    fn attention(&mut self, layer: usize) {
        let cfg = &self.plan.config;
        let (c, h) = (cfg.n_embd, cfg.n_head);
        let d = c / h;
        let (cap, span, splits) = (self.plan.cap, self.plan.span, self.plan.splits);
        let ctx = self.pos as usize + 1;
        let scale = 1.0 / (d as f32).sqrt();
        let qkv = &self.bufs[&Buf::Qkv];
        let (keys, values) = (
            &self.bufs[&Buf::Keys(layer)],
            &self.bufs[&Buf::Values(layer)],
        );
        let mut part = vec![0f32; self.plan.len(Buf::Part)];
        for r in 0..self.plan.rows {
            for head in 0..h {
                let q = &qkv[r * 3 * c + head * d..][..d];
                for s in 0..splits {
                    let out = &mut part[((r * h + head) * splits + s) * (d + 2)..][..d + 2];
                    let p0 = s * span;
                    if p0 >= ctx {
                        out[0] = EMPTY;
                        out[1] = 0.0;
                        out[2..].fill(0.0);
                        continue;
                    }
                    let at = |p: usize| (r * cap + p) * c + head * d;
                    let scores: Vec<f32> = (p0..ctx.min(p0 + span))
                        .map(|p| {
                            let key = &keys[at(p)..][..d];
                            q.iter().zip(key).map(|(a, b)| a * b).sum::<f32>() * scale
                        })
                        .collect();
                    let m = scores.iter().fold(EMPTY, |m, &s| m.max(s));
                    let e: Vec<f32> = scores.iter().map(|s| (s - m).exp()).collect();
                    out[0] = m;
                    out[1] = e.iter().sum();
                    for dd in 0..d {
                        out[2 + dd] = e
                            .iter()
                            .enumerate()
                            .map(|(i, w)| w * values[at(p0 + i) + dd])
                            .sum();
                    }
                }
            }
        }
        self.bufs.insert(Buf::Part, part);
    }

    fn argmax(&mut self) {
        let v = self.plan.config.vocab_size;
        let logits = &self.bufs[&Buf::Logits];
        for (r, id) in self.ids.iter_mut().enumerate() {
            let row = &logits[r * v..(r + 1) * v];
            let mut best = 0;
            for (j, &x) in row.iter().enumerate() {
                if x > row[best] {
                    best = j;
                }
            }
            *id = best as u32;
            let at = self.pos as usize + 1;
            if at < self.plan.cap {
                self.history[r * self.plan.cap + at] = best as u32;
            }
        }
        self.pos += 1;
    }
}

/// GPT-2's `gelu_new`: `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
pub fn gelu_new(x: f32) -> f32 {
    const S: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (S * (x + 0.044715 * x * x * x)).tanh())
}
