// c_attn's outputs are q, k, v side by side ([tokens, 3C]); k and v of new
// position t also go into the cache, at position past + t % fresh of row
// t / fresh.
//   kc, vc  [rows, cap, C]
@group(0) @binding(KV_B0) var<storage, read_write> kc: array<f32>;
@group(0) @binding(KV_B1) var<storage, read_write> vc: array<f32>;

fn store_kv(t: u32, n: u32, v: f32) {
    let part = n / (N / 3u);
    if (part == 0u) {
        return;
    }
    let c = n % (N / 3u);
    let r = t / dims.fresh;
    let p = dims.past + t % dims.fresh;
    let dst = (r * dims.cap + p) * (N / 3u) + c;
    if (part == 1u) {
        kc[dst] = v;
    } else {
        vc[dst] = v;
    }
}
