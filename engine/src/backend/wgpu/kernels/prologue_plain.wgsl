// The input row as it is.
fn prepare(row: u32, li: u32) {}

fn load_x(row: u32, k: u32) -> f32 {
    return x[row * K + k];
}
