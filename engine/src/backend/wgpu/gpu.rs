//! The GPU itself: adapter and device with the limits GPT-2 needs, compute
//! kernels built from WGSL and their bind groups, and errors turned into
//! [`Error`]s.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};

pub use super::options::{GpuOptions, KernelSet};
use super::recorder::WorkCounters;
use crate::{Error, Result};

/// A WebGPU device and queue, with what it was found to support.
pub struct Gpu {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    /// Largest storage binding, in bytes.
    pub(super) max_binding: u64,
    /// Whether WGSL may use `f16`.
    pub(super) shader_f16: bool,
    /// A GPU emulated on the CPU (lavapipe, SwiftShader).
    pub(super) emulated: bool,
    /// The barrier-free kernels run the model (chosen by [`KernelSet`]).
    pub(super) emulated_kernels: bool,
    /// Whether compute passes can write timestamps (profiling).
    pub(super) timestamps: bool,
    /// The work done so far.
    pub(super) work: WorkCounters,
    /// The adapter's name and backend, for people.
    pub info: String,
    lost: Arc<Mutex<Option<String>>>,
    uncaptured: Arc<Mutex<Option<String>>>,
}

/// How a kernel sees one of its bindings.
#[derive(Debug, Clone, Copy)]
pub(super) enum Access {
    Uniform,
    Read,
    ReadWrite,
}

/// The compute pipelines of one WGSL module's entry points, sharing the
/// layout of their bind group; each is built when first asked for, or all
/// at once by [`Kernel::built`].
pub(super) struct Kernel {
    name: String,
    device: wgpu::Device,
    module: wgpu::ShaderModule,
    pipeline_layout: wgpu::PipelineLayout,
    constants: Vec<(String, f64)>,
    entries: Vec<(String, OnceLock<wgpu::ComputePipeline>)>,
    pub(super) layout: wgpu::BindGroupLayout,
    built: Arc<AtomicU64>,
}

impl Kernel {
    /// The kernel with every pipeline built.
    pub(super) fn built(self) -> Kernel {
        for i in 0..self.entries.len() {
            self.pipeline(i);
        }
        self
    }

    /// The pipeline of entry point `i` (in the order the kernel was given
    /// them), built now if it was not yet.
    pub(super) fn pipeline(&self, i: usize) -> &wgpu::ComputePipeline {
        let (entry, cell) = &self.entries[i];
        cell.get_or_init(|| {
            WorkCounters::add(&self.built, 1);
            let constants: Vec<(&str, f64)> = self
                .constants
                .iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect();
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&self.name),
                    layout: Some(&self.pipeline_layout),
                    module: &self.module,
                    entry_point: Some(entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &constants,
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                })
        })
    }
}

