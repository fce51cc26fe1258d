// Causal multi-head attention of the new positions over the cache (which
// already holds their own keys and values), with an online softmax.
//   qkv  [tokens, 3C]            queries in columns 0 .. C
//   kc   [rows, cap, C]          keys, head h in columns h*D .. h*D + D
//   vc   [rows, cap, C]          values
//   out  [tokens, C]
// New position i of row r sits at past + i and sees positions 0 ..= past + i.
// Dispatch: (tokens, H, 1), one workgroup of 64 per (token, head); D <= 256.
override C: u32;
override H: u32;
override D: u32;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<f32>;
@group(0) @binding(3) var<storage, read> vc: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
var<workgroup> qs: array<f32, 256>;
var<workgroup> sc: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wg.x;
    let h = wg.y;
    if (t >= dims.tokens || h >= H) {
        return;
    }
    let r = t / dims.fresh;
    let ctx = dims.past + t % dims.fresh + 1u;
    let scale = 1.0 / sqrt(f32(D));
    for (var d = lid.x; d < D; d += WG) {
        qs[d] = qkv[t * 3u * C + h * D + d];
    }
    workgroupBarrier();
    let base = r * dims.cap * C + h * D;
    var m = -3.0e38;
    var s = 0.0;
    var o: array<f32, 4>;
    for (var p0 = 0u; p0 < ctx; p0 += WG) {
        let p = p0 + lid.x;
        var score = -3.0e38;
        if (p < ctx) {
            var dot = 0.0;
            let kb = base + p * C;
            for (var d = 0u; d < D; d++) {
                dot += qs[d] * kc[kb + d];
            }
            score = dot * scale;
        }
        sc[lid.x] = score;
        workgroupBarrier();
        let nb = min(WG, ctx - p0);
        var bm = m;
        for (var j = 0u; j < nb; j++) {
            bm = max(bm, sc[j]);
        }
        let corr = exp(m - bm);
        s *= corr;
        for (var q = 0u; q < 4u; q++) {
            o[q] *= corr;
        }
        workgroupBarrier();
        sc[lid.x] = exp(score - bm);
        workgroupBarrier();
        for (var j = 0u; j < nb; j++) {
            let e = sc[j];
            s += e;
            let vb = base + (p0 + j) * C;
            for (var q = 0u; q < 4u; q++) {
                let d = lid.x + q * WG;
                if (d < D) {
                    o[q] += e * vc[vb + d];
                }
            }
        }
        m = bm;
        workgroupBarrier();
    }
    for (var q = 0u; q < 4u; q++) {
        let d = lid.x + q * WG;
        if (d < D) {
            out[t * C + h * D + d] = o[q] / s;
        }
    }
}
