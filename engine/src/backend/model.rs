//! One model type over every backend, chosen at run time: what the command
//! line, the page and the tests hold.

use super::candle::{CandleCache, CandleModel};
use super::cpu::{CpuCache, CpuModel};
#[cfg(feature = "cuda")]
use super::decode_step::{
    cuda::{CudaMaker, CudaWeights},
    model::{StepCache, StepModel},
};
#[cfg(feature = "wgpu")]
use super::wgpu::{GpuOptions, WgpuCache, WgpuModel};
use super::{
    DeviceWork, Hidden, HiddenRequest, KernelTime, KvCache, LanguageModel, Logits, Precision,
    TopLogits,
};
use crate::config::Gpt2Config;
use crate::remote::{RemoteCache, RemoteModel};
use crate::weights::Gpt2Checkpoint;
use crate::{Error, Result};

/// Where the forward pass runs.
#[derive(Debug, Clone, Default)]
pub enum Device {
    /// The CPU kernels (natively, and in WebAssembly).
    #[default]
    Cpu,
    /// candle on an NVIDIA GPU (CUDA), by ordinal. Needs a build with the
    /// `cuda` feature; otherwise loading says how to get one.
    Cuda(usize),
    /// WGSL compute shaders through wgpu (WebGPU, Vulkan, Metal, DX12).
    #[cfg(feature = "wgpu")]
    Wgpu(GpuOptions),
}

impl Device {
    /// Checks that the device can be opened (CUDA: this build has it, and a
    /// GPU answers), so that a mistake is reported before a download.
    pub fn check(&self) -> Result<()> {
        match self {
            Device::Cuda(ordinal) => cuda_device(*ordinal).map(drop),
            _ => Ok(()),
        }
    }
}

/// A loaded model on one of the backends.
// A process holds one or two models: their size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Model {
    Cpu(CpuModel),
    Candle(CandleModel),
    #[cfg(feature = "wgpu")]
    Wgpu(WgpuModel),
    /// A model of a `gpt2 serve` server, over its WebSocket.
    Remote(RemoteModel),
    /// The fused CUDA decode step (`GPT2_CUDA_STEP=fused` with `--device
    /// cuda`; off by default until verified on a GPU).
    #[cfg(feature = "cuda")]
    Fused(StepModel<CudaMaker>),
}

/// The cache of a [`Model`].
#[allow(clippy::large_enum_variant)]
pub enum Cache {
    Cpu(CpuCache),
    Candle(CandleCache),
    #[cfg(feature = "wgpu")]
    Wgpu(WgpuCache),
    Remote(RemoteCache),
    #[cfg(feature = "cuda")]
    Fused(StepCache<CudaMaker>),
}

impl Model {
    /// Loads a checked checkpoint onto `device`, in f32.
    pub async fn load(
        ckpt: &Gpt2Checkpoint,
        config: &Gpt2Config,
        device: &Device,
    ) -> Result<Model> {
        Model::load_as(ckpt, config, device, Precision::F32).await
    }

    /// Loads a checked checkpoint onto `device`, its weights and activations
    /// in `precision`.
    pub async fn load_as(
        ckpt: &Gpt2Checkpoint,
        config: &Gpt2Config,
        device: &Device,
        precision: Precision,
    ) -> Result<Model> {
        Ok(match device {
            Device::Cpu => Model::Cpu(CpuModel::load(ckpt, config, precision)?),
            #[cfg(feature = "cuda")]
            Device::Cuda(ordinal) if fused_step_wanted() => {
                cuda_device(*ordinal)?;
                let maker = CudaMaker::load(*ordinal, ckpt, config, precision)?;
                Model::Fused(StepModel::new(config, maker))
            }
            Device::Cuda(ordinal) => {
                let gpu = cuda_device(*ordinal)?;
                Model::Candle(CandleModel::load(ckpt, config, &gpu, precision)?)
            }
            #[cfg(feature = "wgpu")]
            Device::Wgpu(options) => {
                let gpu = super::wgpu::Gpu::new(options).await?;
                Model::Wgpu(WgpuModel::load_on(gpu, ckpt, config, precision).await?)
            }
        })
    }

    /// The wgpu kernel set in use (`gpu` or `emulated`), and whether the
    /// adapter is a GPU emulated on the CPU; `None` on other backends.
    pub fn wgpu_kernels(&self) -> Option<(&'static str, bool)> {
        match self {
            #[cfg(feature = "wgpu")]
            Model::Wgpu(m) => Some((m.kernel_set(), m.emulated_adapter())),
            _ => None,
        }
    }

    /// Starts timing every GPU kernel (wgpu, where the adapter has timestamp
    /// queries); false where that cannot be done.
    pub fn start_profiling(&self) -> bool {
        match self {
            #[cfg(feature = "wgpu")]
            Model::Wgpu(m) => m.start_profiling(),
            _ => false,
        }
    }

    /// Stops timing GPU kernels.
    pub fn stop_profiling(&self) {
        #[cfg(feature = "wgpu")]
        if let Model::Wgpu(m) = self {
            m.stop_profiling();
        }
    }

