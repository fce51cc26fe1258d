// Copies the new positions' keys and values into the cache.
//   qkv  [tokens, 3C]         keys in columns C .. 2C, values in 2C .. 3C
//   kc   [rows, cap, C]       written at positions past .. past + new
//   vc   [rows, cap, C]
// Dispatch: (ceil(C / 64), tokens).
override C: u32;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> kc: array<f32>;
@group(0) @binding(3) var<storage, read_write> vc: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wg.y;
    let c = wg.x * 64u + lid.x;
    if (t >= dims.tokens || c >= C) {
        return;
    }
    let r = t / dims.fresh;
    let p = dims.past + t % dims.fresh;
    let dst = (r * dims.cap + p) * C + c;
    kc[dst] = qkv[t * 3u * C + C + c];
    vc[dst] = qkv[t * 3u * C + 2u * C + c];
}
