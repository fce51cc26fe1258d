// The input row layer-normed on the way in (biased variance, eps inside the
// root, two passes as the CPU does): the layer norm before c_attn, c_fc and
// the logits, fused into them.
//   gamma, beta  [K]
@group(0) @binding(LN_B0) var<storage, read> gamma: array<f32>;
@group(0) @binding(LN_B1) var<storage, read> beta: array<f32>;

var<workgroup> stat: array<f32, 2>;

fn prepare(row: u32, li: u32) {
    var s = 0.0;
    for (var k = li; k < K; k += WG) {
        s += x[row * K + k];
    }
    let mean = sum_all(s, li) / f32(K);
    var v = 0.0;
    for (var k = li; k < K; k += WG) {
        let d = x[row * K + k] - mean;
        v += d * d;
    }
    let variance = sum_all(v, li) / f32(K);
    if (li == 0u) {
        stat[0] = mean;
        stat[1] = inverseSqrt(variance + EPS);
    }
    workgroupBarrier();
}

fn load_x(row: u32, k: u32) -> f32 {
    return (x[row * K + k] - stat[0]) * stat[1] * gamma[k] + beta[k];
}
