// y = x W^T (+ bias, GELU or residual add; `epilogue.wgsl`) for many rows
// (the prompt), and for few rows on GPUs emulated on a CPU.
//   x  [rows, K]          rows = tokens, or out_n (OUT_ROWS)
//   w  [N, K]             weights as [out, in]
//   b  [N]                bias (unread when EPILOGUE = 0)
//   y  [rows, LDY]        columns COL0 .. COL0 + N are written
// Entry points:
//   tiled   64x64 output tiles, 16x16 threads of 4x4 outputs each.
//           Dispatch: (ceil(N / 64), ceil(rows / 64)).
//   rowdot  one output per invocation, no barriers, for GPUs emulated on a
//           CPU, where workgroup barriers are dear. Dispatch: (ceil(N / 256), rows).
// Real GPUs decode through `matvec.wgsl`.
@group(0) @binding(2) var<storage, read> w: array<W>;

const TS: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> xs: array<f32, 1024>; // [BK][TS]
var<workgroup> ws: array<vec4<f32>, 256>; // [BK][TS / 4]

fn store4(t: u32, n: u32, rows: u32, acc: vec4<f32>) {
    if (t >= rows) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if (n + j < N) {
            store(t, n + j, acc[j]);
        }
    }
}

@compute @workgroup_size(16, 16)
fn tiled(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let rows = n_rows();
    let t0 = wg.y * TS;
    let n0 = wg.x * TS;
    var acc0 = vec4<f32>();
    var acc1 = vec4<f32>();
    var acc2 = vec4<f32>();
    var acc3 = vec4<f32>();
    for (var k0 = 0u; k0 < K; k0 += BK) {
        for (var e = 0u; e < 4u; e++) {
            let idx = li + e * 256u;
            let r = idx / BK;
            let kk = idx % BK;
            let k = k0 + kk;
            var xv = 0.0;
            if (t0 + r < rows && k < K) {
                xv = x[(t0 + r) * K + k];
            }
            xs[kk * TS + r] = xv;
        }
        // ws[kk][q] holds outputs n0 + 4q .. n0 + 4q + 4 at k0 + kk
        {
            let q = li / BK;
            let kk = li % BK;
            let k = k0 + kk;
            var wv = vec4<f32>();
            if (k < K) {
                for (var j = 0u; j < 4u; j++) {
                    let n = n0 + 4u * q + j;
                    if (n < N) {
                        wv[j] = f32(w[n * K + k]);
                    }
                }
            }
            ws[kk * (TS / 4u) + q] = wv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let c = ws[kk * (TS / 4u) + lid.x];
            let a = kk * TS + lid.y * 4u;
            acc0 += xs[a] * c;
            acc1 += xs[a + 1u] * c;
            acc2 += xs[a + 2u] * c;
            acc3 += xs[a + 3u] * c;
        }
        workgroupBarrier();
    }
    let t = t0 + lid.y * 4u;
    let n = n0 + lid.x * 4u;
    store4(t, n, rows, acc0);
    store4(t + 1u, n, rows, acc1);
    store4(t + 2u, n, rows, acc2);
    store4(t + 3u, n, rows, acc3);
}

@compute @workgroup_size(256)
fn rowdot(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wg.y;
    let n = wg.x * 256u + lid.x;
    if (n >= N || t >= n_rows()) {
        return;
    }
    let xr = t * K;
    let wr = n * K;
    var acc = 0.0;
    for (var k = 0u; k < K; k++) {
        acc += f32(w[wr + k]) * x[xr + k];
    }
    store(t, n, acc);
}
