//! The hidden states a pass was asked for ([`HiddenRequest`]), copied out of
//! the residual stream as the blocks go, and DoLa's early exits: those
//! states through the tied head `wte`, with no final layer norm (or with it,
//! for the logit lens: [`HiddenRequest::lens`]).

use super::kernels::{self, matmul, Out};
use super::ops::layer_norm;
use super::pass::Pass;
use super::team::{Ctx, SharedMut};
use super::weights::Rows;
use crate::backend::HiddenRequest;

/// Where a pass puts the hidden states asked for.
pub(super) struct Capture<'a> {
    pub want: &'a HiddenRequest<'a>,
    /// `[layers, rows, positions, C]`.
    pub states: SharedMut<f32>,
    /// `[heads, rows, last, C]`: the early exits' inputs.
    pub head_in: SharedMut<f32>,
    /// `[heads, rows, last, vocab]`.
    pub head_logits: SharedMut<f32>,
}

impl Pass<'_> {
    /// Copies `hidden_states[i]` (the residual stream `x` as it enters block
    /// `i`; after `ln_f` for `i = n_layer`) where the request wants it.
    ///
    /// # Safety
    /// Called by every thread after a barrier that ends the writes of `x`;
    /// the next writes of `x` come after further barriers.
    pub(super) unsafe fn capture(&self, ctx: &Ctx, i: usize) {
        let Some(cap) = &self.capture else { return };
        let m = self.model;
        let c = m.config.n_embd;
        let x = self.x.get();
        let src = |r: usize, p: usize| &x[(r * self.n + p) * c..][..c];
        let positions = cap.want.positions;
        for (k, _) in cap.want.layers.iter().enumerate().filter(|&(_, &l)| l == i) {
            let states = cap.states.get_mut();
            for j in ctx.share(self.rows * positions, 1) {
                let (r, p) = (j / positions, self.n - positions + j % positions);
                let dst = &mut states[(k * self.rows * positions + j) * c..][..c];
                if i == m.config.n_layer {
                    layer_norm(src(r, p), &m.ln_f.weight, &m.ln_f.bias, self.eps(), dst);
                } else {
                    dst.copy_from_slice(src(r, p));
                }
            }
        }
        for (k, _) in cap.want.heads.iter().enumerate().filter(|&(_, &l)| l == i) {
            let head_in = cap.head_in.get_mut();
            for j in ctx.share(self.rows * self.last, 1) {
                let (r, p) = (j / self.last, self.n - self.last + j % self.last);
                let dst = &mut head_in[(k * self.rows * self.last + j) * c..][..c];
                if cap.want.lens {
                    layer_norm(src(r, p), &m.ln_f.weight, &m.ln_f.bias, self.eps(), dst);
                } else {
                    dst.copy_from_slice(src(r, p));
                }
            }
        }
    }

    /// The early exits' logits: each head's states times `wteᵀ`.
    ///
    /// # Safety
    /// Called by every thread after a barrier that ends the captures.
    pub(super) unsafe fn early_exits(&self, ctx: &Ctx) {
        let Some(cap) = &self.capture else { return };
        let m = self.model;
        let (c, vocab, t) = (m.config.n_embd, m.config.vocab_size, self.rows * self.last);
        for k in 0..cap.want.heads.len() {
            let input = Rows::dense(&cap.head_in.get()[k * t * c..][..t * c], t, c);
            for cols in ctx.chunks(vocab, kernels::chunk(t, vocab, ctx.nth)) {
                let out = Out::store(&mut cap.head_logits.get_mut()[k * t * vocab..], vocab);
                matmul(m.path, m.store.get(&m.wte), input, cols, out);
            }
        }
    }
}
