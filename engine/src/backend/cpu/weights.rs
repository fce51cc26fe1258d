//! The CPU backend's weight matrices: `[out, in]` rows (Conv1D's `[in, out]`
//! transposed), so that one output is one contiguous row, in f32, bf16 or
//! f16, all in one buffer on transparent huge pages. Half-precision numbers
//! are widened to f32 as they are loaded; every sum is in f32.

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

use crate::backend::Precision;
use crate::weights::{transpose, Gpt2Checkpoint};
use crate::Result;

/// A number format weights can be held in.
pub(crate) trait Weight: Copy + Default + Send + Sync + 'static {
    fn from_f32(x: f32) -> Self;
    fn to_f32(self) -> f32;
    /// `out[i] = src[i]` in f32, through the CPU's conversion instructions
    /// where it has them.
    fn widen(src: &[Self], out: &mut [f32]);
}

impl Weight for f32 {
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    fn widen(src: &[Self], out: &mut [f32]) {
        out.copy_from_slice(src);
    }
}

impl Weight for bf16 {
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        bf16::from_f32(x)
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    fn widen(src: &[Self], out: &mut [f32]) {
        src.convert_to_f32_slice(out);
    }
}

impl Weight for f16 {
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        f16::from_f32(x)
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    fn widen(src: &[Self], out: &mut [f32]) {
        src.convert_to_f32_slice(out);
    }
}

/// Every weight matrix of a model, in one buffer.
pub(crate) enum Store {
    F32(Vec<f32>),
    Bf16(Vec<bf16>),
    F16(Vec<f16>),
}

/// Where a matrix lies in the [`Store`]: `rows` rows of `cols` numbers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Matrix {
    pub start: usize,
    pub rows: usize,
    pub cols: usize,
}

/// A matrix's numbers: `rows` rows of `cols` used numbers, `ld` apart.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub ld: usize,
}

impl<'a, T> Rows<'a, T> {
    /// A dense `rows × cols` matrix.
    pub fn dense(data: &'a [T], rows: usize, cols: usize) -> Self {
        Rows {
            data,
            rows,
            cols,
            ld: cols,
        }
    }
}

/// A matrix of the store, in its number format.
#[derive(Clone, Copy)]
pub(crate) enum MatrixRef<'a> {
    F32(Rows<'a, f32>),
    Bf16(Rows<'a, bf16>),
    F16(Rows<'a, f16>),
}

impl Store {
    pub fn get(&self, m: &Matrix) -> MatrixRef<'_> {
        let range = m.start..m.start + m.rows * m.cols;
        match self {
            Store::F32(d) => MatrixRef::F32(Rows::dense(&d[range], m.rows, m.cols)),
            Store::Bf16(d) => MatrixRef::Bf16(Rows::dense(&d[range], m.rows, m.cols)),
            Store::F16(d) => MatrixRef::F16(Rows::dense(&d[range], m.rows, m.cols)),
        }
    }

    /// Row `row` of `m`, widened to f32, into `out`.
    pub fn row_into(&self, m: &Matrix, row: usize, out: &mut [f32]) {
        let start = m.start + row * m.cols;
        match self {
            Store::F32(d) => f32::widen(&d[start..start + m.cols], out),
            Store::Bf16(d) => bf16::widen(&d[start..start + m.cols], out),
            Store::F16(d) => f16::widen(&d[start..start + m.cols], out),
        }
    }

    /// Bytes of weights held.
    pub fn bytes(&self) -> usize {
        match self {
            Store::F32(d) => d.len() * 4,
            Store::Bf16(d) => d.len() * 2,
            Store::F16(d) => d.len() * 2,
        }
    }
}

/// Fills a [`Store`] matrix by matrix.
pub(crate) struct StoreBuilder<'a> {
    ckpt: &'a Gpt2Checkpoint,
    store: Store,
    next: usize,
    scratch: Vec<f32>,
}

