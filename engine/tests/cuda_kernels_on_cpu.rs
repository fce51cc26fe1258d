//! The decode step's CUDA kernels (`engine/src/backend/decode_step/kernels.cu`)
//! run on the CPU: the same source compiled by g++ over a small emulation of
//! CUDA (`tests/cuda_emulation/`: a block's threads are host threads, warp
//! shuffles go through memory), launched as `Plan::launch` gives them. Each
//! kernel against the plan's CPU reference on odd shapes (heads of 5
//! dimensions, rows of 20 and 80 values, two attention splits, some empty),
//! for f32, f16 and bf16 weights; and whole greedy steps against the CPU
//! backend's ids. A GPU runs the same kernels compiled by nvcc
//! (`engine/tests/cuda_step.rs`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use engine::backend::decode_step::launch::Arg;
use engine::backend::decode_step::reference::Reference;
use engine::backend::decode_step::{Buf, Op, Plan, SPAN};
use engine::backend::Precision;
use engine::config::Gpt2Config;
use engine::weights::Gpt2Checkpoint;
use half::{bf16, f16};

#[path = "common/decode_step.rs"]
mod shared;
use shared::{check_op, even, fill, odd, rounded_checkpoint, worst};

/// The emulated kernels' driver, built once per test process.
fn driver() -> &'static Path {
    static DRIVER: OnceLock<PathBuf> = OnceLock::new();
    DRIVER.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let emulation = root.join("tests/cuda_emulation");
        let out = root
            .join("../target/tmp")
            .join(format!("cuda-emulation-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        let exe = out.join("driver");
        let status = Command::new(std::env::var("CXX").unwrap_or_else(|_| "g++".into()))
            // The kernels read 16 bytes as a uint4 and use them as floats or
            // halves, as CUDA allows and C++'s strict aliasing does not.
            .args([
                "-std=c++20",
                "-O2",
                "-fno-strict-aliasing",
                "-pthread",
                "-Wall",
            ])
            .arg("-Wno-unknown-pragmas")
            .arg("-I")
            .arg(&emulation)
            .arg("-I")
            .arg(emulation.join("include"))
            .arg("-I")
            .arg(root.join("src/backend/decode_step"))
            .arg(emulation.join("driver.cpp"))
            .arg("-o")
            .arg(&exe)
            .status()
            .expect(
                "running g++ (the kernels' host build needs a C++20 compiler: apt-get install g++)",
            );
        assert!(status.success(), "g++ could not build the emulated kernels");
        exe
    })
}

/// What the driver sees as device memory: the step's buffers and weights.
struct Memory {
    index: HashMap<String, usize>,
    bufs: Vec<Vec<u8>>,
}

fn key(buf: Buf) -> String {
    format!("{buf:?}")
}

impl Memory {
    /// The reference's buffers, ids and position, and `ckpt`'s weights as
    /// the kernels take them (matrices `[n, k]` of `kind`; vectors f32).
    fn new(plan: &Plan, reference: &Reference, ckpt: &Gpt2Checkpoint, kind: &str) -> Memory {
        let mut m = Memory {
            index: HashMap::new(),
            bufs: Vec::new(),
        };
        for buf in plan.buffers() {
            let bytes = match buf {
                Buf::Ids => u32_bytes(reference.ids()),
                Buf::Pos => u32_bytes(&[reference.pos()]),
                Buf::History => u32_bytes(reference.history()),
                b => f32_bytes(reference.buf(b)),
            };
            m.insert(key(buf), bytes);
        }
        for w in plan.weights() {
            let values = ckpt.f32(&w.name).unwrap();
            let bytes = match (w.matrix, kind) {
                (None, _) => f32_bytes(&values),
                (Some(mat), "f16") => mat
                    .rows(values)
                    .iter()
                    .flat_map(|&x| f16::from_f32(x).to_le_bytes())
                    .collect(),
                (Some(mat), "bf16") => mat
                    .rows(values)
                    .iter()
                    .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
                    .collect(),
                (Some(mat), _) => f32_bytes(&mat.rows(values)),
            };
            m.insert(w.name, bytes);
        }
        m
    }

    fn insert(&mut self, name: String, bytes: Vec<u8>) {
        let i = *self.index.entry(name).or_insert(self.bufs.len());
        if i == self.bufs.len() {
            self.bufs.push(bytes);
        } else {
            self.bufs[i] = bytes;
        }
    }

    fn f32(&self, buf: Buf) -> Vec<f32> {
        bytemuck::pod_collect_to_vec(&self.bufs[self.index[&key(buf)]])
    }

    fn u32(&self, buf: Buf) -> Vec<u32> {
        bytemuck::pod_collect_to_vec(&self.bufs[self.index[&key(buf)]])
    }

