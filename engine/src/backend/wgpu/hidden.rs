//! The hidden states a pass was asked for ([`HiddenRequest`]): the residual
//! stream `x` copied aside on the GPU as it enters each block asked for,
//! read back with the logits; `hidden_states[n_layer]` gets its final layer
//! norm on the host. DoLa's early exits run the logits kernels over the
//! copied states (no final layer norm) in the same submission; the logit
//! lens puts them back in `x` and runs the pass's own `ln_f` first.

use super::pass::Geometry;
use super::recorder::Recorder;
use super::workspace::Workspace;
use super::Shared;
use crate::backend::{layer_norm_row, Hidden, HiddenRequest, Logits};
use crate::{Error, Result};

/// The copies of `x` a pass keeps, and where they are read back: made for
/// the largest request so far and reused (nothing is allocated per token).
pub(super) struct Capture {
    /// The `hidden_states` index each slot of `buffer` holds, this pass.
    slots: Vec<usize>,
    /// `[slots, t, C]`.
    buffer: wgpu::Buffer,
    staging: wgpu::Buffer,
    state_bytes: u64,
    /// `[heads, rows · last, vocab]`.
    head_staging: Option<wgpu::Buffer>,
    head_bytes: u64,
}

impl Capture {
    /// The capture in `slot` for `want` over a pass of `g`, made (again) if
    /// it is too small; `None` when `want` asks for nothing.
    pub fn ensure<'a>(
        slot: &'a mut Option<Capture>,
        s: &Shared,
        want: &HiddenRequest,
        g: &Geometry,
    ) -> Result<Option<&'a Capture>> {
        let mut slots: Vec<usize> = want.layers.iter().chain(want.heads).copied().collect();
        slots.sort_unstable();
        slots.dedup();
        if slots.is_empty() {
            return Ok(None);
        }
        let c = s.config.n_embd;
        let state_bytes = (slots.len() * g.t * c * 4) as u64;
        if state_bytes > s.gpu.max_binding {
            return Err(Error::input(format!(
                "the hidden states asked for take {} MiB, more than a GPU binding holds: \
                 ask for fewer layers or positions",
                state_bytes >> 20
            )));
        }
        if !want.heads.is_empty() && g.out_total > g.block {
            return Err(Error::input(
                "early exits on wgpu need every logits row of the pass in one binding: \
                 use fewer rows",
            ));
        }
        let head_bytes = (want.heads.len() * g.out_total * s.config.vocab_size * 4) as u64;
        let fits = slot
            .as_ref()
            .is_some_and(|cap| cap.state_bytes >= state_bytes && cap.head_bytes >= head_bytes);
        if !fits {
            let (old_s, old_h) = slot
                .as_ref()
                .map_or((0, 0), |cap| (cap.state_bytes, cap.head_bytes));
            *slot = None; // free the old buffers first
            let (state_bytes, head_bytes) = (state_bytes.max(old_s), head_bytes.max(old_h));
            *slot = Some(Capture {
                slots: Vec::new(),
                buffer: s.gpu.storage("hidden states", state_bytes),
                staging: s.gpu.staging(state_bytes),
                state_bytes,
                head_staging: (head_bytes > 0).then(|| s.gpu.staging(head_bytes)),
                head_bytes,
            });
        }
        let cap = slot.as_mut().expect("made above");
        cap.slots = slots;
        Ok(Some(cap))
    }

    /// Copies `x`, as it enters block `i` (`i = n_layer`: after the last),
    /// if state `i` is kept.
    pub fn keep(&self, rec: &mut Recorder<'_>, ws: &Workspace, g: &Geometry, c: usize, i: usize) {
        if let Some(slot) = self.slots.iter().position(|&l| l == i) {
            let bytes = (g.t * c * 4) as u64;
            rec.copy(&ws.x, 0, &self.buffer, slot as u64 * bytes, bytes);
        }
    }

    /// Records the readback of the states and the early exits' logits,
    /// after the pass's last submission (so `ws.lnf` and `ws.logits` are free).
    pub fn encode_tail(
        &self,
        s: &Shared,
        rec: &mut Recorder<'_>,
        ws: &Workspace,
        want: &HiddenRequest,
        g: &Geometry,
    ) {
        let (c, v) = (s.config.n_embd, s.config.vocab_size);
        let f = |n: usize| (n * 4) as u64;
        rec.copy(
            &self.buffer,
            0,
            &self.staging,
            0,
            f(self.slots.len() * g.t * c),
        );
        let Some(head_staging) = &self.head_staging else {
            return;
        };
        for (k, layer) in want.heads.iter().enumerate() {
            let slot = self.slots.iter().position(|l| l == layer).unwrap_or(0);
            if want.lens {
                // The logit lens: the state back in `x`, where the pass's own
                // final layer norm reads its last positions into `lnf`.
                let bytes = f(g.t * c);
                rec.copy(&self.buffer, slot as u64 * bytes, &ws.x, 0, bytes);
                s.k.ln_f.encode(rec, &ws.groups.ln_f, g.out_total as u32);
                for (m, group) in s.k.logits.iter().zip(&ws.groups.logits) {
                    m.encode(rec, group, g.out_total as u32);
                }
                let bytes = f(g.out_total * v);
                rec.copy(&ws.logits, 0, head_staging, k as u64 * bytes, bytes);
                continue;
            }
            for r in 0..g.rows {
                let from = f((slot * g.t + r * g.n + g.n - g.last) * c);
                rec.copy(
                    &self.buffer,
                    from,
                    &ws.lnf,
                    f(r * g.last * c),
                    f(g.last * c),
                );
            }
            for (m, group) in s.k.logits.iter().zip(&ws.groups.logits) {
                m.encode(rec, group, g.out_total as u32);
            }
            let bytes = f(g.out_total * v);
            rec.copy(&ws.logits, 0, head_staging, k as u64 * bytes, bytes);
        }
    }

    /// Reads the states and early exits back and assembles the answer.
    pub async fn read(
        &self,
        s: &Shared,
        want: &HiddenRequest<'_>,
        g: &Geometry,
        logits: Logits,
    ) -> Result<Hidden> {
        let cfg = &s.config;
        let (c, v) = (cfg.n_embd, cfg.vocab_size);
        let kept: Vec<f32> = s
            .gpu
            .read(&self.staging, self.slots.len() * g.t * c)
            .await?;
        let positions = if want.layers.is_empty() {
            0
        } else {
            want.positions
        };
        let mut states = Vec::with_capacity(want.layers.len() * g.rows * positions * c);
        let (ln_w, ln_b) = (&s.ln_f_host[0], &s.ln_f_host[1]);
        let eps = cfg.layer_norm_epsilon as f32;
        for &layer in want.layers {
            let slot = self.slots.iter().position(|&l| l == layer).unwrap_or(0);
            for r in 0..g.rows {
                for p in g.n - positions..g.n {
                    let row = &kept[((slot * g.t) + r * g.n + p) * c..][..c];
                    if layer == cfg.n_layer {
                        states.extend(layer_norm_row(row, ln_w, ln_b, eps));
                    } else {
                        states.extend_from_slice(row);
                    }
                }
            }
        }
        let mut heads = Vec::with_capacity(want.heads.len());
        if let Some(staging) = self
            .head_staging
            .as_ref()
            .filter(|_| !want.heads.is_empty())
        {
            let data: Vec<f32> = s
                .gpu
                .read(staging, want.heads.len() * g.out_total * v)
                .await?;
            for d in data.chunks(g.out_total * v) {
                heads.push(Logits {
                    rows: g.rows,
                    positions: g.last,
                    vocab: v,
                    data: d.to_vec(),
                });
            }
        }
        Ok(Hidden {
            logits,
            layers: want.layers.to_vec(),
            rows: g.rows,
            positions,
            n_embd: c,
            states,
            heads,
        })
    }
}
