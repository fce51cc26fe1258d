// Decode attention split over the context (flash-decoding): workgroup
// (s, h, t) takes positions s SPAN .. min((s + 1) SPAN, ctx) of new position
// t's context for head h, and writes that split's partial softmax
// (m, l, o[D]): its largest score, the sum of exp(score - m), and the sum
// of exp(score - m) v. c_proj's prologue (`prologue_combine.wgsl`) combines
// the splits. Each workgroup's work is bounded by SPAN, so a longer context
// means more workgroups side by side, not a longer walk.
//   qkv   [tokens, 3C]           queries in columns 0 .. C
//   kc    [rows, cap, C]         keys, head h in columns h D .. h D + D
//   vc    [rows, cap, C]         values
//   part  [tokens, H, SPLITS, D + 2]
// New position i of row r sits at past + i and sees positions 0 ..= past + i.
// Dispatch: (dims.splits, H, tokens); D <= 256.
override C: u32;
override H: u32;
override D: u32;
override SPLITS: u32;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> kc: array<f32>;
@group(0) @binding(3) var<storage, read> vc: array<f32>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;

const SPAN: u32 = 256u;
var<workgroup> qs: array<f32, 256>;
var<workgroup> red: array<f32, 256>;
var<workgroup> ex: array<f32, 256>;
var<workgroup> acc: array<f32, 1024>; // [4 quarters][256 dims]

fn reduce(v: f32, li: u32, is_max: bool) -> f32 {
    red[li] = v;
    workgroupBarrier();
    for (var s = SPAN / 2u; s > 0u; s = s >> 1u) {
        if (li < s) {
            if (is_max) {
                red[li] = max(red[li], red[li + s]);
            } else {
                red[li] += red[li + s];
            }
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let s = wg.x;
    let h = wg.y;
    let t = wg.z;
    if (t >= dims.tokens || h >= H || s >= dims.splits) {
        return;
    }
    let r = t / dims.fresh;
    let ctx = dims.past + t % dims.fresh + 1u;
    let p0 = s * SPAN;
    let out = ((t * H + h) * SPLITS + s) * (D + 2u);
    if (p0 >= ctx) {
        // A split past this position's context: it weighs nothing.
        if (li == 0u) {
            part[out] = -3.0e38;
            part[out + 1u] = 0.0;
        }
        for (var d = li; d < D; d += SPAN) {
            part[out + 2u + d] = 0.0;
        }
        return;
    }
    let n = min(SPAN, ctx - p0);
    for (var d = li; d < D; d += SPAN) {
        qs[d] = qkv[t * 3u * C + h * D + d];
    }
    workgroupBarrier();
    let base = r * dims.cap * C + h * D;
    let scale = 1.0 / sqrt(f32(D));
    var score = -3.0e38;
    if (li < n) {
        let kb = base + (p0 + li) * C;
        var dot = 0.0;
        for (var d = 0u; d < D; d++) {
            dot += qs[d] * kc[kb + d];
        }
        score = dot * scale;
    }
    let m = reduce(score, li, true);
    var e = 0.0;
    if (li < n) {
        e = exp(score - m);
    }
    ex[li] = e;
    let l = reduce(e, li, false);
    // Quarter q sums positions q, q + 4, ... for dimensions lane, lane + 64, ...
    let q = li / 64u;
    let lane = li % 64u;
    for (var d = lane; d < D; d += 64u) {
        var o = 0.0;
        for (var p = q; p < n; p += 4u) {
            o += ex[p] * vc[base + (p0 + p) * C + d];
        }
        acc[q * 256u + d] = o;
    }
    workgroupBarrier();
    for (var d = li; d < D; d += SPAN) {
        part[out + 2u + d] = acc[d] + acc[256u + d] + acc[512u + d] + acc[768u + d];
    }
    if (li == 0u) {
        part[out] = m;
        part[out + 1u] = l;
    }
}
