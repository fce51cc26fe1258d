//! A decode step's [`Plan`] on an NVIDIA GPU: the fused kernels of
//! `kernels.cu` (PTX that nvcc builds with the `cuda` feature), every buffer
//! allocated once, and the step's launches captured once into a CUDA graph
//! and replayed per token. Greedy runs token after token on the device alone:
//! the argmax feeds the next step and keeps the ids in [`Buf::History`],
//! which the host reads when it wants them.
//!
//! Off by default (`GPT2_CUDA_STEP=fused` turns it on where it is used) until
//! it is verified on a GPU: `engine/tests/cuda_step.rs` checks every kernel
//! against [`super::reference`] and the steps' greedy ids against the CPU
//! backend.

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::driver::sys::{CUfunction_attribute, CUgraphInstantiate_flags, CUstreamCaptureMode};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaGraph, CudaSlice, CudaStream, DevicePtr, LaunchConfig,
    PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use half::{bf16, f16};

use super::launch::{kernel_names, Arg, MAX_ROWS};
use super::{Buf, Op, Plan, Prologue, SPAN};
use crate::backend::Precision;
use crate::weights::{transpose, Gpt2Checkpoint};
use crate::{Error, Result};

/// The kernels, as nvcc compiled them for this build.
const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/decode_step.ptx"));

/// Shared memory a block may use without asking (48 KiB).
const DEFAULT_SHARED: usize = 48 << 10;

fn cuda_error(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Backend(format!("CUDA decode step: {what}: {e:?}"))
}

/// A weight on the device: its raw device pointer is what launches take.
struct DeviceWeight {
    ptr: u64,
    _data: DeviceData,
}

enum DeviceData {
    F32(CudaSlice<f32>),
    Half(CudaSlice<u16>),
}

/// The step's plan, kernels, weights and buffers on one GPU.
pub struct CudaStep {
    plan: Plan,
    stream: Arc<CudaStream>,
    functions: HashMap<String, CudaFunction>,
    /// `f32`, `f16` or `bf16`: the kernels' suffix for the weight matrices.
    kind: &'static str,
    weights: HashMap<String, DeviceWeight>,
    f32_bufs: HashMap<Buf, CudaSlice<f32>>,
    u32_bufs: HashMap<Buf, CudaSlice<u32>>,
    ptrs: HashMap<Buf, u64>,
    graph: Option<CudaGraph>,
}

