// What every linear layer's kernel shares (matmul.wgsl, matvec.wgsl): its
// shape, its bindings but the weights' (binding 2: f32, f16 or vec4 of
// either, declared by each kernel), and its row count.
override K: u32;
override N: u32;
override LDY: u32;
override COL0: u32;
override EPILOGUE: u32;
override OUT_ROWS: bool;

@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn n_rows() -> u32 {
    if (OUT_ROWS) {
        return dims.out_n;
    }
    return dims.tokens;
}
