// What every linear layer's kernel does with an output (after the bindings
// and `store_kv`, which the host adds): y = xW^T (EPILOGUE 0), + b (1),
// gelu(xW^T + b) (2, GPT-2's tanh form), y + (xW^T + b) (3, the residual
// stream); with the cache bound (c_attn), the new keys and values are also
// stored into it.

fn gelu(v: f32) -> f32 {
    let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    // tanh(u) without overflow for large |u|
    let e = exp(-2.0 * abs(u));
    let th = sign(u) * (1.0 - e) / (1.0 + e);
    return 0.5 * v * (1.0 + th);
}

fn store(t: u32, n: u32, acc: f32) {
    let i = t * LDY + COL0 + n;
    var v = acc;
    switch EPILOGUE {
        case 0u: {}
        case 1u: {
            v = acc + b[n];
        }
        case 2u: {
            v = gelu(acc + b[n]);
        }
        default: {
            v = y[i] + (acc + b[n]);
        }
    }
    y[i] = v;
    store_kv(t, n, v);
}
