//! Each op of a [`Plan`] as the launch of a `kernels.cu` entry point: its
//! name, grid, block, shared memory and arguments in the kernel's order.
//! Written once here for the GPU (`cuda.rs`) and for the kernels' test on the
//! CPU (`engine/tests/cuda_kernels_on_cpu.rs`), which runs `kernels.cu`
//! itself, compiled for the host.

use super::{Buf, Op, Plan, Prologue, SPAN};

/// Threads per block of every kernel but attention's ([`SPAN`]).
pub const THREADS: u32 = 256;
/// Outputs a product's block makes: 8 warps of 4 (`WARPS * RPW`).
pub const OUTPUTS_PER_BLOCK: usize = 32;
/// Rows a product takes at once (`MAX_ROWS` in `kernels.cu`).
pub const MAX_ROWS: usize = 8;

/// One argument of a launch.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A step buffer's device address.
    Buf(Buf),
    /// A weight's device address, by its checkpoint name.
    Weight(String),
    /// A pointer the kernel does not read (a prologue or cache it lacks).
    Null,
    I32(i32),
    F32(f32),
}

/// One kernel launch.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub kernel: String,
    pub grid: (u32, u32, u32),
    pub threads: u32,
    /// Dynamic shared memory, bytes.
    pub shared: u32,
    pub args: Vec<Arg>,
}

/// The entry points a plan launches with weight matrices of `kind` (`f32`,
/// `f16`, `bf16`).
pub fn kernel_names(kind: &str) -> Vec<String> {
    let mut names = vec![
        format!("embed_{kind}"),
        "attention_split_f32".to_string(),
        "argmax_f32".to_string(),
    ];
    for (role, ..) in super::PRODUCT_KERNELS {
        names.push(format!("matvec_{kind}_{role}"));
    }
    names
}

impl Plan {
    /// The largest dynamic shared memory a product asks for, bytes.
    pub fn most_shared(&self) -> usize {
        self.ops
            .iter()
            .filter_map(|op| match op {
                Op::Matvec { k, .. } => Some(self.rows * k * 4),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// Op `i` as a launch, its weight matrices of `kind`.
    pub fn launch(&self, i: usize, kind: &str) -> Launch {
        let cfg = &self.config;
        let rows = self.rows as i32;
        let (c, heads) = (cfg.n_embd as i32, cfg.n_head as i32);
        let (cap, splits) = (self.cap as i32, self.splits as i32);
        let n = |x: usize| x as u32;
        match &self.ops[i] {
            Op::Embed => Launch {
                kernel: format!("embed_{kind}"),
                grid: (n(self.rows), 1, 1),
                threads: THREADS,
                shared: 0,
                args: vec![
                    Arg::Buf(Buf::Ids),
                    Arg::Buf(Buf::Pos),
                    Arg::Weight("wte.weight".into()),
                    Arg::Weight("wpe.weight".into()),
                    Arg::Buf(Buf::X),
                    Arg::I32(c),
                ],
            },
            op @ Op::Matvec {
                input,
                prologue,
                weight,
                bias,
                output,
                k,
                n: outs,
                kv,
                ..
            } => {
                let role = op.product_kernel().expect("every product has a kernel");
                let (gamma, beta) = match prologue {
                    Prologue::LayerNorm { weight, bias } => {
                        (Arg::Weight(weight.clone()), Arg::Weight(bias.clone()))
                    }
                    _ => (Arg::Null, Arg::Null),
                };
                let (kc, vc) = match kv {
                    Some(l) => (Arg::Buf(Buf::Keys(*l)), Arg::Buf(Buf::Values(*l))),
                    None => (Arg::Null, Arg::Null),
                };
                Launch {
                    kernel: format!("matvec_{kind}_{role}"),
                    grid: (n(outs.div_ceil(OUTPUTS_PER_BLOCK)), 1, 1),
                    threads: THREADS,
                    shared: n(self.rows * k * 4),
                    args: vec![
                        Arg::Buf(*input),
                        gamma,
                        beta,
                        Arg::F32(cfg.layer_norm_epsilon as f32),
                        Arg::Weight(weight.clone()),
                        bias.clone().map_or(Arg::Null, Arg::Weight),
                        Arg::Buf(*output),
                        kc,
                        vc,
                        Arg::Buf(Buf::Pos),
                        Arg::I32(rows),
                        Arg::I32(*k as i32),
                        Arg::I32(*outs as i32),
                        Arg::I32(cap),
                        Arg::I32(heads),
                        Arg::I32(splits),
                    ],
                }
            }
            Op::Attention { layer } => Launch {
                kernel: "attention_split_f32".into(),
                grid: (n(self.splits), n(cfg.n_head), n(self.rows)),
                threads: SPAN as u32,
                shared: 0,
                args: vec![
                    Arg::Buf(Buf::Qkv),
                    Arg::Buf(Buf::Keys(*layer)),
                    Arg::Buf(Buf::Values(*layer)),
                    Arg::Buf(Buf::Part),
                    Arg::Buf(Buf::Pos),
                    Arg::I32(c),
                    Arg::I32(heads),
                    Arg::I32(cap),
                    Arg::I32(splits),
                ],
            },
            Op::Argmax => Launch {
                kernel: "argmax_f32".into(),
                grid: (1, 1, 1),
                threads: THREADS,
                shared: 0,
                args: vec![
                    Arg::Buf(Buf::Logits),
                    Arg::Buf(Buf::Ids),
                    Arg::Buf(Buf::Pos),
                    Arg::Buf(Buf::History),
                    Arg::I32(rows),
                    Arg::I32(cap),
                    Arg::I32(cfg.vocab_size as i32),
                ],
            },
        }
    }
}
