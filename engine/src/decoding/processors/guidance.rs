//! Classifier-free guidance for language models (Sanchez et al. 2023, "Stay
//! on topic with Classifier-Free Guidance", arXiv:2306.17806), as
//! `transformers`' `UnbatchedClassifierFreeGuidanceLogitsProcessor`: with
//! `c` and `u` the log-softmax of the conditional and the unconditional
//! (negative-prompt) logits, the scores become `scale · (c − u) + u`.

use crate::decoding::log_softmax;

pub(super) fn guidance(x: &mut [f32], unconditional: &[f32], scale: f32) {
    let c = log_softmax(x);
    if scale == 1.0 {
        x.copy_from_slice(&c);
        return;
    }
    let u = log_softmax(unconditional);
    for ((v, c), u) in x.iter_mut().zip(c).zip(u) {
        *v = scale * (c - u) + u;
    }
}