    /// Runs ops `ops` of `plan` on the emulated kernels.
    fn run(&mut self, plan: &Plan, ops: &[usize], kind: &str) {
        let mut input = Vec::new();
        input.extend((self.bufs.len() as u32).to_le_bytes());
        for b in &self.bufs {
            input.extend((b.len() as u64).to_le_bytes());
            input.extend(b);
        }
        input.extend((ops.len() as u32).to_le_bytes());
        for &i in ops {
            let l = plan.launch(i, kind);
            input.extend((l.kernel.len() as u32).to_le_bytes());
            input.extend(l.kernel.as_bytes());
            for v in [l.grid.0, l.grid.1, l.grid.2, l.threads, l.shared] {
                input.extend(v.to_le_bytes());
            }
            input.extend((l.args.len() as u32).to_le_bytes());
            for a in &l.args {
                match a {
                    Arg::Buf(b) => {
                        input.push(b'b');
                        input.extend((self.index[&key(*b)] as i32).to_le_bytes());
                    }
                    Arg::Weight(name) => {
                        input.push(b'b');
                        let i = self
                            .index
                            .get(name)
                            .unwrap_or_else(|| panic!("no weight {name}"));
                        input.extend((*i as i32).to_le_bytes());
                    }
                    Arg::Null => {
                        input.push(b'b');
                        input.extend((-1i32).to_le_bytes());
                    }
                    Arg::I32(v) => {
                        input.push(b'i');
                        input.extend(v.to_le_bytes());
                    }
                    Arg::F32(v) => {
                        input.push(b'f');
                        input.extend(v.to_le_bytes());
                    }
                }
            }
        }
        let mut child = Command::new(driver())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(out.status.success(), "the emulated kernels failed");
        let mut at = 0;
        for b in &mut self.bufs {
            let len = b.len();
            b.copy_from_slice(&out.stdout[at..at + len]);
            at += len;
        }
        assert_eq!(at, out.stdout.len(), "the driver's output length");
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    bytemuck::cast_slice(v).to_vec()
}

fn u32_bytes(v: &[u32]) -> Vec<u8> {
    bytemuck::cast_slice(v).to_vec()
}

/// Every op of a 2-row step at position `pos`, from random buffers, on the
/// emulated kernels and on the reference; the largest relative difference
/// of each op's outputs.
fn each_op(config: &Gpt2Config, precision: Precision, pos: u32) {
    let kind = precision.name();
    let ckpt = rounded_checkpoint(config, 5, precision);
    let plan = Plan::decode(config, 2, config.n_positions, true);
    assert_eq!(plan.span, SPAN);
    let mut reference = Reference::new(&plan, &ckpt).unwrap();
    fill(&plan, &mut reference, pos);
    let v = config.vocab_size;
    for i in 0..plan.ops.len() {
        let mut memory = Memory::new(&plan, &reference, &ckpt, kind);
        if plan.ops[i] == Op::Argmax {
            // A tie: the first of equal largest logits wins.
            let mut logits = reference.buf(Buf::Logits).to_vec();
            logits[5] = 10.0;
            logits[60] = 10.0;
            logits[v + 96] = 11.0;
            reference.set_buf(Buf::Logits, &logits);
            memory.insert(key(Buf::Logits), f32_bytes(&logits));
        }
        memory.run(&plan, &[i], kind);
        reference.run(i);
        if plan.ops[i] == Op::Argmax {
            assert_eq!(memory.u32(Buf::Ids), reference.ids(), "argmax ids");
            assert_eq!(memory.u32(Buf::Ids), [5, 96], "argmax ids with ties");
            assert_eq!(
                memory.u32(Buf::Pos),
                [pos + 1],
                "argmax moves the position on"
            );
            assert_eq!(
                memory.u32(Buf::History),
                reference.history(),
                "argmax history"
            );
        }
        let d = config.n_embd / config.n_head;
        let label = format!("{kind}, C {}, D {d}, pos {pos}", config.n_embd);
        check_op(&plan, i, &reference, &label, |buf| memory.f32(buf));
    }
}

#[test]
fn each_kernel_matches_the_reference_on_odd_shapes() {
    for precision in [Precision::F32, Precision::F16, Precision::Bf16] {
        // Both splits hold positions; then the second is past the context.
        each_op(&odd(), precision, 270);
        each_op(&odd(), precision, 100);
    }
}

#[test]
fn each_kernel_matches_the_reference_with_sixteen_byte_loads() {
    for precision in [Precision::F32, Precision::F16, Precision::Bf16] {
        each_op(&even(), precision, 257);
    }
}

#[test]
fn greedy_steps_on_the_emulated_kernels_give_the_references_ids() {
    let config = Gpt2Config {
        n_layer: 2,
        n_positions: 64,
        ..even()
    };
    let ckpt = rounded_checkpoint(&config, 9, Precision::F32);
    let plan = Plan::decode(&config, 1, 64, true);
    let mut reference = Reference::new(&plan, &ckpt).unwrap();
    let mut memory = Memory::new(&plan, &reference, &ckpt, "f32");
    let all: Vec<usize> = (0..plan.ops.len()).collect();
    let prompt = [17u32, 4, 88, 51];
    let mut got = Vec::new();
    let mut want = Vec::new();
    for step in 0..12 {
        if let Some(&id) = prompt.get(step) {
            reference.set_ids(&[id]);
            memory.insert(key(Buf::Ids), u32_bytes(&[id]));
        }
        reference.step().unwrap();
        memory.run(&plan, &all, "f32");
        want.push(reference.ids()[0]);
        got.push(memory.u32(Buf::Ids)[0]);
        let w = worst(&memory.f32(Buf::Logits), reference.buf(Buf::Logits));
        assert!(w < 1e-4, "step {step}: logits {w} away from the reference");
    }
    assert_eq!(got, want, "ids of 12 steps (4 of them the prompt's)");
    assert_eq!(memory.u32(Buf::Pos), [12]);
    assert_eq!(memory.u32(Buf::History), reference.history());
}