impl CudaStep {
    /// Loads the kernels and `ckpt`'s weights onto GPU `ordinal` (matrices in
    /// `precision`, as `[n, k]`; norms and biases in f32) and allocates the
    /// plan's buffers.
    pub fn new(
        ordinal: usize,
        ckpt: &Gpt2Checkpoint,
        plan: Plan,
        precision: Precision,
    ) -> Result<CudaStep> {
        if plan.span != SPAN {
            return Err(Error::Backend(format!(
                "the CUDA kernels split attention in spans of {SPAN} positions, the plan in {}",
                plan.span
            )));
        }
        if plan.rows == 0 || plan.rows > MAX_ROWS {
            return Err(Error::input(format!(
                "the CUDA decode step takes 1 to {MAX_ROWS} rows, not {}",
                plan.rows
            )));
        }
        let d = plan.config.n_embd / plan.config.n_head;
        if d > SPAN {
            return Err(Error::Backend(format!(
                "heads of {d} dimensions: the CUDA attention kernel takes at most {SPAN}"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| cuda_error("opening the GPU", e))?;
        let stream = ctx
            .new_stream()
            .map_err(|e| cuda_error("making a stream", e))?;
        let module = ctx
            .load_module(Ptx::from_src(PTX))
            .map_err(|e| cuda_error("loading the kernels", e))?;
        let kind = match precision {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        };
        let mut functions = HashMap::new();
        let names = kernel_names(kind);
        for name in names {
            let f = module
                .load_function(&name)
                .map_err(|e| cuda_error(&format!("finding kernel {name}"), e))?;
            functions.insert(name, f);
        }

        let mut step = CudaStep {
            plan,
            stream,
            functions,
            kind,
            weights: HashMap::new(),
            f32_bufs: HashMap::new(),
            u32_bufs: HashMap::new(),
            ptrs: HashMap::new(),
            graph: None,
        };
        step.upload_weights(ckpt, precision)?;
        step.allocate()?;
        step.allow_shared_memory()?;
        Ok(step)
    }

    fn upload_weights(&mut self, ckpt: &Gpt2Checkpoint, precision: Precision) -> Result<()> {
        let c = self.plan.config.n_embd;
        let mut matrices: Vec<(String, usize, usize, bool)> = vec![
            ("wte.weight".into(), self.plan.config.vocab_size, c, true),
            ("wpe.weight".into(), self.plan.config.n_positions, c, true),
        ];
        let mut vectors = Vec::new();
        for op in &self.plan.ops {
            if let Op::Matvec {
                prologue,
                weight,
                transposed,
                bias,
                k,
                n,
                ..
            } = op
            {
                matrices.push((weight.clone(), *n, *k, *transposed));
                vectors.extend(bias.clone());
                if let Prologue::LayerNorm { weight, bias } = prologue {
                    vectors.extend([weight.clone(), bias.clone()]);
                }
            }
        }
        for (name, n, k, already_nk) in matrices {
            if self.weights.contains_key(&name) {
                continue;
            }
            let values = ckpt.f32(&name)?;
            let nk = if already_nk {
                values
            } else {
                // Conv1D's [k, n] to the kernels' [n, k].
                let mut out = vec![0f32; n * k];
                transpose(&values, k, n, &mut out);
                out
            };
            let data = match precision {
                Precision::F32 => DeviceData::F32(self.upload(&nk)?),
                Precision::F16 => DeviceData::Half(
                    self.upload(
                        &nk.iter()
                            .map(|&v| f16::from_f32(v).to_bits())
                            .collect::<Vec<_>>(),
                    )?,
                ),
                Precision::Bf16 => DeviceData::Half(
                    self.upload(
                        &nk.iter()
                            .map(|&v| bf16::from_f32(v).to_bits())
                            .collect::<Vec<_>>(),
                    )?,
                ),
            };
            self.insert_weight(name, data);
        }
        for name in vectors {
            if !self.weights.contains_key(&name) {
                let data = DeviceData::F32(self.upload(&ckpt.f32(&name)?)?);
                self.insert_weight(name, data);
            }
        }
        Ok(())
    }

    fn insert_weight(&mut self, name: String, data: DeviceData) {
        let ptr = match &data {
            DeviceData::F32(s) => s.device_ptr(&self.stream).0,
            DeviceData::Half(s) => s.device_ptr(&self.stream).0,
        };
        self.weights.insert(name, DeviceWeight { ptr, _data: data });
    }

    fn upload<T: cudarc::driver::DeviceRepr>(&self, host: &[T]) -> Result<CudaSlice<T>> {
        self.stream
            .clone_htod(host)
            .map_err(|e| cuda_error("copying weights to the GPU", e))
    }

    fn allocate(&mut self) -> Result<()> {
        for buf in self.plan.buffers() {
            let len = self.plan.len(buf);
            let ptr = if matches!(buf, Buf::Ids | Buf::Pos | Buf::History) {
                let s = self
                    .stream
                    .alloc_zeros::<u32>(len)
                    .map_err(|e| cuda_error("allocating the step's buffers", e))?;
                let ptr = s.device_ptr(&self.stream).0;
                self.u32_bufs.insert(buf, s);
                ptr
            } else {
                let s = self
                    .stream
                    .alloc_zeros::<f32>(len)
                    .map_err(|e| cuda_error("allocating the step's buffers", e))?;
                let ptr = s.device_ptr(&self.stream).0;
                self.f32_bufs.insert(buf, s);
                ptr
            };
            self.ptrs.insert(buf, ptr);
        }
        Ok(())
    }

    /// Products whose input rows take more than 48 KiB of shared memory ask
    /// for it (up to 227 KiB a block on an H100).
    fn allow_shared_memory(&self) -> Result<()> {
        let most = self.plan.most_shared();
        if most > DEFAULT_SHARED {
            for (name, f) in &self.functions {
                if name.starts_with("matvec_") {
                    f.set_attribute(
                        CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                        most as i32,
                    )
                    .map_err(|e| cuda_error(&format!("{most} bytes of shared memory"), e))?;
                }
            }
        }
        Ok(())
    }

    /// The plan this step runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Sets each row's token of the next step.
    pub fn set_ids(&mut self, ids: &[u32]) -> Result<()> {
        if ids.len() != self.plan.rows {
            return Err(Error::input(format!(
                "{} ids for a step of {} rows",
                ids.len(),
                self.plan.rows
            )));
        }
        if let Some(&id) = ids
            .iter()
            .find(|&&id| id as usize >= self.plan.config.vocab_size)
        {
            return Err(Error::input(format!(
                "token id {id} is past the vocabulary of {}",
                self.plan.config.vocab_size
            )));
        }
        self.write(Buf::Ids, ids)
    }

    /// Sets the positions already in the cache.
    pub fn set_pos(&mut self, pos: u32) -> Result<()> {
        self.write(Buf::Pos, &[pos])
    }

    fn write(&mut self, buf: Buf, values: &[u32]) -> Result<()> {
        let dst = self.u32_bufs.get_mut(&buf).expect("a u32 buffer");
        self.stream
            .memcpy_htod(values, dst)
            .map_err(|e| cuda_error("writing the step's input", e))
    }

    /// A u32 buffer, read back (waits for the GPU).
    pub fn read_u32(&self, buf: Buf) -> Result<Vec<u32>> {
        self.stream
            .clone_dtoh(&self.u32_bufs[&buf])
            .map_err(|e| cuda_error("reading back", e))
    }

    /// An f32 buffer, read back (waits for the GPU).
    pub fn read_f32(&self, buf: Buf) -> Result<Vec<f32>> {
        self.stream
            .clone_dtoh(&self.f32_bufs[&buf])
            .map_err(|e| cuda_error("reading back", e))
    }

    /// Overwrites an f32 buffer (the kernel tests set their inputs so).
    pub fn write_f32(&mut self, buf: Buf, values: &[f32]) -> Result<()> {
        let dst = self.f32_bufs.get_mut(&buf).expect("an f32 buffer");
        self.stream
            .memcpy_htod(values, dst)
            .map_err(|e| cuda_error("writing a buffer", e))
    }

    /// Runs one step: the captured graph (captured on first use).
    pub fn step(&mut self) -> Result<()> {
        if self.graph.is_none() {
            self.stream
                .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
                .map_err(|e| cuda_error("starting the capture", e))?;
            let launched = (0..self.plan.ops.len()).try_for_each(|i| self.launch(i));
            let graph = self
                .stream
                .end_capture(CUgraphInstantiate_flags(0))
                .map_err(|e| cuda_error("capturing the step", e))?;
            launched?;
            self.graph = graph;
        }
        match &self.graph {
            Some(g) => g.launch().map_err(|e| cuda_error("running the step", e)),
            None => Err(Error::Backend(
                "CUDA decode step: the capture made no graph".into(),
            )),
        }
    }

    /// Waits for the GPU.
    pub fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(|e| cuda_error("waiting for the GPU", e))
    }

    /// Launches op `i` of the plan (on its own: the kernel tests run them so).
    pub fn launch(&self, i: usize) -> Result<()> {
        let launch = self.plan.launch(i, self.kind);
        let f = &self.functions[&launch.kernel];
        // Every argument as a value the builder can point at until the launch.
        enum Value {
            Ptr(u64),
            I32(i32),
            F32(f32),
        }
        let values: Vec<Value> = launch
            .args
            .iter()
            .map(|a| match a {
                Arg::Buf(b) => Value::Ptr(self.ptrs[b]),
                Arg::Weight(name) => Value::Ptr(self.weights[name].ptr),
                Arg::Null => Value::Ptr(0),
                Arg::I32(v) => Value::I32(*v),
                Arg::F32(v) => Value::F32(*v),
            })
            .collect();
        let mut b = self.stream.launch_builder(f);
        for v in &values {
            match v {
                Value::Ptr(p) => b.arg(p),
                Value::I32(x) => b.arg(x),
                Value::F32(x) => b.arg(x),
            };
        }
        let config = LaunchConfig {
            grid_dim: launch.grid,
            block_dim: (launch.threads, 1, 1),
            shared_mem_bytes: launch.shared,
        };
        // SAFETY: `Plan::launch` gives the kernel's arguments in its order,
        // and every pointer is a live allocation of the sizes it reads; the
        // shared memory was allowed at load.
        unsafe { b.launch(config) }
            .map(|_| ())
            .map_err(|e| cuda_error(&format!("launching op {i} ({})", launch.kernel), e))
    }
}
