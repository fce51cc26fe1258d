// The shape of one forward pass, shared by every kernel (one uniform buffer).
// tokens = rows * fresh: the new positions of every row, row-major.
// Positions past .. past + fresh of each row are being added to a cache that
// holds `cap` positions per row. Logits are asked for the last `last` new
// positions of each row; out0 .. out0 + out_n are the ones computed now.
// Decode attention is split into `splits` spans of the context; the logits
// summary keeps the top `top_k` and the logits of `extra_n` named ids.
struct Dims {
    tokens: u32,
    fresh: u32,
    past: u32,
    cap: u32,
    last: u32,
    out0: u32,
    out_n: u32,
    splits: u32,
    top_k: u32,
    extra_n: u32,
    _pad0: u32,
    _pad1: u32,
}
