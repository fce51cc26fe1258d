//! The candle backend's KV cache: per layer, keys and values of shape
//! `(rows, heads, capacity, head_dim)`, grown by doubling. Each head's
//! positions are contiguous, so attention reads the first `len` positions as
//! a strided view, with no copy. Truncating sets the length; reordering
//! gathers rows.

use candle_core::{DType, Device, Tensor};

use crate::backend::{check_reorder, KvCache};
use crate::config::Gpt2Config;
use crate::{Error, Result};

/// Keys and values of every layer, for every row.
pub struct CandleCache {
    pub(super) len: usize,
    pub(super) rows: usize,
    capacity: usize,
    max: usize,
    heads: usize,
    head_dim: usize,
    dtype: DType,
    device: Device,
    k: Vec<Tensor>, // each (rows, heads, capacity, head_dim)
    v: Vec<Tensor>,
}

/// Initial capacity in positions; it doubles as needed, up to `n_positions`.
const INITIAL_CAPACITY: usize = 64;

impl CandleCache {
    pub(super) fn new(
        config: &Gpt2Config,
        rows: usize,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        if rows == 0 {
            return Err(Error::input("a cache needs at least one row"));
        }
        let mut cache = CandleCache {
            len: 0,
            rows,
            capacity: 0,
            max: config.n_positions,
            heads: config.n_head,
            head_dim: config.n_embd / config.n_head,
            dtype,
            device: device.clone(),
            k: vec![],
            v: vec![],
        };
        cache.k = (0..config.n_layer)
            .map(|_| cache.empty(0))
            .collect::<Result<_>>()?;
        cache.v = (0..config.n_layer)
            .map(|_| cache.empty(0))
            .collect::<Result<_>>()?;
        Ok(cache)
    }

    fn empty(&self, capacity: usize) -> Result<Tensor> {
        let shape = (self.rows, self.heads, capacity, self.head_dim);
        Ok(Tensor::zeros(shape, self.dtype, &self.device)?)
    }

    /// Makes room for `needed` positions, keeping what is held.
    pub(super) fn grow(&mut self, needed: usize) -> Result<()> {
        if needed <= self.capacity {
            return Ok(());
        }
        let capacity = needed
            .max(2 * self.capacity)
            .max(INITIAL_CAPACITY)
            .min(self.max);
        let shape = (self.rows, self.heads, capacity, self.head_dim);
        for t in self.k.iter_mut().chain(self.v.iter_mut()) {
            let grown = Tensor::zeros(shape, self.dtype, &self.device)?;
            if self.len > 0 {
                grown.slice_set(&t.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
            }
            *t = grown;
        }
        self.capacity = capacity;
        Ok(())
    }

    /// Writes the keys and values of `qkv (rows, n, 3C)` at positions
    /// `past..past+n` of `layer` and returns that layer's caches.
    pub(super) fn store(
        &self,
        layer: usize,
        qkv: &Tensor,
        past: usize,
    ) -> Result<(&Tensor, &Tensor)> {
        let (rows, n, _) = qkv.dims3()?;
        // (rows, n, 3C) -> (rows, n, 3, H, hd); part 1 is K, part 2 is V.
        let parts = qkv.reshape((rows, n, 3, self.heads, self.head_dim))?;
        let (k, v) = (&self.k[layer], &self.v[layer]);
        for (part, cache) in [(1, k), (2, v)] {
            let new = parts.narrow(2, part, 1)?.squeeze(2)?.transpose(1, 2)?; // (rows, H, n, hd)
            cache.slice_set(&new.contiguous()?, 2, past)?;
        }
        Ok((k, v))
    }
}

impl KvCache for CandleCache {
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
        let index = Tensor::from_vec(
            rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
            rows.len(),
            &self.device,
        )?;
        for t in self.k.iter_mut().chain(self.v.iter_mut()) {
            *t = t.index_select(&index, 0)?;
        }
        self.rows = rows.len();
        Ok(())
    }

    fn reserve(&mut self, positions: usize) -> Result<()> {
        self.grow(positions.min(self.max))
    }
}