impl<'a> StoreBuilder<'a> {
    /// A store of `len` numbers in `precision`.
    pub fn new(ckpt: &'a Gpt2Checkpoint, len: usize, precision: Precision) -> Self {
        let store = match precision {
            Precision::F32 => Store::F32(huge_vec(len)),
            Precision::Bf16 => Store::Bf16(huge_vec(len)),
            Precision::F16 => Store::F16(huge_vec(len)),
        };
        StoreBuilder {
            ckpt,
            store,
            next: 0,
            scratch: Vec::new(),
        }
    }

    /// Tensor `name` as it is, `(rows, cols)` (the token embeddings).
    pub fn rows(&mut self, name: &str, rows: usize, cols: usize) -> Result<Matrix> {
        self.scratch.resize(rows * cols, 0.0);
        self.ckpt.tensor(name)?.read_f32_into(&mut self.scratch);
        Ok(self.push(rows, cols, false))
    }

    /// Conv1D weight `name`, `(d_in, d_out)` in the file, stored `(d_out, d_in)`.
    pub fn conv1d(&mut self, name: &str, d_in: usize, d_out: usize) -> Result<Matrix> {
        self.scratch.resize(d_in * d_out, 0.0);
        self.ckpt.tensor(name)?.read_f32_into(&mut self.scratch);
        Ok(self.push(d_out, d_in, true))
    }

    fn push(&mut self, rows: usize, cols: usize, transposed: bool) -> Matrix {
        let m = Matrix {
            start: self.next,
            rows,
            cols,
        };
        let range = m.start..m.start + rows * cols;
        fn fill<T: Weight>(src: &[f32], dst: &mut [T], rows: usize, cols: usize, t: bool) {
            if t {
                // src is (cols, rows): the file's (d_in, d_out).
                let mut tmp = vec![0f32; src.len()];
                transpose(src, cols, rows, &mut tmp);
                dst.iter_mut()
                    .zip(&tmp)
                    .for_each(|(d, &s)| *d = T::from_f32(s));
            } else {
                dst.iter_mut()
                    .zip(src)
                    .for_each(|(d, &s)| *d = T::from_f32(s));
            }
        }
        let src = &self.scratch;
        match &mut self.store {
            Store::F32(d) => fill(src, &mut d[range], rows, cols, transposed),
            Store::Bf16(d) => fill(src, &mut d[range], rows, cols, transposed),
            Store::F16(d) => fill(src, &mut d[range], rows, cols, transposed),
        }
        self.next += rows * cols;
        m
    }

    pub fn finish(self) -> Store {
        self.store
    }
}

/// `len` zeros, on fresh pages from the allocator that nothing has touched
/// yet (`vec![x; n]` writes every element unless `x` is a primitive zero).
fn zeroed<T: Weight>(len: usize) -> Vec<T> {
    if len == 0 {
        return Vec::new();
    }
    // `len` counts weights the checkpoint file holds (checked against the
    // config, itself at most `MAX_PARAMS`), so the layout cannot overflow.
    let layout = std::alloc::Layout::array::<T>(len).expect("a weight buffer fits in memory");
    // SAFETY: every `Weight` (f32, bf16, f16) is valid as all-zero bits; the
    // pointer comes from the global allocator with this layout.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout) as *mut T;
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Vec::from_raw_parts(ptr, len, len)
    }
}

/// A zeroed buffer for weights that are streamed every token. On Linux it is
/// backed by transparent huge pages where the kernel offers them: with 4 KiB
/// pages TLB misses hold a matrix-vector product to ~13 GB/s on a machine
/// where 2 MiB pages stream at ~19 GB/s.
pub(crate) fn huge_vec<T: Weight>(len: usize) -> Vec<T> {
    let v = zeroed::<T>(len);
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let (first, end) = (
            start.next_multiple_of(HUGE),
            start + len * std::mem::size_of::<T>(),
        );
        if end > first + HUGE {
            let aligned = (end - first) / HUGE * HUGE;
            // SAFETY: advice on pages this Vec owns; it changes no contents and
            // failure (no THP support) is harmless.
            unsafe { libc::madvise(first as *mut libc::c_void, aligned, libc::MADV_HUGEPAGE) };
        }
    }
    v
}
