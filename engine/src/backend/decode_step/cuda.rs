//! A decode step's [`Plan`] on an NVIDIA GPU: the fused kernels of
//! `kernels.cu` (PTX that nvcc builds with the `cuda` feature), every buffer
//! allocated once, and the step's launches captured once into a CUDA graph
//! and replayed per token. Greedy runs token after token on the device alone:
//! the argmax feeds the next step and keeps the ids in [`Buf::History`],
//! which the host reads when it wants them.
//!
//! [`CudaMaker`] makes a step per cache, all on one copy of the weights, for
//! the model contract ([`super::model`]).
//!
//! Off by default (`GPT2_CUDA_STEP=fused` turns it on where it is used) until
//! it is verified on a GPU: `engine/tests/cuda_step.rs` checks every kernel
//! against [`super::reference`] and the steps' greedy ids against the CPU
//! backend.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cudarc::driver::sys::{CUfunction_attribute, CUgraphInstantiate_flags, CUstreamCaptureMode};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaGraph, CudaSlice, CudaStream, DevicePtr, LaunchConfig,
    PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use half::{bf16, f16};

use super::launch::{kernel_names, Arg, MAX_ROWS};
use super::model::{MakeRunner, StepRunner};
use super::{Buf, Plan, SPAN};
use crate::backend::Precision;
use crate::config::Gpt2Config;
use crate::weights::Gpt2Checkpoint;
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

/// The kernels and the weights on one GPU, shared by the steps (the caches)
/// of a model.
pub struct CudaWeights {
    config: Gpt2Config,
    stream: Arc<CudaStream>,
    functions: HashMap<String, CudaFunction>,
    /// `f32`, `f16` or `bf16`: the kernels' suffix for the weight matrices.
    kind: &'static str,
    weights: HashMap<String, DeviceWeight>,
    /// Dynamic shared memory the products are allowed, bytes.
    shared_allowed: Mutex<usize>,
}

/// One step's plan, buffers and captured graph, on a model's [`CudaWeights`].
pub struct CudaStep {
    gpu: Arc<CudaWeights>,
    plan: Plan,
    f32_bufs: HashMap<Buf, CudaSlice<f32>>,
    u32_bufs: HashMap<Buf, CudaSlice<u32>>,
    ptrs: HashMap<Buf, u64>,
    graph: Option<CudaGraph>,
}

impl CudaWeights {
    /// Loads the kernels and `ckpt`'s weights onto GPU `ordinal`: matrices in
    /// `precision`, as `[n, k]`; norms and biases in f32.
    pub fn load(
        ordinal: usize,
        ckpt: &Gpt2Checkpoint,
        config: &Gpt2Config,
        precision: Precision,
    ) -> Result<Arc<CudaWeights>> {
        let d = config.n_embd / config.n_head;
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
        let kind = precision.name();
        let mut functions = HashMap::new();
        for name in kernel_names(kind) {
            let f = module
                .load_function(&name)
                .map_err(|e| cuda_error(&format!("finding kernel {name}"), e))?;
            functions.insert(name, f);
        }
        let mut gpu = CudaWeights {
            config: config.clone(),
            stream,
            functions,
            kind,
            weights: HashMap::new(),
            shared_allowed: Mutex::new(DEFAULT_SHARED),
        };
        gpu.upload_weights(ckpt, precision)?;
        Ok(Arc::new(gpu))
    }

