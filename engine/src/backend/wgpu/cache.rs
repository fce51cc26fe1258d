//! The KV cache on the GPU: per layer, keys and values as `[rows, cap, C]`.
//! Growing the capacity and beam search's reorder both copy rows with the
//! gather kernel into a second set of buffers; reorder keeps the set it left
//! for the next reorder, so beam search allocates nothing step after step.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::kernels::Gather;
use super::recorder::Recorder;
use super::workspace::Workspace;
use super::Shared;
use crate::backend::{check_reorder, KvCache};
use crate::{Error, Misuse, Result};

/// Keys and values of every layer for `rows` rows of `cap` positions.
struct KvSet {
    id: u64,
    rows: usize,
    cap: usize,
    k: Vec<wgpu::Buffer>,
    v: Vec<wgpu::Buffer>,
}

/// The bind groups that tie a cache to a workspace, a layer each.
pub(super) struct CacheGroups {
    workspace: u64,
    set: u64,
    /// c_attn, storing keys and values into the cache.
    pub c_attn: Vec<wgpu::BindGroup>,
    pub attention: Vec<wgpu::BindGroup>,
    /// The fused decode kernels' (real GPUs only).
    pub fused: Option<FusedCacheGroups>,
}

/// c_attn with ln_1 folded in, and split attention.
pub(super) struct FusedCacheGroups {
    pub c_attn: Vec<wgpu::BindGroup>,
    pub attention: Vec<wgpu::BindGroup>,
}

/// A [`KvCache`] on the GPU, for the model that made it.
pub struct WgpuCache {
    shared: Arc<Shared>,
    pub(super) model: u64,
    pub(super) len: usize,
    pub(super) rows: usize,
    kv: Option<KvSet>,
    spare: Option<KvSet>,
    /// Bind groups for the current set and the one before (beam search
    /// alternates between two sets), newest last.
    groups: Vec<CacheGroups>,
    /// Gather bind groups by (source set, destination set).
    gathers: Vec<(u64, u64, Vec<wgpu::BindGroup>)>,
    gather_params: wgpu::Buffer,
    row_map: wgpu::Buffer,
    row_map_len: usize,
}

static SET_ID: AtomicU64 = AtomicU64::new(1);

impl WgpuCache {
    pub(super) fn new(shared: Arc<Shared>, rows: usize) -> Result<WgpuCache> {
        if rows == 0 {
            return Err(Error::input("a cache needs at least one row"));
        }
        let gpu = &shared.gpu;
        let gather_params = gpu.uniform("gather", Gather::BYTES);
        let row_map = gpu.storage("row map", (rows * 4) as u64);
        Ok(WgpuCache {
            model: shared.id,
            len: 0,
            rows,
            kv: None,
            spare: None,
            groups: Vec::new(),
            gathers: Vec::new(),
            gather_params,
            row_map,
            row_map_len: rows.max(4),
            shared,
        })
    }

    /// Positions per row the buffers hold (0 before the first pass).
    pub(super) fn cap(&self) -> usize {
        self.kv.as_ref().map_or(0, |kv| kv.cap)
    }

    /// Makes room for `needed` positions per row, doubling the capacity.
    pub(super) fn grow(&mut self, needed: usize) -> Result<()> {
        let max = self.shared.config.n_positions;
        self.make_room(needed, (2 * self.cap()).max(16).min(max).max(needed))
    }

    /// Holds `cap` positions per row from now on, unless `needed` fit already.
    fn make_room(&mut self, needed: usize, cap: usize) -> Result<()> {
        if self
            .kv
            .as_ref()
            .is_some_and(|kv| kv.cap >= needed && kv.rows == self.rows)
        {
            return Ok(());
        }
        let dst = self.new_set(self.rows, cap)?;
        if self.len > 0 {
            let identity: Vec<u32> = (0..self.rows as u32).collect();
            self.gather(&identity, dst)?;
        } else {
            self.kv = Some(dst);
        }
        // The old sets go, with the bind groups that hold them.
        self.spare = None;
        self.groups.clear();
        self.gathers.clear();
        Ok(())
    }

    fn new_set(&self, rows: usize, cap: usize) -> Result<KvSet> {
        let gpu = &self.shared.gpu;
        let bytes = (rows * cap * self.shared.config.n_embd * 4) as u64;
        if bytes > gpu.max_binding {
            return Err(Error::input(format!(
                "the KV cache for {rows} rows of {cap} positions needs {} MiB per layer, more \
                 than one GPU binding's {} MiB: use fewer rows (beams) or --device cpu",
                bytes >> 20,
                gpu.max_binding >> 20
            )));
        }
        let layers = self.shared.config.n_layer;
        Ok(KvSet {
            id: SET_ID.fetch_add(1, Ordering::Relaxed),
            rows,
            cap,
            k: (0..layers).map(|_| gpu.storage("keys", bytes)).collect(),
            v: (0..layers).map(|_| gpu.storage("values", bytes)).collect(),
        })
    }

