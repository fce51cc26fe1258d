//! The candle backend's KV cache: per layer, keys and values of shape
//! `(rows, capacity, C)` (heads side by side in the last dimension), grown by
//! doubling. Truncating sets the length; reordering gathers rows.

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
    width: usize,
    device: Device,
    k: Vec<Tensor>, // each (rows, capacity, C)
    v: Vec<Tensor>,
}

/// Initial capacity in positions; it doubles as needed, up to `n_positions`.
const INITIAL_CAPACITY: usize = 64;

impl CandleCache {
    pub(super) fn new(config: &Gpt2Config, rows: usize, device: &Device) -> Result<Self> {
        if rows == 0 {
            return Err(Error::input("a cache needs at least one row"));
        }
        let mut cache = CandleCache {
            len: 0,
            rows,
            capacity: 0,
            max: config.n_positions,
            width: config.n_embd,
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
        Ok(Tensor::zeros(
            (self.rows, capacity, self.width),
            DType::F32,
            &self.device,
        )?)
    }

    /// Makes room for `needed` positions, keeping what is held.
    pub(super) fn reserve(&mut self, needed: usize) -> Result<()> {
        if needed <= self.capacity {
            return Ok(());
        }
        let capacity = needed
            .max(2 * self.capacity)
            .max(INITIAL_CAPACITY)
            .min(self.max);
        for t in self.k.iter_mut().chain(self.v.iter_mut()) {
            let grown = Tensor::zeros((self.rows, capacity, self.width), DType::F32, &self.device)?;
            if self.len > 0 {
                grown.slice_set(&t.narrow(1, 0, self.len)?.contiguous()?, 1, 0)?;
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
        let c = self.width;
        let (k, v) = (&self.k[layer], &self.v[layer]);
        k.slice_set(&qkv.narrow(2, c, c)?.contiguous()?, 1, past)?;
        v.slice_set(&qkv.narrow(2, 2 * c, c)?.contiguous()?, 1, past)?;
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
}
