// The attention output combined from its split partials (flash-decoding's
// reduction, fused into c_proj): x holds, for each row, head and split,
// (m, l, o[D]) = (the split's largest score, the sum of exp(score - m),
// the sum of exp(score - m) v). Output k = h D + d is
// sum_s e^(m_s - M) o_s[d] / sum_s e^(m_s - M) l_s, M = max_s m_s.
//   x  [rows, H, SPLITS, D + 2]
fn prepare(row: u32, li: u32) {}

fn load_x(row: u32, k: u32) -> f32 {
    let h = k / D;
    let d = k % D;
    let base = (row * H + h) * SPLITS * (D + 2u);
    var m = -3.0e38;
    for (var s = 0u; s < dims.splits; s++) {
        m = max(m, x[base + s * (D + 2u)]);
    }
    var num = 0.0;
    var den = 0.0;
    for (var s = 0u; s < dims.splits; s++) {
        let p = base + s * (D + 2u);
        let e = exp(x[p] - m);
        den += e * x[p + 1u];
        num += e * x[p + 2u + d];
    }
    return num / den;
}
