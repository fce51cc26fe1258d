//! Greedy decoding: the most likely token at every step. It is sampling at
//! temperature 0 (the argmax of the processed logits, no random draws), so it
//! shares the sampling loop and reports the same step events.

use crate::backend::LanguageModel;
use crate::decoding::{sample, GenerateOptions, Generated, SamplingParams, Step};
use crate::Result;

/// Greedy decoding of up to `max_new_tokens` after `prompt`; `on_step` sees
/// each step (the chosen token and the top candidates) as it happens.
pub async fn greedy<M: LanguageModel>(
    model: &M,
    prompt: &[u32],
    options: &GenerateOptions,
    on_step: &mut dyn FnMut(Step),
) -> Result<Generated> {
    let params = SamplingParams {
        temperature: 0.0,
        ..SamplingParams::default()
    };
    let mut out = sample(model, prompt, options, &params, 0, 1, on_step).await?;
    Ok(out.remove(0))
}