    /// GPU time per kernel kind since the last call (empty unless profiling).
    pub fn take_profile(&self) -> Vec<KernelTime> {
        match self {
            #[cfg(feature = "wgpu")]
            Model::Wgpu(m) => m.take_profile(),
            _ => Vec::new(),
        }
    }

    /// The CPU backend's thread count; `None` on other backends.
    pub fn cpu_threads(&self) -> Option<usize> {
        match self {
            Model::Cpu(m) => Some(m.threads()),
            _ => None,
        }
    }

    /// The CPU backend's kernels and thread count, e.g. `avx512, 2 threads`;
    /// `None` on other backends.
    pub fn cpu_kernels(&self) -> Option<String> {
        match self {
            Model::Cpu(m) => {
                let (threads, s) = (m.threads(), if m.threads() == 1 { "" } else { "s" });
                Some(format!("{}, {threads} thread{s}", m.kernel_path().name()))
            }
            _ => None,
        }
    }

    /// The fused CUDA step's weights on the GPU, where the model runs on it
    /// (for more steps on the same weights: greedy's on-device loop).
    #[cfg(feature = "cuda")]
    pub fn fused_step_weights(&self) -> Option<std::sync::Arc<CudaWeights>> {
        match self {
            Model::Fused(m) => Some(m.maker().gpu.clone()),
            _ => None,
        }
    }

    /// Where the model runs, for people.
    pub fn device_name(&self) -> String {
        match self {
            Model::Cpu(m) => match m.precision() {
                Precision::F32 => "cpu".into(),
                p => format!("cpu ({p})"),
            },
            Model::Candle(m) => {
                let device = match m.device().location() {
                    candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
                    _ => "cpu".into(),
                };
                match m.precision() {
                    Precision::F32 => device,
                    p => format!("{device} ({p})"),
                }
            }
            #[cfg(feature = "wgpu")]
            Model::Wgpu(m) if m.f16_weights() => format!("wgpu: {} (f16)", m.device_info()),
            #[cfg(feature = "wgpu")]
            Model::Wgpu(m) => format!("wgpu: {}", m.device_info()),
            Model::Remote(m) => m.device_name(),
            #[cfg(feature = "cuda")]
            Model::Fused(m) => format!(
                "cuda (fused step: {} launches a token)",
                m.config().n_layer * super::decode_step::LAUNCHES_PER_BLOCK + 2
            ),
        }
    }
}

/// Whether `GPT2_CUDA_STEP=fused` asks for the fused decode step on CUDA.
#[cfg(feature = "cuda")]
pub fn fused_step_wanted() -> bool {
    std::env::var("GPT2_CUDA_STEP").is_ok_and(|v| v.trim() == "fused")
}

/// Opens CUDA device `ordinal`, or says why it cannot be used.
fn cuda_device(ordinal: usize) -> Result<candle_core::Device> {
    match candle_core::Device::new_cuda(ordinal) {
        Ok(device) => Ok(device),
        Err(_) if !cfg!(feature = "cuda") => Err(Error::input(
            "--device cuda: this build has no CUDA support; build with `--features cuda` \
                 (see the README's CUDA section), or use --device cpu",
        )),
        Err(e) => Err(Error::input(format!(
            "--device cuda: no usable NVIDIA GPU {ordinal} ({}); check that the NVIDIA \
             driver is installed and `nvidia-smi` lists a GPU, or use --device cpu",
            Error::from(e)
                .to_string()
                .trim_start_matches("backend error: ")
        ))),
    }
}

impl KvCache for Cache {
    fn len(&self) -> usize {
        match self {
            Cache::Cpu(c) => c.len(),
            Cache::Candle(c) => c.len(),
            #[cfg(feature = "wgpu")]
            Cache::Wgpu(c) => c.len(),
            Cache::Remote(c) => c.len(),
            #[cfg(feature = "cuda")]
            Cache::Fused(c) => c.len(),
        }
    }

    fn rows(&self) -> usize {
        match self {
            Cache::Cpu(c) => c.rows(),
            Cache::Candle(c) => c.rows(),
            #[cfg(feature = "wgpu")]
            Cache::Wgpu(c) => c.rows(),
            Cache::Remote(c) => c.rows(),
            #[cfg(feature = "cuda")]
            Cache::Fused(c) => c.rows(),
        }
    }

    fn truncate(&mut self, len: usize) {
        match self {
            Cache::Cpu(c) => c.truncate(len),
            Cache::Candle(c) => c.truncate(len),
            #[cfg(feature = "wgpu")]
            Cache::Wgpu(c) => c.truncate(len),
            Cache::Remote(c) => c.truncate(len),
            #[cfg(feature = "cuda")]
            Cache::Fused(c) => c.truncate(len),
        }
    }

    fn reorder(&mut self, rows: &[usize]) -> Result<()> {
        match self {
            Cache::Cpu(c) => c.reorder(rows),
            Cache::Candle(c) => c.reorder(rows),
            #[cfg(feature = "wgpu")]
            Cache::Wgpu(c) => c.reorder(rows),
            Cache::Remote(c) => c.reorder(rows),
            #[cfg(feature = "cuda")]
            Cache::Fused(c) => c.reorder(rows),
        }
    }

