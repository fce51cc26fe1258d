//! Linear layers. GPT-2's Conv1D stores weights `[in, out]`; they are kept
//! transposed, `[out, in]`, as every backend holds them.

use candle_core::Tensor;

use super::Place;

use crate::weights::{transpose, Gpt2Checkpoint};
use crate::Result;

/// `y = x Wᵀ + b` with `W (out, in)`.
pub(crate) struct Linear {
    weight: Tensor, // (out, in)
    bias: Tensor,   // (out)
}

impl Linear {
    /// Loads the Conv1D layer `h.{i}.{name}` (`weight (in, out)`, `bias (out)`)
    /// of every block, into one tensor of which each block's weight is a view.
    pub(super) fn load_conv1d_stack(
        ckpt: &Gpt2Checkpoint,
        name: &str,
        layers: usize,
        d_in: usize,
        d_out: usize,
        to: &Place,
    ) -> Result<Vec<Self>> {
        let size = d_in * d_out;
        let mut all = vec![0f32; layers * size];
        let mut biases = Vec::with_capacity(layers);
        for (i, t) in all.chunks_exact_mut(size).enumerate() {
            let w = ckpt.f32(&format!("h.{i}.{name}.weight"))?;
            transpose(&w, d_in, d_out, t);
            biases.push(ckpt.f32(&format!("h.{i}.{name}.bias"))?);
        }
        let all = to.tensor(all, (layers, d_out, d_in))?;
        biases
            .into_iter()
            .enumerate()
            .map(|(i, b)| {
                Ok(Linear {
                    weight: all.get(i)?,
                    bias: to.vector(b)?,
                })
            })
            .collect()
    }

    // x (rows, n, in) -> (rows, n, out)
    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (rows, n, d_in) = x.dims3()?;
        let y = x
            .reshape((rows * n, d_in))?
            .matmul(&self.weight.t()?)?
            .broadcast_add(&self.bias)?;
        Ok(y.reshape((rows, n, ()))?)
    }
}
