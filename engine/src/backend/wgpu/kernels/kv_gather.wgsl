// Builds a cache from rows of another: beam search's reorder, and growing the
// capacity (with rows 0, 1, 2, ...).
//   rows  [out_rows]            u32, the source row of each new row
//   sk, sv [in_rows, src_cap, C]
//   dk, dv [out_rows, dst_cap, C]   positions 0 .. len are written
// Dispatch: (ceil(len * C / 64), out_rows).
struct Gather {
    len: u32,
    out_rows: u32,
    src_cap: u32,
    dst_cap: u32,
}
override C: u32;

@group(0) @binding(0) var<uniform> g: Gather;
@group(0) @binding(1) var<storage, read> rows: array<u32>;
@group(0) @binding(2) var<storage, read> sk: array<f32>;
@group(0) @binding(3) var<storage, read> sv: array<f32>;
@group(0) @binding(4) var<storage, read_write> dk: array<f32>;
@group(0) @binding(5) var<storage, read_write> dv: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = wg.y;
    let e = wg.x * 64u + lid.x;
    if (r >= g.out_rows || e >= g.len * C) {
        return;
    }
    let src = rows[r] * g.src_cap * C + e;
    let dst = r * g.dst_cap * C + e;
    dk[dst] = sk[src];
    dv[dst] = sv[src];
}
