//! The activations of a forward pass and the bind groups that tie them to
//! the weights: made for the largest pass so far and reused by every pass
//! that fits (every decoding step after the prompt).

use std::sync::atomic::{AtomicU64, Ordering};

use super::kernels::{Summary, MATVEC_ROWS};
use super::Shared;
use crate::backend::{MAX_EXTRA, MAX_TOP};
use crate::{Error, Result};

/// Bind groups of one transformer block (c_attn and attention bind the
/// cache too: they are the cache's, [`super::cache::CacheGroups`]).
pub(super) struct BlockGroups {
    pub ln_1: wgpu::BindGroup,
    pub attn_proj: wgpu::BindGroup,
    pub ln_2: wgpu::BindGroup,
    pub c_fc: wgpu::BindGroup,
    pub mlp_proj: wgpu::BindGroup,
}

/// Bind groups of one block's fused decode kernels.
pub(super) struct FusedBlockGroups {
    pub attn_proj: wgpu::BindGroup,
    pub c_fc: wgpu::BindGroup,
    pub mlp_proj: wgpu::BindGroup,
}

pub(super) struct Groups {
    pub embed: Vec<wgpu::BindGroup>,
    pub blocks: Vec<BlockGroups>,
    pub ln_f: wgpu::BindGroup,
    pub logits: Vec<wgpu::BindGroup>,
    /// The fused decode kernels' (real GPUs only).
    pub fused: Option<Vec<FusedBlockGroups>>,
    pub fused_logits: Option<Vec<wgpu::BindGroup>>,
    pub summary: wgpu::BindGroup,
}

