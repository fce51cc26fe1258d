//! One model type over every backend, chosen at run time: what the command
//! line, the page and the tests hold.

use super::candle::{CandleCache, CandleModel};
#[cfg(feature = "wgpu")]
use super::wgpu::{GpuOptions, WgpuCache, WgpuModel};
use super::{KvCache, LanguageModel, Logits};
use crate::config::Gpt2Config;
use crate::weights::Gpt2Checkpoint;
use crate::{Error, Result};

/// Where the forward pass runs.
#[derive(Debug, Clone, Default)]
pub enum Device {
    /// candle on the CPU.
    #[default]
    Cpu,
    /// WGSL compute shaders through wgpu (WebGPU, Vulkan, Metal, DX12).
    #[cfg(feature = "wgpu")]
    Wgpu(GpuOptions),
}

/// A loaded model on one of the backends.
// A process holds one or two models: their size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Model {
    Candle(CandleModel),
    #[cfg(feature = "wgpu")]
    Wgpu(WgpuModel),
}

/// The cache of a [`Model`].
#[allow(clippy::large_enum_variant)]
pub enum Cache {
    Candle(CandleCache),
    #[cfg(feature = "wgpu")]
    Wgpu(WgpuCache),
}

impl Model {
    /// Loads a checked checkpoint onto `device`.
    pub async fn load(
        ckpt: &Gpt2Checkpoint,
        config: &Gpt2Config,
        device: &Device,
    ) -> Result<Model> {
        Ok(match device {
            Device::Cpu => {
                Model::Candle(CandleModel::load(ckpt, config, &candle_core::Device::Cpu)?)
            }
            #[cfg(feature = "wgpu")]
            Device::Wgpu(options) => Model::Wgpu(WgpuModel::load(ckpt, config, options).await?),
        })
    }

    /// Where the model runs, for people.
    pub fn device_name(&self) -> String {
        match self {
            Model::Candle(_) => "cpu".into(),
            #[cfg(feature = "wgpu")]
            Model::Wgpu(m) => format!("wgpu: {}", m.device_info()),
        }
    }
}

impl KvCache for Cache {
    fn len(&self) -> usize {
        match self {
            Cache::Candle(c) => c.len(),
            #[cfg(feature = "wgpu")]
            Cache::Wgpu(c) => c.len(),
        }
    }

    fn rows(&self) -> usize {
        match self {
            Cache::Candle(c) => c.rows(),
            #[cfg(feature = "wgpu")]
            Cache::Wgpu(c) => c.rows(),
        }
    }

    fn truncate(&mut self, len: usize) {
        match self {
            Cache::Candle(c) => c.truncate(len),
            #[cfg(feature = "wgpu")]
            Cache::Wgpu(c) => c.truncate(len),
        }
    }

    fn reorder(&mut self, rows: &[usize]) -> Result<()> {
        match self {
            Cache::Candle(c) => c.reorder(rows),
            #[cfg(feature = "wgpu")]
            Cache::Wgpu(c) => c.reorder(rows),
        }
    }
}

impl LanguageModel for Model {
    type Cache = Cache;

    fn config(&self) -> &Gpt2Config {
        match self {
            Model::Candle(m) => m.config(),
            #[cfg(feature = "wgpu")]
            Model::Wgpu(m) => m.config(),
        }
    }

    fn new_cache(&self, rows: usize) -> Result<Cache> {
        Ok(match self {
            Model::Candle(m) => Cache::Candle(m.new_cache(rows)?),
            #[cfg(feature = "wgpu")]
            Model::Wgpu(m) => Cache::Wgpu(m.new_cache(rows)?),
        })
    }

    async fn forward(&self, cache: &mut Cache, tokens: &[&[u32]], last: usize) -> Result<Logits> {
        match (self, cache) {
            (Model::Candle(m), Cache::Candle(c)) => m.forward(c, tokens, last).await,
            #[cfg(feature = "wgpu")]
            (Model::Wgpu(m), Cache::Wgpu(c)) => m.forward(c, tokens, last).await,
            #[allow(unreachable_patterns)]
            _ => Err(Error::input(
                "this cache belongs to a model on another device: use the model's own new_cache",
            )),
        }
    }
}
