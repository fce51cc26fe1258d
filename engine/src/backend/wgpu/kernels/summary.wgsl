// What greedy decoding needs of each logits row, computed where the row is:
// its top_k logits with their ids (largest first, lower id first on ties),
// its log-sum-exp, and the logits of the extra ids (tokens a processor bans).
//   logits  [out_n, V]       this block's rows
//   extra   [extra_n]        token ids
//   out     [rows, 1 + 2 top_k + extra_n] as u32: the log-sum-exp, top_k
//           ids, top_k logits, extra_n logits (f32 bits), at row out0 + j
// Each invocation scans every 256th logit, keeping a running max and sum of
// exponentials and its own sorted top_k; the sums are then combined, and the
// top_k lists merged one winner per round.
// Dispatch: (out_n, 1, 1), one workgroup of 256 per row; top_k <= 32.
override V: u32;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> extra: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

const WG: u32 = 256u;
const LOWEST: f32 = -3.0e38;
var<workgroup> rv: array<f32, 256>;
var<workgroup> rs: array<f32, 256>;
var<workgroup> ri: array<u32, 256>;

// (v, i) comes before (w, j): a larger logit, or the same and a lower id.
fn before(v: f32, i: u32, w: f32, j: u32) -> bool {
    return v > w || (v == w && i < j);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let j = wg.x;
    if (j >= dims.out_n) {
        return;
    }
    let base = j * V;
    let k = dims.top_k;
    var tv: array<f32, 32>;
    var ti: array<u32, 32>;
    var count = 0u;
    var m = LOWEST;
    var s = 0.0;
    for (var i = li; i < V; i += WG) {
        let v = logits[base + i];
        if (v > m) {
            s = s * exp(m - v) + 1.0;
            m = v;
        } else {
            s += exp(v - m);
        }
        if (count < k || before(v, i, tv[k - 1u], ti[k - 1u])) {
            var p = min(count, k - 1u);
            while (p > 0u && before(v, i, tv[p - 1u], ti[p - 1u])) {
                tv[p] = tv[p - 1u];
                ti[p] = ti[p - 1u];
                p -= 1u;
            }
            tv[p] = v;
            ti[p] = i;
            count = min(count + 1u, k);
        }
    }
    // The log-sum-exp: (max, sum) pairs combined pairwise.
    rv[li] = m;
    rs[li] = s;
    workgroupBarrier();
    for (var step = WG / 2u; step > 0u; step = step >> 1u) {
        if (li < step) {
            let m2 = rv[li + step];
            let mm = max(rv[li], m2);
            rs[li] = rs[li] * exp(rv[li] - mm) + rs[li + step] * exp(m2 - mm);
            rv[li] = mm;
        }
        workgroupBarrier();
    }
    let stride = 1u + 2u * k + dims.extra_n;
    let o = (dims.out0 + j) * stride;
    if (li == 0u) {
        out[o] = bitcast<u32>(rv[0] + log(rs[0]));
    }
    workgroupBarrier();
    // The top k: each round, every invocation offers the head of its list.
    var head = 0u;
    // -inf, for an exhausted list (a constant expression may not be infinite).
    var neg_inf_bits = 0xff800000u;
    for (var r = 0u; r < k; r++) {
        var hv = bitcast<f32>(neg_inf_bits);
        var hi = 0xffffffffu;
        if (head < count) {
            hv = tv[head];
            hi = ti[head];
        }
        rv[li] = hv;
        ri[li] = hi;
        workgroupBarrier();
        for (var step = WG / 2u; step > 0u; step = step >> 1u) {
            if (li < step && before(rv[li + step], ri[li + step], rv[li], ri[li])) {
                rv[li] = rv[li + step];
                ri[li] = ri[li + step];
            }
            workgroupBarrier();
        }
        let won = ri[0];
        if (li == 0u) {
            out[o + 1u + r] = won;
            out[o + 1u + k + r] = bitcast<u32>(rv[0]);
        }
        if (head < count && hi == won) {
            head += 1u;
        }
        workgroupBarrier();
    }
    for (var e = li; e < dims.extra_n; e += WG) {
        out[o + 1u + 2u * k + e] = bitcast<u32>(logits[base + min(extra[e], V - 1u)]);
    }
}
