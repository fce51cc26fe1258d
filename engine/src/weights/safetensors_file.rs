//! A safetensors file: an 8-byte little-endian header length, a JSON header
//! mapping names to `{dtype, shape, data_offsets}`, then the raw data.
//! Parsed here (rather than by the `safetensors` crate) so that every way a file
//! can be broken gets its own message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    fn parse(name: &str) -> Self {
        match name {
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            _ => Dtype::Other,
        }
    }

    /// Bytes per element (0 for [`Dtype::Other`]).
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::Other => 0,
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
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Converts the values into `out` (which must hold [`Self::numel`] values).
    pub fn read_f32_into(&self, out: &mut [f32]) {
        let b = self.bytes;
        match self.dtype {
            Dtype::F32 => {
                for (o, c) in out.iter_mut().zip(b.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            Dtype::F16 => {
                for (o, c) in out.iter_mut().zip(b.chunks_exact(2)) {
                    *o = half::f16::from_le_bytes([c[0], c[1]]).to_f32();
                }
            }
            Dtype::BF16 => {
                for (o, c) in out.iter_mut().zip(b.chunks_exact(2)) {
                    *o = half::bf16::from_le_bytes([c[0], c[1]]).to_f32();
                }
            }
            Dtype::Other => {}
        }
    }

    /// The values converted to f32 (f16 and bf16 widen exactly).
    pub fn to_f32(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.numel()];
        self.read_f32_into(&mut out);
        out
    }
}

#[derive(Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

struct Entry {
    dtype_name: String,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

enum Bytes {
    Owned(Vec<u8>),
    #[cfg(not(target_arch = "wasm32"))]
    Mapped(memmap2::Mmap),
}

/// A parsed, validated safetensors file.
pub struct SafetensorsFile {
    path: PathBuf,
    bytes: Bytes,
    data_start: usize,
    entries: BTreeMap<String, Entry>,
}

/// Largest header accepted (the format's own limit is 100 MB).
const MAX_HEADER: usize = 100_000_000;

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
        let err = |m: String| Error::checkpoint(&path, m);
        let all = match &bytes {
            Bytes::Owned(v) => v.as_slice(),
            #[cfg(not(target_arch = "wasm32"))]
            Bytes::Mapped(m) => &m[..],
        };
        if all.len() < 8 {
            return Err(err(format!(
                "file is {} bytes long, too short to be safetensors (truncated or empty?)",
                all.len()
            )));
        }
        let header_len = u64::from_le_bytes(all[..8].try_into().unwrap());
        if header_len > MAX_HEADER as u64 {
            return Err(err(format!(
                "header length {header_len} is implausible: this is not a safetensors file"
            )));
        }
        let header_len = header_len as usize;
        let data_start = 8 + header_len;
        if all.len() < data_start {
            return Err(err(format!(
                "file is truncated: its header needs {data_start} bytes but the file has {}",
                all.len()
            )));
        }
        let raw: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&all[8..data_start])
            .map_err(|e| {
                err(format!(
                    "header is not valid JSON ({e}): this is not a safetensors file"
                ))
            })?;
        let data_len = all.len() - data_start;
        let mut entries = BTreeMap::new();
        for (name, value) in raw {
            if name == "__metadata__" {
                continue;
            }
            let h: HeaderEntry = serde_json::from_value(value)
                .map_err(|e| err(format!("header entry for {name} is malformed: {e}")))?;
            let (start, end) = h.data_offsets;
            if end > data_len || start > end {
                return Err(err(format!(
                    "file is truncated: tensor {name} needs bytes {start}..{end} of the data \
                     but only {data_len} are present; download it again"
                )));
            }
            let dtype = Dtype::parse(&h.dtype);
            let numel: usize = h.shape.iter().product();
            if dtype != Dtype::Other && numel * dtype.size() != end - start {
                return Err(err(format!(
                    "tensor {name}: shape {:?} of {} needs {} bytes but the header gives {}",
                    h.shape,
                    h.dtype,
                    numel * dtype.size(),
                    end - start
                )));
            }
            let entry = Entry {
                dtype_name: h.dtype,
                shape: h.shape,
                start,
                end,
            };
            entries.insert(name, entry);
        }
        Ok(SafetensorsFile {
            path,
            bytes,
            data_start,
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
        let all = match &self.bytes {
            Bytes::Owned(v) => v.as_slice(),
            #[cfg(not(target_arch = "wasm32"))]
            Bytes::Mapped(m) => &m[..],
        };
        Some(TensorView {
            dtype: Dtype::parse(&e.dtype_name),
            dtype_name: &e.dtype_name,
            shape: e.shape.clone(),
            bytes: &all[self.data_start + e.start..self.data_start + e.end],
        })
    }
}