    fn reserve(&mut self, positions: usize) -> Result<()> {
        match self {
            Cache::Cpu(c) => c.reserve(positions),
            Cache::Candle(c) => c.reserve(positions),
            #[cfg(feature = "wgpu")]
            Cache::Wgpu(c) => c.reserve(positions),
            Cache::Remote(c) => c.reserve(positions),
            #[cfg(feature = "cuda")]
            Cache::Fused(c) => c.reserve(positions),
        }
    }
}

impl LanguageModel for Model {
    type Cache = Cache;

    fn config(&self) -> &Gpt2Config {
        match self {
            Model::Cpu(m) => m.config(),
            Model::Candle(m) => m.config(),
            #[cfg(feature = "wgpu")]
            Model::Wgpu(m) => m.config(),
            Model::Remote(m) => m.config(),
            #[cfg(feature = "cuda")]
            Model::Fused(m) => m.config(),
        }
    }

    fn new_cache(&self, rows: usize) -> Result<Cache> {
        Ok(match self {
            Model::Cpu(m) => Cache::Cpu(m.new_cache(rows)?),
            Model::Candle(m) => Cache::Candle(m.new_cache(rows)?),
            #[cfg(feature = "wgpu")]
            Model::Wgpu(m) => Cache::Wgpu(m.new_cache(rows)?),
            Model::Remote(m) => Cache::Remote(m.new_cache(rows)?),
            #[cfg(feature = "cuda")]
            Model::Fused(m) => Cache::Fused(m.new_cache(rows)?),
        })
    }

    async fn forward(&self, cache: &mut Cache, tokens: &[&[u32]], last: usize) -> Result<Logits> {
        match (self, cache) {
            (Model::Cpu(m), Cache::Cpu(c)) => m.forward(c, tokens, last).await,
            (Model::Candle(m), Cache::Candle(c)) => m.forward(c, tokens, last).await,
            #[cfg(feature = "wgpu")]
            (Model::Wgpu(m), Cache::Wgpu(c)) => m.forward(c, tokens, last).await,
            (Model::Remote(m), Cache::Remote(c)) => m.forward(c, tokens, last).await,
            #[cfg(feature = "cuda")]
            (Model::Fused(m), Cache::Fused(c)) => m.forward(c, tokens, last).await,
            _ => Err(Error::input(
                "this cache belongs to a model on another device: use the model's own new_cache",
            )),
        }
    }

    async fn forward_top(
        &self,
        cache: &mut Cache,
        tokens: &[&[u32]],
        last: usize,
        k: usize,
        extra: &[u32],
    ) -> Result<TopLogits> {
        match (self, cache) {
            (Model::Cpu(m), Cache::Cpu(c)) => m.forward_top(c, tokens, last, k, extra).await,
            (Model::Candle(m), Cache::Candle(c)) => m.forward_top(c, tokens, last, k, extra).await,
            #[cfg(feature = "wgpu")]
            (Model::Wgpu(m), Cache::Wgpu(c)) => m.forward_top(c, tokens, last, k, extra).await,
            (Model::Remote(m), Cache::Remote(c)) => m.forward_top(c, tokens, last, k, extra).await,
            #[cfg(feature = "cuda")]
            (Model::Fused(m), Cache::Fused(c)) => m.forward_top(c, tokens, last, k, extra).await,
            _ => Err(Error::input(
                "this cache belongs to a model on another device: use the model's own new_cache",
            )),
        }
    }

    async fn forward_hidden(
        &self,
        cache: &mut Cache,
        tokens: &[&[u32]],
        last: usize,
        want: &HiddenRequest<'_>,
    ) -> Result<Hidden> {
        match (self, cache) {
            (Model::Cpu(m), Cache::Cpu(c)) => m.forward_hidden(c, tokens, last, want).await,
            (Model::Candle(m), Cache::Candle(c)) => m.forward_hidden(c, tokens, last, want).await,
            #[cfg(feature = "wgpu")]
            (Model::Wgpu(m), Cache::Wgpu(c)) => m.forward_hidden(c, tokens, last, want).await,
            (Model::Remote(m), Cache::Remote(c)) => m.forward_hidden(c, tokens, last, want).await,
            #[cfg(feature = "cuda")]
            (Model::Fused(m), Cache::Fused(c)) => m.forward_hidden(c, tokens, last, want).await,
            _ => Err(Error::input(
                "this cache belongs to a model on another device: use the model's own new_cache",
            )),
        }
    }

    fn device_work(&self) -> Option<DeviceWork> {
        match self {
            Model::Cpu(m) => m.device_work(),
            Model::Candle(m) => m.device_work(),
            #[cfg(feature = "wgpu")]
            Model::Wgpu(m) => m.device_work(),
            Model::Remote(m) => m.device_work(),
            #[cfg(feature = "cuda")]
            Model::Fused(m) => m.device_work(),
        }
    }
}
