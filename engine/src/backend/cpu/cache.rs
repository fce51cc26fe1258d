//! The CPU backend's KV cache. Per layer, keys `(rows, heads, capacity,
//! head_dim)` and values transposed, `(rows, heads, head_dim, capacity)`, in
//! f32: attention is then two products of the same kernel, queries × keys and
//! probabilities × values, each reading contiguous rows. Capacity grows by
//! doubling (or at once, through `reserve`) up to the model's context.

use super::team::{SharedMut, Team};
use crate::backend::{check_reorder, KvCache};
use crate::config::Gpt2Config;
use crate::{Error, Result};

/// Keys and values of every layer, for every row.
pub struct CpuCache {
    pub(super) len: usize,
    pub(super) rows: usize,
    pub(super) capacity: usize,
    max: usize,
    pub(super) heads: usize,
    pub(super) head_dim: usize,
    pub(super) k: Vec<Vec<f32>>,
    pub(super) vt: Vec<Vec<f32>>,
    /// Spare buffers for `reorder`, swapped with `k` and `vt`.
    spare: Vec<Vec<f32>>,
}

/// Initial capacity in positions.
const INITIAL_CAPACITY: usize = 64;

impl CpuCache {
    pub(super) fn new(config: &Gpt2Config, rows: usize) -> Result<Self> {
        if rows == 0 {
            return Err(Error::input("a cache needs at least one row"));
        }
        Ok(CpuCache {
            len: 0,
            rows,
            capacity: 0,
            max: config.n_positions,
            heads: config.n_head,
            head_dim: config.head_dim(),
            k: vec![Vec::new(); config.n_layer],
            vt: vec![Vec::new(); config.n_layer],
            spare: Vec::new(),
        })
    }

    /// Numbers per layer for `capacity` positions.
    fn layer_len(&self, capacity: usize) -> usize {
        self.rows * self.heads * capacity * self.head_dim
    }

    /// Makes room for `needed` positions, keeping what is held.
    pub(super) fn grow(&mut self, needed: usize) {
        if needed <= self.capacity {
            return;
        }
        let cap = needed
            .max(2 * self.capacity)
            .max(INITIAL_CAPACITY)
            .min(self.max.max(needed));
        let (old, len, hd) = (self.capacity, self.len, self.head_dim);
        let blocks = self.rows * self.heads;
        let size = self.layer_len(cap);
        for k in &mut self.k {
            let mut grown = vec![0f32; size];
            for b in 0..blocks {
                grown[b * cap * hd..][..len * hd].copy_from_slice(&k[b * old * hd..][..len * hd]);
            }
            *k = grown;
        }
        for vt in &mut self.vt {
            let mut grown = vec![0f32; size];
            for row in 0..blocks * hd {
                grown[row * cap..][..len].copy_from_slice(&vt[row * old..][..len]);
            }
            *vt = grown;
        }
        self.spare.clear();
        self.capacity = cap;
    }
}

impl KvCache for CpuCache {
    fn len(&self) -> usize {
        self.len
    }

    fn rows(&self) -> usize {
        self.rows
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn reorder(&mut self, rows: &[usize]) -> Result<()> {
        check_reorder(self.rows, rows)?;
        // One row's block of a layer: heads × capacity × head_dim numbers,
        // for keys and transposed values alike. Only the first `len`
        // positions of each head are copied, every layer's keys and values
        // by a thread of the team.
        let (cap, len, hd, heads) = (self.capacity, self.len, self.head_dim, self.heads);
        let block = heads * cap * hd;
        let layers = self.k.len();
        let mut dst: Vec<Vec<f32>> = (0..2 * layers)
            .map(|_| {
                let mut d = self.spare.pop().unwrap_or_default();
                d.resize(rows.len() * block, 0.0);
                d
            })
            .collect();
        {
            let targets: Vec<SharedMut<f32>> = dst.iter_mut().map(|d| SharedMut::new(d)).collect();
            let (k, vt) = (&self.k, &self.vt);
            Team::global().run(&|ctx| {
                for task in ctx.chunks(2 * layers, 1).flatten() {
                    let (layer, keys) = (task / 2, task % 2 == 0);
                    let src = if keys { &k[layer] } else { &vt[layer] };
                    // SAFETY: each task writes its own buffer.
                    let out = unsafe { targets[task].get_mut() };
                    for (to, &from) in rows.iter().enumerate() {
                        for h in 0..heads {
                            let (s, d) = (from * block + h * cap * hd, to * block + h * cap * hd);
                            if keys {
                                out[d..d + len * hd].copy_from_slice(&src[s..s + len * hd]);
                            } else {
                                for i in 0..hd {
                                    out[d + i * cap..][..len]
                                        .copy_from_slice(&src[s + i * cap..][..len]);
                                }
                            }
                        }
                    }
                }
            })?;
        }
        for (task, d) in dst.into_iter().enumerate() {
            let slot = if task % 2 == 0 {
                &mut self.k[task / 2]
            } else {
                &mut self.vt[task / 2]
            };
            self.spare.push(std::mem::replace(slot, d));
        }
        self.rows = rows.len();
        Ok(())
    }

    fn reserve(&mut self, positions: usize) -> Result<()> {
        self.grow(positions.min(self.max));
        Ok(())
    }
}
