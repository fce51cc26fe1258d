//! The uniform structs written from Rust have the layout the WGSL reads:
//! naga (wgpu's shader compiler) lays out the WGSL struct, and every field's
//! name and offset, and the size, must match the `#[repr(C)]` Rust struct.

use std::mem::{offset_of, size_of};

use wgpu::naga;

use super::{source, Dims, Gather};

/// The size and the `(name, offset)` of each field of struct `name` in `wgsl`.
fn wgsl_layout(wgsl: &str, name: &str) -> (usize, Vec<(String, usize)>) {
    let module =
        naga::front::wgsl::parse_str(wgsl).unwrap_or_else(|e| panic!("{}", e.emit_to_string(wgsl)));
    let ty = module
        .types
        .iter()
        .map(|(_, ty)| ty)
        .find(|ty| ty.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no struct {name} in the WGSL"));
    let naga::TypeInner::Struct { members, span } = &ty.inner else {
        panic!("{name} is not a struct");
    };
    let fields = members
        .iter()
        .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
        .collect();
    (*span as usize, fields)
}

/// The `(name, offset)` of the listed fields of a Rust struct.
macro_rules! rust_layout {
    ($ty:ty; $($field:ident),*) => {
        vec![$((stringify!($field).to_string(), offset_of!($ty, $field))),*]
    };
}

#[test]
fn dims_matches_the_wgsl_struct() {
    let (size, fields) = wgsl_layout(&source("", false), "Dims");
    let rust = rust_layout!(Dims; tokens, fresh, past, cap, last, out0, out_n, splits, top_k,
        extra_n, _pad0, _pad1);
    assert_eq!(fields, rust);
    assert_eq!(size, size_of::<Dims>());
    assert_eq!(Dims::BYTES as usize, size);
    assert!(
        size.is_multiple_of(16),
        "a uniform buffer's size is a multiple of 16"
    );
}

#[test]
fn gather_matches_the_wgsl_struct() {
    let wgsl = source(include_str!("kv_gather.wgsl"), false);
    let (size, fields) = wgsl_layout(&wgsl, "Gather");
    let rust = rust_layout!(Gather; len, out_rows, src_cap, dst_cap);
    assert_eq!(fields, rust);
    assert_eq!(size, size_of::<Gather>());
    assert_eq!(Gather::BYTES as usize, size);
}
