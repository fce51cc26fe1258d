//! What is wrong with a safetensors file the `safetensors` crate refused, in
//! words: the crate says which rule was broken, often without naming the
//! tensor; this walks the header again (every size through checked
//! arithmetic) to name it and say what to do.

use std::collections::BTreeMap;

use safetensors::tensor::TensorInfo;
use safetensors::SafeTensorError;
use serde_json::error::Category;

/// The message for a file `all` that `SafeTensors::read_metadata` refused with `e`.
pub(super) fn explain(all: &[u8], e: SafeTensorError) -> String {
    let declared = all
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    match e {
        SafeTensorError::HeaderTooSmall => format!(
            "file is {} bytes long, too short to be safetensors (truncated or empty?)",
            all.len()
        ),
        SafeTensorError::HeaderTooLarge => {
            format!("header length {declared} is implausible: this is not a safetensors file")
        }
        SafeTensorError::InvalidHeaderLength => format!(
            "file is truncated: its header needs {} bytes but the file has {}; download it again",
            declared.saturating_add(8),
            all.len()
        ),
        SafeTensorError::InvalidHeader(utf8) => {
            format!("header is not UTF-8 text ({utf8}): this is not a safetensors file")
        }
        SafeTensorError::InvalidHeaderDeserialization(json)
            if json.classify() != Category::Data =>
        {
            format!("header is not valid JSON ({json}): this is not a safetensors file")
        }
        // Valid JSON that breaks the format's rules: find the tensor.
        e => {
            let header = usize::try_from(declared)
                .ok()
                .and_then(|n| all.get(8..n.checked_add(8)?));
            let data_len = header.map_or(0, |h| all.len() - 8 - h.len());
            header
                .and_then(|h| find_broken(h, data_len))
                .unwrap_or_else(|| format!("{e}: this is not a usable safetensors file"))
        }
    }
}

/// The first thing wrong with the entries of `header` for `data_len` bytes
/// of data, in the order of their offsets, or `None` if nothing is.
fn find_broken(header: &[u8], data_len: usize) -> Option<String> {
    let raw: BTreeMap<String, serde_json::Value> = match serde_json::from_slice(header) {
        Ok(raw) => raw,
        Err(e) => {
            return Some(format!(
                "header is not a JSON object of tensors ({e}): this is not a safetensors file"
            ))
        }
    };
    let mut tensors = Vec::new();
    for (name, value) in raw {
        if name == "__metadata__" {
            if let Err(e) = serde_json::from_value::<BTreeMap<String, String>>(value) {
                return Some(format!(
                    "header's __metadata__ is malformed ({e}): it must map names to strings"
                ));
            }
            continue;
        }
        let dtype = value.get("dtype").cloned();
        match serde_json::from_value::<TensorInfo>(value) {
            Ok(info) => tensors.push((name, info)),
            Err(_) if unknown_dtype(dtype.as_ref()) => {
                return Some(format!(
                    "tensor {name} has dtype {}, which safetensors does not define: \
                     expected F32, F16 or BF16",
                    dtype.as_ref().and_then(|d| d.as_str()).unwrap_or_default()
                ))
            }
            Err(e) => return Some(format!("header entry for {name} is malformed: {e}")),
        }
    }
    tensors.sort_by_key(|(_, info)| info.data_offsets);
    let mut expected_start = 0;
    for (name, info) in &tensors {
        let (start, end) = info.data_offsets;
        if end > data_len {
            return Some(format!(
                "file is truncated: tensor {name} needs bytes {start}..{end} of the data \
                 but only {data_len} are present; download it again"
            ));
        }
        if start != expected_start || end < start {
            return Some(format!(
                "tensor {name}: data_offsets [{start}, {end}] should start at {expected_start}, \
                 where the tensor before it ends: the header is corrupt"
            ));
        }
        expected_start = end;
        let (shape, dtype) = (&info.shape, info.dtype);
        let bits = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .and_then(|n| n.checked_mul(dtype.bitsize()));
        let Some(bits) = bits else {
            return Some(format!(
                "tensor {name}: shape {shape:?} of {dtype} is too large to address: \
                 the header is corrupt"
            ));
        };
        if bits % 8 != 0 {
            return Some(format!(
                "tensor {name}: shape {shape:?} of {dtype} does not fill whole bytes"
            ));
        }
        if bits / 8 != end - start {
            return Some(format!(
                "tensor {name}: shape {shape:?} of {dtype} needs {} bytes but the header gives {}",
                bits / 8,
                end - start
            ));
        }
    }
    (expected_start < data_len).then(|| {
        format!(
            "file has {} bytes after its last tensor's data (joined with something else?): \
             this is not a safetensors file as the format writes them",
            data_len - expected_start
        )
    })
}

/// Whether `dtype` is a string that names no safetensors dtype.
fn unknown_dtype(dtype: Option<&serde_json::Value>) -> bool {
    dtype.is_some_and(|d| {
        d.is_string() && serde_json::from_value::<safetensors::Dtype>(d.clone()).is_err()
    })
}