impl Gpu {
    /// Finds a GPU (the high-performance one where there are several) and
    /// opens a device with the adapter's own limits.
    pub async fn new(options: &GpuOptions) -> Result<Gpu> {
        let kernels = match options.kernels {
            Some(k) => k,
            None => KernelSet::from_env()?,
        };
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                Error::Backend(format!(
                    "no WebGPU adapter found ({e}): natively this needs a Vulkan, Metal or DX12 \
                     driver (on Linux without a GPU: Mesa's lavapipe, package mesa-vulkan-drivers); \
                     use --device cpu otherwise"
                ))
            })?;
        let info = adapter.get_info();
        let emulated = info.device_type == wgpu::DeviceType::Cpu
            || ["llvmpipe", "lavapipe", "swiftshader"]
                .iter()
                .any(|n| info.name.to_lowercase().contains(n));
        // Browsers often keep the adapter's name to themselves.
        let info = match (info.name.is_empty(), info.backend) {
            (true, wgpu::Backend::BrowserWebGpu) => "WebGPU".to_string(),
            (true, backend) => format!("{backend:?}"),
            (false, backend) => format!("{} ({backend:?})", info.name),
        };
        let limits = adapter.limits();
        let shader_f16 =
            !options.force_f32 && adapter.features().contains(wgpu::Features::SHADER_F16);
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let mut features = wgpu::Features::empty();
        if shader_f16 {
            features |= wgpu::Features::SHADER_F16;
        }
        if timestamps {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("gpt2"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::Backend(format!("the GPU ({info}) refused a device: {e}")))?;
        let lost = Arc::new(Mutex::new(None));
        let lost_in = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut l) = lost_in.lock() {
                *l = Some(format!("{reason:?}: {message}"));
            }
        });
        let uncaptured = Arc::new(Mutex::new(None));
        let uncaptured_in = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut u) = uncaptured_in.lock() {
                u.get_or_insert_with(|| e.to_string());
            }
        }));
        let max_binding = (limits.max_storage_buffer_binding_size as u64)
            .min(limits.max_buffer_size)
            .min(options.max_binding_bytes.unwrap_or(u64::MAX));
        Ok(Gpu {
            device,
            queue,
            max_binding,
            shader_f16,
            emulated,
            emulated_kernels: match kernels {
                KernelSet::Auto => emulated,
                KernelSet::Gpu => false,
                KernelSet::Emulated => true,
            },
            timestamps,
            work: WorkCounters::default(),
            info,
            lost,
            uncaptured,
        })
    }

    /// An error if the device was lost or an operation failed outside a scope.
    pub(super) fn check(&self) -> Result<()> {
        if let Some(m) = self.lost.lock().ok().and_then(|l| l.clone()) {
            return Err(Error::Backend(format!(
                "the GPU device was lost ({m}); reload the model to go on"
            )));
        }
        if let Some(m) = self.uncaptured.lock().ok().and_then(|mut u| u.take()) {
            return Err(Error::Backend(format!("GPU error: {m}")));
        }
        Ok(())
    }

    /// Runs `make` inside error scopes for running out of memory and for
    /// validation, so that either becomes an [`Error`] that names `what`.
    pub(super) async fn scoped<T>(&self, what: &str, make: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = make();
        let invalid = validation.pop().await;
        let out_of_memory = oom.pop().await;
        if let Some(e) = out_of_memory {
            return Err(Error::Backend(format!(
                "the GPU ran out of memory {what} ({e}): try a smaller model, fewer beams, \
                 or --device cpu"
            )));
        }
        if let Some(e) = invalid {
            return Err(Error::Backend(format!("GPU error {what}: {e}")));
        }
        self.check()?;
        Ok(value)
    }

    /// A compute kernel from WGSL with pipeline-overridable constants, one
    /// pipeline per entry point, none built yet: each is built when first
    /// asked for, or all at once by [`Kernel::built`]. On GPUs emulated on a
    /// CPU, building a pipeline with barriers takes up to half a second: those
    /// a session may never run are left to be built on use.
    pub(super) fn kernel(
        &self,
        name: &str,
        source: &str,
        entries: &[&str],
        bindings: &[Access],
        constants: &[(&str, f64)],
    ) -> Kernel {
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let layout_entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
            .iter()
            .enumerate()
            .map(|(i, access)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match access {
                        Access::Uniform => wgpu::BufferBindingType::Uniform,
                        Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                        Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(name),
                entries: &layout_entries,
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(name),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        Kernel {
            name: name.to_string(),
            device: self.device.clone(),
            module,
            pipeline_layout,
            constants: constants.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            entries: entries
                .iter()
                .map(|e| (e.to_string(), OnceLock::new()))
                .collect(),
            layout,
            built: self.work.pipelines_built.clone(),
        }
    }

    /// A bind group giving `kernel` these buffers, in binding order.
    pub(super) fn bind(&self, kernel: &Kernel, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        WorkCounters::add(&self.work.bind_groups_created, 1);
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &kernel.layout,
            entries: &entries,
        })
    }
}
