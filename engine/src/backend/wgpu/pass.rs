//! One forward pass on the GPU: the embeddings, every block, the final layer
//! norm and the logits recorded into one submission per logits block, and
//! the part that was asked for read back.

use super::cache::WgpuCache;
use super::hidden::Capture;
use super::kernels::{Dims, Summary, MATVEC_ROWS, SPAN};
use super::recorder::Recorder;
use super::workspace::Workspace;
use super::WgpuModel;
use crate::backend::{
    check_forward, check_hidden, check_top, Hidden, HiddenRequest, Logits, TopLogits, MAX_TOP,
};
use crate::{Error, Misuse, Result};

/// What a pass reads back.
#[derive(Clone, Copy)]
pub(super) enum Want<'a> {
    /// Every logits row.
    Rows,
    /// Per row the top `k` logits, the log-sum-exp and the logits of `extra`.
    Top { k: usize, extra: &'a [u32] },
    /// Every logits row, and the hidden states asked for.
    Hidden(&'a HiddenRequest<'a>),
}

pub(super) enum PassOutput {
    Rows(Logits),
    Top(TopLogits),
    Hidden(Hidden),
}

/// The sizes of one pass.
pub(super) struct Geometry {
    pub rows: usize,
    /// New positions per row.
    pub n: usize,
    /// New positions in all (`rows · n`).
    pub t: usize,
    /// Positions per row whose logits are read.
    pub last: usize,
    /// Logits rows read (`rows · last`).
    pub out_total: usize,
    /// Logits rows per submission.
    pub block: usize,
}

/// Passes with more new tokens than this are refused (a dispatch dimension).
const MAX_TOKENS: usize = 65535;