    fn upload_weights(&mut self, ckpt: &Gpt2Checkpoint, precision: Precision) -> Result<()> {
        // The weights do not depend on the rows or the cache.
        for w in Plan::decode(&self.config, 1, 1, false).weights() {
            let values = ckpt.f32(&w.name)?;
            let bits = |to: fn(f32) -> u16, v: &[f32]| v.iter().map(|&x| to(x)).collect::<Vec<_>>();
            let data = match (w.matrix, precision) {
                (None, _) => DeviceData::F32(self.upload(&values)?),
                (Some(m), Precision::F32) => DeviceData::F32(self.upload(&m.rows(values))?),
                (Some(m), Precision::F16) => DeviceData::Half(
                    self.upload(&bits(|x| f16::from_f32(x).to_bits(), &m.rows(values)))?,
                ),
                (Some(m), Precision::Bf16) => DeviceData::Half(
                    self.upload(&bits(|x| bf16::from_f32(x).to_bits(), &m.rows(values)))?,
                ),
            };
            self.insert_weight(w.name, data);
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
}

impl CudaStep {
    /// A step of `plan` on `gpu`'s weights: its buffers allocated, zeroed.
    pub fn new(gpu: Arc<CudaWeights>, plan: Plan) -> Result<CudaStep> {
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
        let mut step = CudaStep {
            gpu,
            plan,
            f32_bufs: HashMap::new(),
            u32_bufs: HashMap::new(),
            ptrs: HashMap::new(),
            graph: None,
        };
        step.allocate()?;
        step.allow_shared_memory()?;
        Ok(step)
    }

    /// The weights and a step of `plan` on GPU `ordinal`, in one (tests).
    pub fn load(
        ordinal: usize,
        ckpt: &Gpt2Checkpoint,
        plan: Plan,
        precision: Precision,
    ) -> Result<CudaStep> {
        let gpu = CudaWeights::load(ordinal, ckpt, &plan.config, precision)?;
        CudaStep::new(gpu, plan)
    }

    fn allocate(&mut self) -> Result<()> {
        let stream = &self.gpu.stream;
        for buf in self.plan.buffers() {
            let len = self.plan.len(buf);
            let ptr = if buf.is_u32() {
                let s = stream
                    .alloc_zeros::<u32>(len)
                    .map_err(|e| cuda_error("allocating the step's buffers", e))?;
                let ptr = s.device_ptr(stream).0;
                self.u32_bufs.insert(buf, s);
                ptr
            } else {
                let s = stream
                    .alloc_zeros::<f32>(len)
                    .map_err(|e| cuda_error("allocating the step's buffers", e))?;
                let ptr = s.device_ptr(stream).0;
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
        let mut allowed = self
            .gpu
            .shared_allowed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if most > *allowed {
            for (name, f) in &self.gpu.functions {
                if name.starts_with("matvec_") {
                    f.set_attribute(
                        CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                        most as i32,
                    )
                    .map_err(|e| cuda_error(&format!("{most} bytes of shared memory"), e))?;
                }
            }
            *allowed = most;
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
        self.gpu
            .stream
            .memcpy_htod(values, dst)
            .map_err(|e| cuda_error("writing the step's input", e))
    }

    /// A u32 buffer, read back (waits for the GPU).
    pub fn read_u32(&self, buf: Buf) -> Result<Vec<u32>> {
        self.gpu
            .stream
            .clone_dtoh(&self.u32_bufs[&buf])
            .map_err(|e| cuda_error("reading back", e))
    }

    /// An f32 buffer, read back (waits for the GPU).
    pub fn read_f32(&self, buf: Buf) -> Result<Vec<f32>> {
        self.gpu
            .stream
            .clone_dtoh(&self.f32_bufs[&buf])
            .map_err(|e| cuda_error("reading back", e))
    }

    /// Overwrites an f32 buffer (the kernel tests set their inputs so).
    pub fn write_f32(&mut self, buf: Buf, values: &[f32]) -> Result<()> {
        let dst = self.f32_bufs.get_mut(&buf).expect("an f32 buffer");
        self.gpu
            .stream
            .memcpy_htod(values, dst)
            .map_err(|e| cuda_error("writing a buffer", e))
    }

    /// Runs one step: the captured graph (captured on first use).
    pub fn step(&mut self) -> Result<()> {
        if self.graph.is_none() {
            self.gpu
                .stream
                .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
                .map_err(|e| cuda_error("starting the capture", e))?;
            let launched = (0..self.plan.ops.len()).try_for_each(|i| self.launch(i));
            let graph = self
                .gpu
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
        self.gpu
            .stream
            .synchronize()
            .map_err(|e| cuda_error("waiting for the GPU", e))
    }

    /// Launches op `i` of the plan (on its own: the kernel tests run them so).
    pub fn launch(&self, i: usize) -> Result<()> {
        let launch = self.plan.launch(i, self.gpu.kind);
        let f = &self.gpu.functions[&launch.kernel];
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
                Arg::Weight(name) => Value::Ptr(self.gpu.weights[name].ptr),
                Arg::Null => Value::Ptr(0),
                Arg::I32(v) => Value::I32(*v),
                Arg::F32(v) => Value::F32(*v),
            })
            .collect();
        let mut b = self.gpu.stream.launch_builder(f);
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

/// Steps of a model's weights on the GPU, one per cache.
pub struct CudaMaker {
    pub gpu: Arc<CudaWeights>,
}

impl CudaMaker {
    /// The weights of `ckpt` on GPU `ordinal`, in `precision`.
    pub fn load(
        ordinal: usize,
        ckpt: &Gpt2Checkpoint,
        config: &Gpt2Config,
        precision: Precision,
    ) -> Result<CudaMaker> {
        Ok(CudaMaker {
            gpu: CudaWeights::load(ordinal, ckpt, config, precision)?,
        })
    }
}

impl MakeRunner for CudaMaker {
    type Runner = CudaStep;

    fn make(&self, rows: usize) -> Result<CudaStep> {
        let config = &self.gpu.config;
        let plan = Plan::decode(config, rows, config.n_positions, false);
        CudaStep::new(self.gpu.clone(), plan)
    }
}

impl StepRunner for CudaStep {
    fn plan(&self) -> &Plan {
        &self.plan
    }

    fn set_ids(&mut self, ids: &[u32]) -> Result<()> {
        CudaStep::set_ids(self, ids)
    }

    fn set_pos(&mut self, pos: u32) -> Result<()> {
        CudaStep::set_pos(self, pos)
    }

    fn run(&mut self) -> Result<()> {
        self.step()
    }

    fn logits(&self) -> Result<Vec<f32>> {
        self.read_f32(Buf::Logits)
    }

    fn copy_rows(&mut self, from: &Self, rows: &[usize], len: usize) -> Result<()> {
        let (cap, c) = (self.plan.cap, self.plan.config.n_embd);
        let from_cap = from.plan.cap;
        let n = len * c;
        for l in 0..self.plan.config.n_layer {
            for buf in [Buf::Keys(l), Buf::Values(l)] {
                let src = &from.f32_bufs[&buf];
                let dst = self.f32_bufs.get_mut(&buf).expect("a cache buffer");
                for (i, &r) in rows.iter().enumerate() {
                    let s = src.slice(r * from_cap * c..r * from_cap * c + n);
                    let mut d = dst.slice_mut(i * cap * c..i * cap * c + n);
                    self.gpu
                        .stream
                        .memcpy_dtod(&s, &mut d)
                        .map_err(|e| cuda_error("copying cache rows", e))?;
                }
            }
        }
        Ok(())
    }
}
