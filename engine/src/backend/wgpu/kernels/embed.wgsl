// Token and position embeddings for one slice of the vocabulary.
//   ids  [tokens]              u32
//   wte  [VN, C]               rows V0 .. V0 + VN of the token embeddings
//   wpe  [n_positions, C]
//   x    [tokens, C]           x[t] = wte[ids[t]] + wpe[past + t % new]
// Dispatch: (ceil(C / 64), tokens). Tokens whose id lies outside this slice
// are left to the dispatch of their own slice.
override C: u32;
override V0: u32;
override VN: u32;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> wte: array<W>;
@group(0) @binding(3) var<storage, read> wpe: array<W>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wg.y;
    let c = wg.x * 64u + lid.x;
    if (t >= dims.tokens || c >= C) {
        return;
    }
    let id = ids[t];
    if (id < V0 || id >= V0 + VN) {
        return;
    }
    let pos = dims.past + t % dims.fresh;
    x[t * C + c] = f32(wte[(id - V0) * C + c]) + f32(wpe[pos * C + c]);
}