impl WgpuModel {
    /// Embeddings and every transformer block, into the residual stream `x`:
    /// five fused dispatches a block when decoding on a real GPU.
    fn encode_blocks(
        &self,
        rec: &mut Recorder<'_>,
        ws: &Workspace,
        cache: &WgpuCache,
        d: &Dims,
        capture: Option<(&Capture, &Geometry)>,
    ) -> Result<()> {
        let s = &*self.shared;
        let t = d.tokens;
        let context = d.past + d.fresh;
        let c = s.config.n_embd;
        let keep = |rec: &mut Recorder<'_>, i: usize| {
            if let Some((cap, g)) = capture {
                cap.keep(rec, ws, g, c, i);
            }
        };
        for (e, g) in s.k.embed.iter().zip(&ws.groups.embed) {
            e.encode(rec, g, t);
        }
        keep(rec, 0);
        let cg = cache.groups()?;
        let fused = s.k.fused.as_ref().filter(|_| t <= MATVEC_ROWS);
        for (layer, g) in ws.groups.blocks.iter().enumerate() {
            match (fused, &ws.groups.fused, &cg.fused) {
                (Some(f), Some(fg), Some(fc)) => {
                    let fg = &fg[layer];
                    f.c_attn.encode(rec, &fc.c_attn[layer], t);
                    s.k.attention
                        .encode_split(rec, &fc.attention[layer], t, context, d.splits);
                    f.attn_proj.encode(rec, &fg.attn_proj, t);
                    f.c_fc.encode(rec, &fg.c_fc, t);
                    f.mlp_proj.encode(rec, &fg.mlp_proj, t);
                }
                _ => {
                    s.k.ln.encode(rec, &g.ln_1, t);
                    s.k.c_attn.encode(rec, &cg.c_attn[layer], t);
                    s.k.attention.encode(rec, &cg.attention[layer], t, context);
                    s.k.attn_proj.encode(rec, &g.attn_proj, t);
                    s.k.ln.encode(rec, &g.ln_2, t);
                    s.k.c_fc.encode(rec, &g.c_fc, t);
                    s.k.mlp_proj.encode(rec, &g.mlp_proj, t);
                }
            }
            keep(rec, layer + 1);
        }
        Ok(())
    }

    // The workspace's borrow is held across the readback on purpose: a second
    // pass started meanwhile (in the browser) gets an error instead.
    #[allow(clippy::await_holding_refcell_ref)]
    pub(super) async fn pass(
        &self,
        cache: &mut WgpuCache,
        tokens: &[&[u32]],
        last: usize,
        want: Want<'_>,
    ) -> Result<PassOutput> {
        let s = &*self.shared;
        let cfg = &s.config;
        let n = check_forward(cfg, cache.len, cache.rows, tokens, last)?;
        if cache.model != s.id {
            return Err(Misuse::ForeignCache.into());
        }
        let (top_k, extra) = match want {
            Want::Rows => (0, &[][..]),
            Want::Hidden(request) => {
                check_hidden(cfg, request, n)?;
                (0, &[][..])
            }
            Want::Top { k, extra } => (k.clamp(1, MAX_TOP.min(cfg.vocab_size)), extra),
        };
        check_top(cfg, extra)?;
        s.gpu.check()?;
        let rows = tokens.len();
        let t = rows * n;
        if t > MAX_TOKENS {
            return Err(Error::input(format!(
                "{t} new positions in one pass is more than the wgpu backend's {MAX_TOKENS}: \
                 use fewer rows or a shorter prompt"
            )));
        }
        let (v, out_total) = (cfg.vocab_size, rows * last);
        // Logits rows per pass: as many as fit one binding.
        let block = ((s.gpu.max_binding / (v as u64 * 4)) as usize).clamp(1, out_total);
        let mut slot = self
            .workspace
            .try_borrow_mut()
            .map_err(|_| Misuse::PassInFlight)?;
        let ws = Workspace::ensure(&mut slot, s, &self.dims, t, block, out_total)?;
        let g = Geometry {
            rows,
            n,
            t,
            last,
            out_total,
            block,
        };
        let mut kept_slot = self
            .capture
            .try_borrow_mut()
            .map_err(|_| Misuse::PassInFlight)?;
        let capture = match want {
            Want::Hidden(request) => Capture::ensure(&mut kept_slot, s, request, &g)?,
            _ => None,
        };
        let past = cache.len;
        cache.grow(past + n)?;
        cache.bind(s, ws, &self.dims)?;
        let ids: Vec<u32> = tokens.iter().flat_map(|r| r.iter().copied()).collect();
        s.gpu
            .queue
            .write_buffer(&ws.ids, 0, bytemuck::cast_slice(&ids));
        if !extra.is_empty() {
            s.gpu
                .queue
                .write_buffer(&ws.extra_ids, 0, bytemuck::cast_slice(extra));
        }
        let stride = Summary::stride(top_k, extra.len());
        let pass_dims = Dims {
            tokens: t as u32,
            fresh: n as u32,
            past: past as u32,
            cap: cache.cap() as u32,
            last: last as u32,
            splits: (past + n).div_ceil(SPAN) as u32,
            top_k: top_k as u32,
            extra_n: extra.len() as u32,
            ..Default::default()
        };
        let profiler = self.active_profiler();
        let submitted = s
            .gpu
            .scoped("running the model", || -> Result<()> {
                let mut out0 = 0;
                while out0 < out_total {
                    let out_n = block.min(out_total - out0);
                    let dims = Dims {
                        out0: out0 as u32,
                        out_n: out_n as u32,
                        ..pass_dims
                    };
                    s.gpu
                        .queue
                        .write_buffer(&self.dims, 0, bytemuck::bytes_of(&dims));
                    let mut rec = Recorder::profiled(&s.gpu, profiler);
                    if out0 == 0 {
                        let kept = capture.map(|cap| (cap, &g));
                        self.encode_blocks(&mut rec, ws, cache, &dims, kept)?;
                    }
                    self.encode_logits(&mut rec, ws, t as u32, out_n as u32);
                    if top_k > 0 {
                        s.k.summary
                            .encode(&mut rec, &ws.groups.summary, out_n as u32);
                        if out0 + out_n == out_total {
                            let bytes = (out_total * stride * 4) as u64;
                            rec.copy(&ws.summary, 0, &ws.summary_staging, 0, bytes);
                        }
                    } else {
                        let bytes = (out_n * v * 4) as u64;
                        rec.copy(&ws.logits, 0, &ws.staging, (out0 * v * 4) as u64, bytes);
                    }
                    rec.submit();
                    out0 += out_n;
                }
                if let (Some(cap), Want::Hidden(request)) = (capture, want) {
                    let mut rec = Recorder::new(&s.gpu);
                    cap.encode_tail(s, &mut rec, ws, request, &g);
                    rec.submit();
                }
                Ok(())
            })
            .await;
        submitted??;
        let out = if top_k > 0 {
            let words = s
                .gpu
                .read::<u32>(&ws.summary_staging, out_total * stride)
                .await?;
            PassOutput::Top(Summary::decode(&words, rows, last, top_k, extra))
        } else {
            let data = s.gpu.read(&ws.staging, out_total * v).await?;
            let logits = Logits {
                rows,
                positions: last,
                vocab: v,
                data,
            };
            match (capture, want) {
                (Some(cap), Want::Hidden(request)) => {
                    PassOutput::Hidden(cap.read(s, request, &g, logits).await?)
                }
                (None, Want::Hidden(_)) => PassOutput::Hidden(Hidden {
                    logits,
                    layers: Vec::new(),
                    rows,
                    positions: 0,
                    n_embd: cfg.n_embd,
                    states: Vec::new(),
                    heads: Vec::new(),
                }),
                _ => PassOutput::Rows(logits),
            }
        };
        if let Some(p) = profiler {
            p.collect(&s.gpu).await?;
        }
        cache.len = past + n;
        Ok(out)
    }

    /// The final layer norm and the logits of `out_n` rows.
    fn encode_logits(&self, rec: &mut Recorder<'_>, ws: &Workspace, tokens: u32, out_n: u32) {
        let s = &*self.shared;
        let fused = s.k.fused.as_ref().filter(|_| tokens <= MATVEC_ROWS);
        match (fused, &ws.groups.fused_logits) {
            (Some(f), Some(groups)) => {
                for (m, g) in f.logits.iter().zip(groups) {
                    m.encode(rec, g, out_n);
                }
            }
            _ => {
                s.k.ln_f.encode(rec, &ws.groups.ln_f, out_n);
                for (m, g) in s.k.logits.iter().zip(&ws.groups.logits) {
                    m.encode(rec, g, out_n);
                }
            }
        }
    }
}
