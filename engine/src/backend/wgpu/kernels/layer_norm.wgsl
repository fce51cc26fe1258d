// Layer norm over the last axis (biased variance, eps inside the root).
//   x      [tokens, C]
//   gamma  [C], beta [C]
//   y      [tokens, C]             (SELECT = false)
//   y      [out_n, C]              (SELECT = true: only the rows whose logits
//                                   are computed now, in output order)
// Dispatch: (rows, 1, 1), one workgroup of 64 per row.
override C: u32;
override EPS: f32;
override SELECT: bool;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, 64>;

fn sum_all(v: f32, i: u32) -> f32 {
    red[i] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (i < s) {
            red[i] += red[i + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let j = wg.x;
    var src = j;
    if (SELECT) {
        if (j >= dims.out_n) {
            return;
        }
        let g = dims.out0 + j;
        src = (g / dims.last) * dims.fresh + dims.fresh - dims.last + g % dims.last;
    } else if (j >= dims.tokens) {
        return;
    }
    let base = src * C;
    var s = 0.0;
    for (var c = lid.x; c < C; c += 64u) {
        s += x[base + c];
    }
    let mean = sum_all(s, lid.x) / f32(C);
    var v = 0.0;
    for (var c = lid.x; c < C; c += 64u) {
        let d = x[base + c] - mean;
        v += d * d;
    }
    let rstd = inverseSqrt(sum_all(v, lid.x) / f32(C) + EPS);
    for (var c = lid.x; c < C; c += 64u) {
        y[j * C + c] = (x[base + c] - mean) * rstd * gamma[c] + beta[c];
    }
}
