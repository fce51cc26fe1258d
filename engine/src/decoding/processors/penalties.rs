//! Penalties that shift or ban tokens from the context: CTRL's repetition
//! penalty and the no-repeat-n-gram ban.

/// CTRL's penalty on every distinct token of the context.
pub(super) fn repetition_penalty(x: &mut [f32], context: &[u32], theta: f32) {
    let mut seen = vec![false; x.len()];
    for &id in context {
        let i = id as usize;
        if i < x.len() && !seen[i] {
            seen[i] = true;
            x[i] = if x[i] < 0.0 {
                x[i] * theta
            } else {
                x[i] / theta
            };
        }
    }
}

/// Tokens that would complete an n-gram of `context` (the last `size − 1`
/// tokens followed by them occur earlier).
pub fn banned_ngram_tokens(context: &[u32], size: usize) -> Vec<u32> {
    let len = context.len();
    if size == 0 || len < size {
        return Vec::new();
    }
    let prefix = &context[len + 1 - size..];
    context
        .windows(size)
        .filter(|w| &w[..size - 1] == prefix)
        .map(|w| w[size - 1])
        .collect()
}

/// OpenAI's presence and frequency penalties: `x[j] −= c[j] · frequency +
/// [c[j] > 0] · presence`, `c[j]` how many times token `j` was generated so
/// far (the prompt does not count).
pub(super) fn presence_frequency(x: &mut [f32], generated: &[u32], presence: f32, frequency: f32) {
    let mut counts = std::collections::HashMap::<u32, u32>::new();
    for &id in generated {
        *counts.entry(id).or_insert(0) += 1;
    }
    for (id, count) in counts {
        if let Some(v) = x.get_mut(id as usize) {
            *v -= count as f32 * frequency + presence;
        }
    }
}
