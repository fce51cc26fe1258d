//! The WGSL kernels of the forward pass, each beside its host code: the
//! `.wgsl` file says the shapes, the `.rs` file builds the pipeline and
//! dispatches it.

mod attention;
mod embed;
mod kv_gather;
mod layer_norm;
mod matmul;
mod matvec;
mod summary;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_attention;
#[cfg(test)]
mod tests_decode;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_layout;
#[cfg(test)]
mod tests_matmul;

pub(super) use attention::{Attention, MAX_HEAD_DIM, SPAN};
pub(super) use embed::Embed;
pub(super) use kv_gather::{Gather, KvGather};
pub(super) use layer_norm::LayerNorm;
#[cfg(test)]
use matmul::Path;
pub(super) use matmul::{Epilogue, Matmul, MatmulShape, MATVEC_ROWS};
pub(super) use matvec::{Matvec, Prologue};
pub(super) use summary::Summary;

use super::recorder::{Kind, Recorder};

/// The per-pass shape every kernel reads: the uniform `Dims` of `dims.wgsl`,
/// field for field (`tests_layout.rs` checks the offsets), written to the GPU
/// with `bytemuck::bytes_of`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct Dims {
    pub tokens: u32,
    pub fresh: u32,
    pub past: u32,
    pub cap: u32,
    pub last: u32,
    pub out0: u32,
    pub out_n: u32,
    pub splits: u32,
    pub top_k: u32,
    pub extra_n: u32,
    /// Pads the struct to 16 bytes, as a uniform buffer's size must be.
    pub _pad0: u32,
    pub _pad1: u32,
}

impl Dims {
    /// Size of the uniform buffer.
    pub const BYTES: u64 = std::mem::size_of::<Dims>() as u64;
}

/// A kernel's WGSL with what it relies on: the weight type `W` (f16 where
/// the weights are kept in half precision) and the `Dims` struct.
fn source(body: &str, f16_weights: bool) -> String {
    let header = if f16_weights {
        "enable f16;\nalias W = f16;\n"
    } else {
        "alias W = f32;\n"
    };
    format!("{header}{}{body}", include_str!("dims.wgsl"))
}

/// Records one dispatch of `x` by `y` workgroups.
fn dispatch(
    rec: &mut Recorder<'_>,
    kind: Kind,
    pipeline: &wgpu::ComputePipeline,
    group: &wgpu::BindGroup,
    (x, y): (u32, u32),
    bytes: u64,
) {
    rec.dispatch(kind, pipeline, group, [x, y, 1], bytes);
}
