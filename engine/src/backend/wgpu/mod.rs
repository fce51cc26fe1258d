//! GPT-2 as hand-written WGSL compute shaders driven by `wgpu`: WebGPU in the
//! browser, Vulkan, Metal or DX12 natively.
//!
//! Everything is created once: pipelines at load (on GPUs emulated on a CPU,
//! the prompt's tiled products when a prompt first needs them, and real
//! GPUs' split attention never), buffers and bind groups when a pass needs
//! more room than the last one (then reused). A forward pass is one command
//! submission (embeddings, every block, the final layer
//! norm, the logits and their copy for reading), and only the logits that
//! were asked for are read back.

mod buffers;
mod cache;
mod gpu;
mod hidden;
mod kernels;
mod model_kernels;
mod options;
mod pass;
mod recorder;
mod weights;
mod workspace;

use std::cell::{Cell, OnceCell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use cache::WgpuCache;
pub use gpu::{Gpu, GpuOptions, KernelSet};

use crate::backend::{
    DeviceWork, Hidden, HiddenRequest, KernelTime, LanguageModel, Logits, Precision, TopLogits,
};
use crate::config::Gpt2Config;
use crate::weights::Gpt2Checkpoint;
use crate::{Error, Result};
use kernels::Dims;
use model_kernels::ModelKernels;
use pass::{PassOutput, Want};
use recorder::Profiler;
use weights::Weights;
use workspace::Workspace;

/// The GPU and the model's kernels, shared with its caches.
struct Shared {
    gpu: Gpu,
    config: Gpt2Config,
    /// Tells this model's caches from other models'.
    id: u64,
    k: ModelKernels,
    weights: Weights,
    /// `ln_f`'s weight and bias on the host, for `hidden_states[n_layer]`.
    ln_f_host: [Vec<f32>; 2],
}

/// GPT-2 with its weights on a WebGPU device.
pub struct WgpuModel {
    shared: Arc<Shared>,
    dims: wgpu::Buffer,
    workspace: RefCell<Option<Workspace>>,
    /// The hidden states' buffers, once a pass has asked for some.
    capture: RefCell<Option<hidden::Capture>>,
    profiler: OnceCell<Option<Profiler>>,
    profiling: Cell<bool>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl WgpuModel {
    /// Opens the GPU and loads the model onto it.
    pub async fn load(
        ckpt: &Gpt2Checkpoint,
        config: &Gpt2Config,
        options: &GpuOptions,
    ) -> Result<WgpuModel> {
        let gpu = Gpu::new(options).await?;
        Self::load_on(gpu, ckpt, config, Precision::F32).await
    }

    /// Loads the model onto a GPU already opened, its weight matrices in
    /// `precision` (f32, or f16 where the GPU has `shader-f16`; activations
    /// and arithmetic stay f32).
    pub async fn load_on(
        gpu: Gpu,
        ckpt: &Gpt2Checkpoint,
        config: &Gpt2Config,
        precision: Precision,
    ) -> Result<WgpuModel> {
        match precision {
            Precision::F32 => {}
            Precision::F16 if gpu.shader_f16 => {}
            Precision::F16 => {
                return Err(Error::input(format!(
                    "--dtype f16 on wgpu needs the GPU's shader-f16 feature, which {} lacks: \
                     leave out --dtype (f32)",
                    gpu.info
                )))
            }
            Precision::Bf16 => {
                return Err(Error::input(
                    "the wgpu backend has no bf16 (WebGPU shaders have no bf16 type): \
                     use --dtype f16 or f32, or --device cuda for bf16",
                ))
            }
        }
        if config.head_dim() > kernels::MAX_HEAD_DIM {
            return Err(Error::input(format!(
                "the wgpu backend handles heads of up to {} values; this model's are {}: \
                 use --device cpu",
                kernels::MAX_HEAD_DIM,
                config.head_dim()
            )));
        }
        let weights = gpu
            .scoped("loading the weights", || {
                Weights::load(&gpu, ckpt, config, precision == Precision::F16)
            })
            .await??;
        let k = gpu
            .scoped("building the shaders", || {
                ModelKernels::new(&gpu, config, &weights)
            })
            .await?;
        let dims = gpu.uniform("dims", Dims::BYTES);
        let shared = Shared {
            gpu,
            config: config.clone(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            k,
            weights,
            ln_f_host: [ckpt.f32("ln_f.weight")?, ckpt.f32("ln_f.bias")?],
        };
        // On the web, wgpu's handles are not Send: the page has one thread,
        // and the Arc is shared between the model's clones only.
        #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
        let shared = Arc::new(shared);
        Ok(WgpuModel {
            shared,
            dims,
            workspace: RefCell::new(None),
            capture: RefCell::new(None),
            profiler: OnceCell::new(),
            profiling: Cell::new(false),
        })
    }

    /// The GPU's name and backend.
    pub fn device_info(&self) -> &str {
        &self.shared.gpu.info
    }

    /// Whether the adapter is a GPU emulated on the CPU (lavapipe, SwiftShader).
    pub fn emulated_adapter(&self) -> bool {
        self.shared.gpu.emulated
    }

    /// The kernel set in use: `gpu` or `emulated` (see [`KernelSet`]).
    pub fn kernel_set(&self) -> &'static str {
        if self.shared.k.fused.is_some() {
            "gpu"
        } else {
            "emulated"
        }
    }

    /// Frees the model's GPU memory at once by destroying its device; every
    /// later call on the model or its caches returns an error.
    pub fn release(&self) {
        self.shared.gpu.device.destroy();
    }

    /// Whether the weights are kept in f16 on the GPU.
    pub fn f16_weights(&self) -> bool {
        self.shared.weights.f16
    }

    /// Times every dispatch of the passes to come with timestamp queries;
    /// false where the adapter has none.
    pub fn start_profiling(&self) -> bool {
        let available = self
            .profiler
            .get_or_init(|| Profiler::new(&self.shared.gpu))
            .is_some();
        self.profiling.set(available);
        available
    }

    /// Stops timing dispatches (the totals not yet taken are kept).
    pub fn stop_profiling(&self) {
        self.profiling.set(false);
    }

    /// GPU time per kernel kind since the last call (empty unless profiling).
    pub fn take_profile(&self) -> Vec<KernelTime> {
        match self.profiler.get() {
            Some(Some(p)) => p.take(),
            _ => Vec::new(),
        }
    }

    fn active_profiler(&self) -> Option<&Profiler> {
        if !self.profiling.get() {
            return None;
        }
        self.profiler.get().and_then(Option::as_ref)
    }
}

impl LanguageModel for WgpuModel {
    type Cache = WgpuCache;

    fn config(&self) -> &Gpt2Config {
        &self.shared.config
    }

    fn new_cache(&self, rows: usize) -> Result<WgpuCache> {
        WgpuCache::new(self.shared.clone(), rows)
    }

    fn device_work(&self) -> Option<DeviceWork> {
        Some(self.shared.gpu.work.snapshot())
    }

    async fn forward(
        &self,
        cache: &mut WgpuCache,
        tokens: &[&[u32]],
        last: usize,
    ) -> Result<Logits> {
        match self.pass(cache, tokens, last, Want::Rows).await? {
            PassOutput::Rows(logits) => Ok(logits),
            // `pass` answers in the form `want` asked for, always.
            _ => unreachable!("rows were asked for"),
        }
    }

    async fn forward_top(
        &self,
        cache: &mut WgpuCache,
        tokens: &[&[u32]],
        last: usize,
        k: usize,
        extra: &[u32],
    ) -> Result<TopLogits> {
        let want = Want::Top { k, extra };
        match self.pass(cache, tokens, last, want).await? {
            PassOutput::Top(top) => Ok(top),
            // `pass` answers in the form `want` asked for, always.
            _ => unreachable!("a summary was asked for"),
        }
    }

    async fn forward_hidden(
        &self,
        cache: &mut WgpuCache,
        tokens: &[&[u32]],
        last: usize,
        want: &HiddenRequest<'_>,
    ) -> Result<Hidden> {
        match self.pass(cache, tokens, last, Want::Hidden(want)).await? {
            PassOutput::Hidden(hidden) => Ok(hidden),
            // `pass` answers in the form `want` asked for, always.
            _ => unreachable!("hidden states were asked for"),
        }
    }
}