pub(super) struct Workspace {
    /// New positions per pass this was made for.
    pub tokens: usize,
    /// Logits rows per submission.
    pub block: usize,
    /// Logits rows per pass (the readback buffer's size).
    pub out_total: usize,
    /// Changes whenever the buffers do (caches rebind then).
    pub generation: u64,
    pub ids: wgpu::Buffer,
    pub x: wgpu::Buffer,
    pub h: wgpu::Buffer,
    pub qkv: wgpu::Buffer,
    pub a: wgpu::Buffer,
    /// Decode attention's split partials (real GPUs only).
    pub part: wgpu::Buffer,
    // m is reached through the bind groups only.
    #[allow(dead_code)]
    pub m: wgpu::Buffer,
    /// The logits kernels' input (DoLa's early exits are copied in).
    pub lnf: wgpu::Buffer,
    pub logits: wgpu::Buffer,
    pub staging: wgpu::Buffer,
    /// The ids whose logits a summary reports, and the summaries.
    pub extra_ids: wgpu::Buffer,
    pub summary: wgpu::Buffer,
    pub summary_staging: wgpu::Buffer,
    pub groups: Groups,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

impl Workspace {
    /// The workspace in `slot`, made (again) if it is too small for a pass of
    /// `tokens` new positions reading `out_total` logits rows, `block` at a time.
    pub fn ensure<'a>(
        slot: &'a mut Option<Workspace>,
        s: &Shared,
        dims: &wgpu::Buffer,
        tokens: usize,
        block: usize,
        out_total: usize,
    ) -> Result<&'a Workspace> {
        let fits = slot.as_ref().is_some_and(|ws| {
            ws.tokens >= tokens && ws.block >= block && ws.out_total >= out_total
        });
        let ws = match slot.take() {
            Some(ws) if fits => ws,
            old => {
                let (old_t, old_b, old_o) = old
                    .as_ref()
                    .map_or((0, 0, 0), |ws| (ws.tokens, ws.block, ws.out_total));
                drop(old); // free the old buffers first
                Workspace::new(
                    s,
                    dims,
                    tokens.max(old_t),
                    block.max(old_b),
                    out_total.max(old_o),
                )?
            }
        };
        Ok(slot.insert(ws))
    }

    fn new(
        s: &Shared,
        dims: &wgpu::Buffer,
        tokens: usize,
        block: usize,
        out_total: usize,
    ) -> Result<Workspace> {
        let (gpu, w) = (&s.gpu, &s.weights);
        let cfg = &s.config;
        let (c, inner, v) = (cfg.n_embd, cfg.n_inner(), cfg.vocab_size);
        let max_buffer = gpu.device.limits().max_buffer_size;
        let check = |what: &str, bytes: u64, limit: u64| -> Result<u64> {
            if bytes > limit {
                return Err(Error::input(format!(
                    "{what} needs {} MiB on the GPU, more than its limit of {} MiB: \
                     use fewer rows, a shorter prompt, or --device cpu",
                    bytes >> 20,
                    limit >> 20
                )));
            }
            Ok(bytes)
        };
        let f = |n: usize| (n * 4) as u64;
        let storage = |name: &str, bytes: u64| -> Result<wgpu::Buffer> {
            Ok(gpu.storage(name, check(name, bytes, gpu.max_binding)?))
        };
        let ids = storage("ids", f(tokens))?;
        let x = storage("x", f(tokens * c))?;
        let h = storage("h", f(tokens * c))?;
        let qkv = storage("qkv", f(tokens * 3 * c))?;
        let a = storage("attention", f(tokens * c))?;
        let part_floats = MATVEC_ROWS as usize
            * cfg.n_head
            * super::model_kernels::max_splits(cfg)
            * (cfg.head_dim() + 2);
        let part = storage("attention partials", f(part_floats))?;
        let m = storage("mlp", f(tokens * inner))?;
        let lnf = storage("ln_f", f(block * c))?;
        let logits = storage("logits", f(block * v))?;
        let staging = gpu.staging(check("the logits", f(out_total * v), max_buffer)?);
        let extra_ids = storage("extra ids", f(MAX_EXTRA))?;
        let summary_bytes = f(out_total * Summary::stride(MAX_TOP, MAX_EXTRA));
        let summary = storage("summary", summary_bytes)?;
        let summary_staging = gpu.staging(summary_bytes);
        let k = &s.k;
        let groups = Groups {
            embed: k
                .embed
                .iter()
                .zip(&w.wte)
                .map(|(e, slice)| e.bind(gpu, [dims, &ids, &slice.buffer, &w.wpe, &x]))
                .collect(),
            blocks: w
                .blocks
                .iter()
                .map(|b| BlockGroups {
                    ln_1: k.ln.bind(gpu, [dims, &x, &b.ln_1[0], &b.ln_1[1], &h]),
                    attn_proj: k
                        .attn_proj
                        .bind(gpu, &[dims, &a, &b.attn_proj[0], &b.attn_proj[1], &x]),
                    ln_2: k.ln.bind(gpu, [dims, &x, &b.ln_2[0], &b.ln_2[1], &h]),
                    c_fc: k.c_fc.bind(gpu, &[dims, &h, &b.c_fc[0], &b.c_fc[1], &m]),
                    mlp_proj: k
                        .mlp_proj
                        .bind(gpu, &[dims, &m, &b.mlp_proj[0], &b.mlp_proj[1], &x]),
                })
                .collect(),
            fused: k.fused.as_ref().map(|f| {
                w.blocks
                    .iter()
                    .map(|b| FusedBlockGroups {
                        attn_proj: f
                            .attn_proj
                            .bind(gpu, &[dims, &part, &b.attn_proj[0], &b.attn_proj[1], &x]),
                        c_fc: f.c_fc.bind(
                            gpu,
                            &[dims, &x, &b.c_fc[0], &b.c_fc[1], &m, &b.ln_2[0], &b.ln_2[1]],
                        ),
                        mlp_proj: f
                            .mlp_proj
                            .bind(gpu, &[dims, &m, &b.mlp_proj[0], &b.mlp_proj[1], &x]),
                    })
                    .collect()
            }),
            // The logits have no bias: ln_f's bias stands in, unread.
            fused_logits: k.fused.as_ref().map(|f| {
                f.logits
                    .iter()
                    .zip(&w.wte)
                    .map(|(mm, slice)| {
                        mm.bind(
                            gpu,
                            &[
                                dims,
                                &x,
                                &slice.buffer,
                                &w.ln_f[1],
                                &logits,
                                &w.ln_f[0],
                                &w.ln_f[1],
                            ],
                        )
                    })
                    .collect()
            }),
            ln_f: k.ln_f.bind(gpu, [dims, &x, &w.ln_f[0], &w.ln_f[1], &lnf]),
            summary: k.summary.bind(gpu, [dims, &logits, &extra_ids, &summary]),
            // The logits have no bias: ln_f's bias stands in, unread.
            logits: k
                .logits
                .iter()
                .zip(&w.wte)
                .map(|(mm, slice)| mm.bind(gpu, &[dims, &lnf, &slice.buffer, &w.ln_f[1], &logits]))
                .collect(),
        };
        Ok(Workspace {
            tokens,
            block,
            out_total,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            ids,
            x,
            h,
            qkv,
            a,
            part,
            m,
            lnf,
            logits,
            staging,
            extra_ids,
            summary,
            summary_staging,
            groups,
        })
    }
}
