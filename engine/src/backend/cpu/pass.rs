//! One forward pass on the team: the embeddings, every block, the final
//! layer norm and the logits, each step shared between the threads with a
//! barrier between steps; the hidden states asked for copied out on the way.

use super::hidden::Capture;
use super::kernels::{self, matmul, Epilogue, Out};
use super::ops::{attend, layer_norm, Head};
use super::team::{Ctx, SharedMut};
use super::weights::Rows;
use super::{CpuModel, Linear, Norm};

/// One forward pass: its inputs and the buffers its steps share.
pub(super) struct Pass<'a> {
    pub(super) model: &'a CpuModel,
    pub(super) ids: &'a [u32],
    pub(super) rows: usize,
    pub(super) n: usize,
    pub(super) past: usize,
    pub(super) last: usize,
    pub(super) capacity: usize,
    pub(super) x: SharedMut<f32>,
    pub(super) h: SharedMut<f32>,
    pub(super) qkv: SharedMut<f32>,
    pub(super) att: SharedMut<f32>,
    pub(super) fc: SharedMut<f32>,
    pub(super) hf: SharedMut<f32>,
    pub(super) logits: SharedMut<f32>,
    pub(super) kv: Vec<(SharedMut<f32>, SharedMut<f32>)>,
    pub(super) capture: Option<Capture<'a>>,
}

impl Pass<'_> {
    /// What each thread of the team runs. Every step writes only its own
    /// share of a buffer and reads others' shares after a barrier.
    // SAFETY (throughout): see `SharedMut`; each step's writes are
    // partitioned by `ctx.share` or by (row, head), and a barrier separates
    // a step's writes from the next step's reads.
    pub(super) fn run(&self, ctx: &Ctx) {
        let m = self.model;
        let cfg = &m.config;
        let (c, t) = (cfg.n_embd, self.rows * self.n);
        unsafe {
            // x = wte[ids] + wpe[positions]
            let x = self.x.get_mut();
            for i in ctx.share(t, 1) {
                let row = &mut x[i * c..(i + 1) * c];
                m.store.row_into(&m.wte, self.ids[i] as usize, row);
                let pos = self.past + i % self.n;
                for (v, &p) in row.iter_mut().zip(&m.wpe[pos * c..(pos + 1) * c]) {
                    *v += p;
                }
            }
            ctx.barrier();
            self.capture(ctx, 0);
            let mut scratch = Vec::new();
            for (layer, block) in m.blocks.iter().enumerate() {
                self.norm(ctx, &block.ln_1, t);
                self.linear(ctx, &block.c_attn, &self.h, t, &self.qkv, Epilogue::Store);
                self.attention(ctx, layer, &mut scratch);
                self.linear(ctx, &block.attn_proj, &self.att, t, &self.x, Epilogue::Add);
                self.norm(ctx, &block.ln_2, t);
                self.linear(ctx, &block.c_fc, &self.h, t, &self.fc, Epilogue::Gelu);
                self.linear(ctx, &block.mlp_proj, &self.fc, t, &self.x, Epilogue::Add);
                self.capture(ctx, layer + 1);
            }
            // The final norm of each row's last `last` positions, then the
            // logits through the tied embeddings.
            let (x, hf) = (self.x.get(), self.hf.get_mut());
            for i in ctx.share(self.rows * self.last, 1) {
                let (r, p) = (i / self.last, self.n - self.last + i % self.last);
                let src = &x[(r * self.n + p) * c..][..c];
                layer_norm(
                    src,
                    &m.ln_f.weight,
                    &m.ln_f.bias,
                    self.eps(),
                    &mut hf[i * c..][..c],
                );
            }
            ctx.barrier();
            let vocab = cfg.vocab_size;
            let input = Rows::dense(self.hf.get(), self.rows * self.last, c);
            for cols in ctx.chunks(vocab, kernels::chunk(self.rows * self.last, vocab, ctx.nth)) {
                let out = Out::store(self.logits.get_mut(), vocab);
                matmul(m.path, m.store.get(&m.wte), input, cols, out);
            }
            self.early_exits(ctx);
        }
    }

    pub(super) fn eps(&self) -> f32 {
        self.model.config.layer_norm_epsilon as f32
    }

    /// `h = norm(x)` over the `t` positions.
    unsafe fn norm(&self, ctx: &Ctx, norm: &Norm, t: usize) {
        let c = self.model.config.n_embd;
        let (x, h) = (self.x.get(), self.h.get_mut());
        for i in ctx.share(t, 1) {
            layer_norm(
                &x[i * c..][..c],
                &norm.weight,
                &norm.bias,
                self.eps(),
                &mut h[i * c..][..c],
            );
        }
        ctx.barrier();
    }

    /// `out (∘)= input · Wᵀ + b` over the `t` positions, the output columns
    /// shared between threads.
    unsafe fn linear(
        &self,
        ctx: &Ctx,
        layer: &Linear,
        input: &SharedMut<f32>,
        t: usize,
        out: &SharedMut<f32>,
        epilogue: Epilogue,
    ) {
        let m = self.model;
        let w = m.store.get(&layer.weight);
        let (d_out, d_in) = (layer.weight.rows, layer.weight.cols);
        let x = Rows::dense(&input.get()[..t * d_in], t, d_in);
        for cols in ctx.chunks(d_out, kernels::chunk(t, d_out, ctx.nth)) {
            let out = Out {
                y: out.get_mut(),
                ldy: d_out,
                bias: Some(&layer.bias),
                epilogue,
            };
            matmul(m.path, w, x, cols, out);
        }
        ctx.barrier();
    }

    /// Causal attention of layer `layer`: one task per (row, head), taken by
    /// whichever thread is free.
    unsafe fn attention(&self, ctx: &Ctx, layer: usize, scratch: &mut Vec<f32>) {
        let cfg = &self.model.config;
        let (c, heads, hd, cap) = (cfg.n_embd, cfg.n_head, cfg.head_dim(), self.capacity);
        let (k, vt) = (&self.kv[layer].0, &self.kv[layer].1);
        let (qkv, att) = (self.qkv.get(), self.att.get_mut());
        for task in ctx.chunks(self.rows * heads, 1).flatten() {
            let (r, head) = (task / heads, task % heads);
            let block = (r * heads + head) * cap * hd;
            let first = r * self.n;
            let h = Head {
                k: &mut k.get_mut()[block..block + cap * hd],
                vt: &mut vt.get_mut()[block..block + cap * hd],
                capacity: cap,
                head_dim: hd,
                past: self.past,
                n: self.n,
                qkv: &qkv[first * 3 * c + head * hd..(first + self.n) * 3 * c],
                qkv_ld: 3 * c,
                c,
                out: &mut att[first * c + head * hd..(first + self.n) * c],
                out_ld: c,
            };
            attend(self.model.path, h, scratch);
        }
        ctx.barrier();
    }
}
