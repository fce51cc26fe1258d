//! How to pick and limit the GPU: the options a model is loaded with, and
//! the kernel set (`GPT2_WGPU_KERNELS`).

use crate::{Error, Result};

/// How to pick and limit the GPU.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// Caps the bytes one storage binding may hold below what the adapter
    /// offers (tests use this to exercise the split of large weights).
    pub max_binding_bytes: Option<u64>,
    /// Keeps f16 checkpoints in f32 on the GPU even where `shader-f16` exists.
    pub force_f32: bool,
    /// The kernels to use; `None` reads `GPT2_WGPU_KERNELS` (default `auto`).
    pub kernels: Option<KernelSet>,
}

/// Which kernels run the model: those for real GPUs (workgroup memory,
/// barriers, fused layer norms) or the barrier-free ones that GPUs emulated
/// on a CPU run faster. `Auto` picks by the adapter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KernelSet {
    #[default]
    Auto,
    Gpu,
    Emulated,
}

impl KernelSet {
    /// The environment variable that forces a set.
    pub const ENV: &'static str = "GPT2_WGPU_KERNELS";

    /// The set named by `GPT2_WGPU_KERNELS` (`gpu`, `emulated` or `auto`; unset is `auto`).
    pub fn from_env() -> Result<KernelSet> {
        match std::env::var(Self::ENV) {
            Err(_) => Ok(KernelSet::Auto),
            Ok(v) => v.parse(),
        }
    }
}

impl std::str::FromStr for KernelSet {
    type Err = Error;

    fn from_str(s: &str) -> Result<KernelSet> {
        match s.trim() {
            "" | "auto" => Ok(KernelSet::Auto),
            "gpu" => Ok(KernelSet::Gpu),
            "emulated" => Ok(KernelSet::Emulated),
            other => Err(Error::input(format!(
                "{}={other:?}: expected gpu, emulated or auto",
                KernelSet::ENV
            ))),
        }
    }
}