    /// Fills `dst` with the first `len` positions of rows `map` of the
    /// current set, and makes it the current set (the old one becomes spare).
    fn gather(&mut self, map: &[u32], dst: KvSet) -> Result<()> {
        let src = self.kv.take().ok_or(Misuse::OutOfOrder(
            "cache rows were copied before the cache held any",
        ))?;
        let gpu = &self.shared.gpu;
        if map.len() > self.row_map_len {
            self.row_map_len = map.len().next_power_of_two();
            self.row_map = gpu.storage("row map", (self.row_map_len * 4) as u64);
            self.gathers.clear();
        }
        let g = Gather {
            len: self.len as u32,
            out_rows: map.len() as u32,
            src_cap: src.cap as u32,
            dst_cap: dst.cap as u32,
        };
        gpu.queue
            .write_buffer(&self.row_map, 0, bytemuck::cast_slice(map));
        gpu.queue
            .write_buffer(&self.gather_params, 0, bytemuck::bytes_of(&g));
        let key = (src.id, dst.id);
        let found = self.gathers.iter().position(|(s, d, _)| (*s, *d) == key);
        let index = found.unwrap_or_else(|| {
            let kernel = &self.shared.k.gather;
            let groups = (0..src.k.len())
                .map(|l| {
                    kernel.bind(
                        gpu,
                        [
                            &self.gather_params,
                            &self.row_map,
                            &src.k[l],
                            &src.v[l],
                            &dst.k[l],
                            &dst.v[l],
                        ],
                    )
                })
                .collect();
            // Beam search alternates between two pairs; older ones are stale.
            if self.gathers.len() >= 2 {
                self.gathers.remove(0);
            }
            self.gathers.push((key.0, key.1, groups));
            self.gathers.len() - 1
        });
        let groups = &self.gathers[index].2;
        let mut rec = Recorder::new(gpu);
        for group in groups {
            self.shared.k.gather.encode(&mut rec, group, g);
        }
        rec.submit();
        self.spare = Some(src);
        self.kv = Some(dst);
        gpu.check()
    }

    /// Ties the cache to the workspace of the coming pass.
    pub(super) fn bind(&mut self, s: &Shared, ws: &Workspace, dims: &wgpu::Buffer) -> Result<()> {
        let kv = self.kv.as_ref().ok_or(Misuse::OutOfOrder(
            "the cache was bound to a pass before room was made in it",
        ))?;
        let current = |g: &CacheGroups| g.workspace == ws.generation && g.set == kv.id;
        if let Some(i) = self.groups.iter().position(current) {
            let found = self.groups.remove(i);
            self.groups.push(found);
            return Ok(());
        }
        let (gpu, w) = (&s.gpu, &s.weights);
        let layers = 0..kv.k.len();
        let fused = s.k.fused.as_ref().map(|f| FusedCacheGroups {
            c_attn: layers
                .clone()
                .map(|l| {
                    let b = &w.blocks[l];
                    let (c_attn, ln_1) = (&b.c_attn, &b.ln_1);
                    f.c_attn.bind(
                        gpu,
                        &[
                            dims, &ws.x, &c_attn[0], &c_attn[1], &ws.qkv, &kv.k[l], &kv.v[l],
                            &ln_1[0], &ln_1[1],
                        ],
                    )
                })
                .collect(),
            attention: layers
                .clone()
                .map(|l| {
                    s.k.attention
                        .bind_split(gpu, [dims, &ws.qkv, &kv.k[l], &kv.v[l], &ws.part])
                })
                .collect(),
        });
        if self.groups.len() >= 2 {
            self.groups.remove(0);
        }
        self.groups.push(CacheGroups {
            workspace: ws.generation,
            set: kv.id,
            c_attn: layers
                .clone()
                .map(|l| {
                    let c_attn = &w.blocks[l].c_attn;
                    s.k.c_attn.bind(
                        gpu,
                        &[
                            dims, &ws.h, &c_attn[0], &c_attn[1], &ws.qkv, &kv.k[l], &kv.v[l],
                        ],
                    )
                })
                .collect(),
            attention: layers
                .map(|l| {
                    s.k.attention
                        .bind(gpu, [dims, &ws.qkv, &kv.k[l], &kv.v[l], &ws.a])
                })
                .collect(),
            fused,
        });
        Ok(())
    }

    /// The bind groups made by [`WgpuCache::bind`].
    pub(super) fn groups(&self) -> Result<&CacheGroups> {
        let unbound = "the cache's bind groups were asked for before it was bound to a pass";
        Ok(self.groups.last().ok_or(Misuse::OutOfOrder(unbound))?)
    }
}

impl KvCache for WgpuCache {
    fn len(&self) -> usize {
        self.len
    }

    fn rows(&self) -> usize {
        self.rows
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn reserve(&mut self, positions: usize) -> Result<()> {
        let cap = positions.min(self.shared.config.n_positions);
        self.make_room(cap, cap.max(self.cap()))
    }

    fn reorder(&mut self, rows: &[usize]) -> Result<()> {
        check_reorder(self.rows, rows)?;
        let identity = rows.len() == self.rows && rows.iter().enumerate().all(|(i, &r)| i == r);
        if identity {
            return Ok(());
        }
        if self.len == 0 || self.kv.is_none() {
            self.rows = rows.len();
            self.kv = None;
            self.spare = None;
            self.groups.clear();
            return Ok(());
        }
        let dst = match self.spare.take() {
            Some(set) if set.rows == rows.len() && set.cap == self.cap() => set,
            _ => self.new_set(rows.len(), self.cap())?,
        };
        let map: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
        self.gather(&map, dst)?;
        self.rows = rows.len();
        Ok(())
    }
}
