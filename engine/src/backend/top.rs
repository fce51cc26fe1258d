//! What greedy decoding needs of a logits row, instead of the row: its `k`
//! largest logits with their ids, its log-sum-exp, and the logits of a few
//! named tokens (those a processor bans). The wgpu backend computes this on
//! the GPU and reads back a few hundred bytes instead of the whole row.

/// Most candidates a summary holds.
pub const MAX_TOP: usize = 32;

/// Most named ids a summary reports the logits of.
pub const MAX_EXTRA: usize = 8;

/// Per row and position: the top `k` logits, the log-sum-exp, and the
/// logits of the `extra` ids asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct TopLogits {
    pub rows: usize,
    pub positions: usize,
    pub k: usize,
    /// `[rows, positions, k]`: ids by logit, largest first, lower id first on ties.
    pub ids: Vec<u32>,
    /// `[rows, positions, k]`: their logits.
    pub logits: Vec<f32>,
    /// `[rows, positions]`: ln Σ exp(logit) over the vocabulary.
    pub log_sum_exp: Vec<f32>,
    /// `[rows, positions, extra]`: the logits of the ids asked for.
    pub extra: Vec<f32>,
    pub extra_ids: Vec<u32>,
}

/// One row's part of a [`TopLogits`].
#[derive(Debug, Clone, Copy)]
pub struct TopRow<'a> {
    pub ids: &'a [u32],
    pub logits: &'a [f32],
    pub log_sum_exp: f32,
    /// The logits of [`TopLogits::extra_ids`].
    pub extra: &'a [f32],
}

impl TopLogits {
    /// The summary of full rows, on the host: exactly what the device computes,
    /// the log-sum-exp as `log_softmax` takes it (max first, the sum in f64).
    pub fn from_logits(logits: &super::Logits, k: usize, extra_ids: &[u32]) -> TopLogits {
        let n = logits.rows * logits.positions;
        let k = k.min(logits.vocab);
        let mut out = TopLogits {
            rows: logits.rows,
            positions: logits.positions,
            k,
            ids: Vec::with_capacity(n * k),
            logits: Vec::with_capacity(n * k),
            log_sum_exp: Vec::with_capacity(n),
            extra: Vec::with_capacity(n * extra_ids.len()),
            extra_ids: extra_ids.to_vec(),
        };
        for row in logits.data.chunks(logits.vocab) {
            let ids = crate::decoding::select::top_n(row, k);
            out.ids.extend(ids.iter().map(|&i| i as u32));
            out.logits.extend(ids.iter().map(|&i| row[i]));
            out.log_sum_exp.push(log_sum_exp(row));
            out.extra.extend(extra_ids.iter().map(|&i| row[i as usize]));
        }
        out
    }

    /// Row `row`, position `pos`.
    pub fn get(&self, row: usize, pos: usize) -> TopRow<'_> {
        let i = row * self.positions + pos;
        let e = self.extra_ids.len();
        TopRow {
            ids: &self.ids[i * self.k..(i + 1) * self.k],
            logits: &self.logits[i * self.k..(i + 1) * self.k],
            log_sum_exp: self.log_sum_exp[i],
            extra: &self.extra[i * e..(i + 1) * e],
        }
    }

    /// The last position of row `row`.
    pub fn last(&self, row: usize) -> TopRow<'_> {
        self.get(row, self.positions - 1)
    }
}

/// ln Σ exp(x), the max subtracted first and the sum taken in f64, as
/// [`crate::decoding::log_softmax`] does.
pub fn log_sum_exp(x: &[f32]) -> f32 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return max;
    }
    let sum: f64 = x.iter().map(|&l| ((l - max) as f64).exp()).sum();
    max + sum.ln() as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Logits;

    #[test]
    fn the_top_logits_come_largest_first_lower_ids_first_on_ties() {
        let logits = Logits {
            rows: 2,
            positions: 1,
            vocab: 5,
            data: vec![
                1.0,
                3.0,
                3.0,
                f32::NEG_INFINITY,
                2.0,
                0.0,
                0.0,
                0.0,
                0.0,
                9.0,
            ],
        };
        let top = TopLogits::from_logits(&logits, 3, &[3]);
        assert_eq!(top.last(0).ids, [1, 2, 4]);
        assert_eq!(top.last(0).logits, [3.0, 3.0, 2.0]);
        assert_eq!(top.last(0).extra, [f32::NEG_INFINITY]);
        assert_eq!(top.last(1).ids, [4, 0, 1]);
        let want = (2.0 * 3f64.exp() + 1f64.exp() + 2f64.exp()).ln() as f32;
        assert!((top.last(0).log_sum_exp - want).abs() < 1e-6);
    }
}
