// y = f(x) W^T with its epilogue (`epilogue.wgsl`) for a few rows: decoding
// on real GPUs. f is the prologue the host includes: the row as it is, the
// row layer-normed (the layer norm before c_attn, c_fc and the logits), or
// the attention output combined from its split partials (before c_proj).
//   x  [rows, K]          rows = tokens, or out_n (OUT_ROWS: the rows whose
//                         logits are computed now, read from their positions)
//   w  [N, K]             weights as [out, in]; read 4 values (16 bytes in
//                         f32) at a time where K is a multiple of 4
//   b  [N]; y [rows, LDY] columns COL0 .. COL0 + N are written
// A workgroup of 256 invocations, 8 groups of 32 lanes, makes 8 RPG
// outputs of one row, RPG per group (more for the logits, whose many
// outputs leave workgroups to spare). The input row goes through the
// prologue once, into workgroup memory, CHUNK values at a time; each
// group's lanes stride along K four values at a time against it, and the 32
// partial sums of each output are added through workgroup memory.
// Dispatch: (ceil(N / (8 RPG)), rows).
override EPS: f32 = 0.0;
override H: u32 = 1u;
override D: u32 = 1u;
override SPLITS: u32 = 1u;
override RPG: u32 = 1u; // outputs per group, at most 8

// w (binding 2) and `w4` come from the host: vec4 or scalar loads.

const WG: u32 = 256u;
const GROUPS: u32 = 8u;
const LANES: u32 = 32u;
const CHUNK: u32 = 2048u;
var<workgroup> xs: array<vec4<f32>, 512>; // CHUNK / 4
var<workgroup> part: array<f32, 2048>; // [LANES][GROUPS RPG]

// The row of x that output row t reads.
fn src_row(t: u32) -> u32 {
    if (OUT_ROWS) {
        let g = dims.out0 + t;
        return (g / dims.last) * dims.fresh + dims.fresh - dims.last + g % dims.last;
    }
    return t;
}

// The sum of every invocation's `v`, in three barriers: each group's 32
// values, then the 8 group sums.
fn sum_all(v: f32, li: u32) -> f32 {
    part[li] = v;
    workgroupBarrier();
    if (li < GROUPS) {
        var s = 0.0;
        for (var j = 0u; j < LANES; j++) {
            s += part[li * LANES + j];
        }
        part[WG + li] = s;
    }
    workgroupBarrier();
    var total = 0.0;
    for (var j = 0u; j < GROUPS; j++) {
        total += part[WG + j];
    }
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = wg.y;
    if (t >= n_rows()) {
        return;
    }
    let row = src_row(t);
    prepare(row, li);
    let g = li / LANES;
    let lane = li % LANES;
    let outs = GROUPS * RPG;
    let n0 = wg.x * outs + g * RPG;
    var acc = array<f32, 8>();
    for (var k0 = 0u; k0 < K; k0 += CHUNK) {
        let len4 = (min(CHUNK, K - k0) + 3u) / 4u;
        for (var i = li; i < len4; i += WG) {
            var v = vec4<f32>();
            for (var j = 0u; j < 4u; j++) {
                let k = k0 + 4u * i + j;
                if (k < K) {
                    v[j] = load_x(row, k);
                }
            }
            xs[i] = v;
        }
        workgroupBarrier();
        for (var i = lane; i < len4; i += LANES) {
            let xv = xs[i];
            for (var r = 0u; r < RPG; r++) {
                if (n0 + r < N) {
                    acc[r] += dot(w4(n0 + r, k0 / 4u + i), xv);
                }
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < RPG; r++) {
        part[lane * outs + g * RPG + r] = acc[r];
    }
    workgroupBarrier();
    if (li < outs) {
        let out = wg.x * outs + li;
        if (out < N) {
            var s = 0.0;
            for (var j = 0u; j < LANES; j++) {
                s += part[j * outs + li];
            }
            store(t, out, s);
        }
    }
}
