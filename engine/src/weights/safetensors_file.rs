//! A safetensors file: an 8-byte little-endian header length, a JSON header
//! mapping names to `{dtype, shape, data_offsets}`, then the raw data.
//!
//! The `safetensors` crate parses and validates it (checked arithmetic on
//! every offset, shape product and dtype size; the header capped at 100 MB);
//! [`super::safetensors_errors`] turns its errors into messages that name the
//! broken tensor and say what to do.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use half::slice::HalfFloatSliceExt;
use safetensors::SafeTensors;

use super::safetensors_errors::explain;
use crate::{Error, Result};

/// The element types GPT-2 weights come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    BF16,
    /// Any other safetensors dtype (integers, f64, ...): present but unusable.
    Other,
}

impl Dtype {
    /// Bytes per element (0 for [`Dtype::Other`]).
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::Other => 0,
        }
    }
}

impl From<safetensors::Dtype> for Dtype {
    fn from(d: safetensors::Dtype) -> Self {
        match d {
            safetensors::Dtype::F32 => Dtype::F32,
            safetensors::Dtype::F16 => Dtype::F16,
            safetensors::Dtype::BF16 => Dtype::BF16,
            _ => Dtype::Other,
        }
    }
}

/// One tensor of a file, borrowed.
#[derive(Debug, Clone)]
pub struct TensorView<'a> {
    pub dtype: Dtype,
    /// The dtype as the header names it (`"F32"`, `"I64"`, ...).
    pub dtype_name: &'a str,
    pub shape: Vec<usize>,
    pub bytes: &'a [u8],
}

impl TensorView<'_> {
    /// Number of elements (a file's shapes were checked not to overflow).
    pub fn numel(&self) -> usize {
        self.shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .unwrap_or(usize::MAX)
    }

    /// Converts the values into `out` (as many as both hold; a view of a
    /// file holds exactly [`Self::numel`]). The file is little-endian, as is
    /// every target this builds for (x86, ARM, wasm32).
    pub fn read_f32_into(&self, out: &mut [f32]) {
        match self.dtype {
            Dtype::F32 => {
                let dst: &mut [u8] = bytemuck::cast_slice_mut(out);
                let n = dst.len().min(self.bytes.len());
                dst[..n].copy_from_slice(&self.bytes[..n]);
            }
            Dtype::F16 => widen(self.bytes, out, |h: &[half::f16], o| {
                h.convert_to_f32_slice(o)
            }),
            Dtype::BF16 => widen(self.bytes, out, |h: &[half::bf16], o| {
                h.convert_to_f32_slice(o)
            }),
            Dtype::Other => {}
        }
    }

    /// The values converted to f32 (f16 and bf16 widen exactly); never
    /// more than the bytes held, whatever the shape says.
    pub fn to_f32(&self) -> Vec<f32> {
        let held = self.bytes.len() / self.dtype.size().max(1);
        let mut out = vec![0f32; self.numel().min(held)];
        self.read_f32_into(&mut out);
        out
    }
}

/// Widens 16-bit floats held in `bytes` into `out`, in place where `bytes`
/// is 2-byte aligned (a mapped file's data usually is), else through a copy.
fn widen<H: bytemuck::Pod>(bytes: &[u8], out: &mut [f32], convert: fn(&[H], &mut [f32])) {
    let copied: Vec<H>;
    let halves: &[H] = match bytemuck::try_cast_slice(bytes) {
        Ok(h) => h,
        Err(_) => {
            copied = bytemuck::pod_collect_to_vec(bytes);
            &copied
        }
    };
    let n = halves.len().min(out.len());
    convert(&halves[..n], &mut out[..n]);
}

/// Where one tensor lies in the file.
struct Entry {
    dtype: Dtype,
    dtype_name: String,
    shape: Vec<usize>,
    /// Byte range in the whole file (header included).
    range: Range<usize>,
}

enum Bytes {
    Owned(Vec<u8>),
    #[cfg(not(target_arch = "wasm32"))]
    Mapped(memmap2::Mmap),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            #[cfg(not(target_arch = "wasm32"))]
            Bytes::Mapped(m) => m,
        }
    }
}

/// A parsed, validated safetensors file.
pub struct SafetensorsFile {
    path: PathBuf,
    bytes: Bytes,
    entries: BTreeMap<String, Entry>,
}

impl SafetensorsFile {
    /// Memory-maps and validates the file at `path`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::checkpoint(
                path,
                "no such file: a model folder needs model.safetensors next to config.json",
            ),
            _ => Error::io(path, e),
        })?;
        // SAFETY: the map is read-only; a file changed under it while the model is
        // being loaded would give wrong weights, not memory unsafety in Rust code
        // that copies out of it before use.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Self::parse(path.to_path_buf(), Bytes::Mapped(map))
    }

    /// Validates a whole file held in memory; `path` is only used in messages.
    pub fn from_bytes(bytes: Vec<u8>, path: impl Into<PathBuf>) -> Result<Self> {
        Self::parse(path.into(), Bytes::Owned(bytes))
    }

    fn parse(path: PathBuf, bytes: Bytes) -> Result<Self> {
        let all = bytes.as_slice();
        let (header_len, metadata) = SafeTensors::read_metadata(all)
            .map_err(|e| Error::checkpoint(&path, explain(all, e)))?;
        // read_metadata checked that the header and every tensor's data end
        // inside the file, so none of these sums can overflow; checked anyway.
        let data_start = header_len.checked_add(8);
        let mut entries = BTreeMap::new();
        for (name, info) in metadata.tensors() {
            let (start, end) = info.data_offsets;
            let range = data_start
                .and_then(|d| Some(d.checked_add(start)?..d.checked_add(end)?))
                .filter(|r| r.start <= r.end && r.end <= all.len())
                .ok_or_else(|| {
                    Error::checkpoint(
                        &path,
                        format!(
                            "tensor {name}: data_offsets [{start}, {end}] lie outside the file"
                        ),
                    )
                })?;
            let entry = Entry {
                dtype: info.dtype.into(),
                dtype_name: info.dtype.to_string(),
                shape: info.shape.clone(),
                range,
            };
            entries.insert(name, entry);
        }
        Ok(SafetensorsFile {
            path,
            bytes,
            entries,
        })
    }

    /// Where the file came from (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names of all tensors, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The tensor called `name`, if present.
    pub fn get(&self, name: &str) -> Option<TensorView<'_>> {
        let e = self.entries.get(name)?;
        Some(TensorView {
            dtype: e.dtype,
            dtype_name: &e.dtype_name,
            shape: e.shape.clone(),
            bytes: self.bytes.as_slice().get(e.range.clone())?,
        })
    }
}
