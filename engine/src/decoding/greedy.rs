//! Greedy decoding: the most likely token at every step. It is sampling at
//! temperature 0 (the argmax of the processed logits, no random draws), so it
//! shares the sampling loop and reports the same step events.

use crate::backend::{LanguageModel, TopRow};
use crate::decoding::select::rank;
use crate::decoding::steps::{Cut, StepCandidate};
use crate::decoding::{sample, GenerateOptions, Generated, SamplingParams, Step};
use crate::{Error, Result};

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

/// Greedy's choice from a row's summary ([`LanguageModel::forward_top`],
/// with the banned ids as its extra ids), as
/// [`SamplingParams::process_with_bans`] makes it from the whole row when no
/// repetition penalty or n-gram ban applies: the argmax of what the bans
/// leave (lower id first on ties), its log-probability with the banned
/// tokens removed, and the step's `n` candidates by raw probability plus the
/// chosen one; every token but the chosen is cut (by its ban, or `greedy`).
pub(crate) fn choose_from_top(
    top: TopRow<'_>,
    bans: &[(u32, Cut)],
    n: usize,
) -> Result<(u32, f32, Vec<StepCandidate>)> {
    let banned = |id: u32| bans.iter().find(|&&(b, _)| b == id).map(|&(_, c)| c);
    let Some(pos) = top.ids.iter().position(|&id| banned(id).is_none()) else {
        return Err(Error::Backend(
            "no token has a positive probability: the model's logits are all -inf or NaN".into(),
        ));
    };
    let chosen = top.ids[pos];
    // ln Σ exp over the tokens the bans leave.
    let left: f64 = 1.0
        - top
            .extra
            .iter()
            .map(|&l| ((l - top.log_sum_exp) as f64).exp())
            .sum::<f64>();
    let logprob = top.logits[pos] - top.log_sum_exp - left.ln() as f32;
    let raw = |l: f32| (l - top.log_sum_exp).exp();
    let mut ids: Vec<(u32, f32)> = top
        .ids
        .iter()
        .zip(top.logits)
        .map(|(&id, &l)| (id, raw(l)))
        .collect();
    ids.sort_by(|a, b| rank((a.1, a.0 as usize), (b.1, b.0 as usize)));
    let mut keep: Vec<(u32, f32)> = ids.iter().copied().take(n).collect();
    if !keep.iter().any(|&(id, _)| id == chosen) {
        keep.push((chosen, raw(top.logits[pos])));
    }
    let candidates = keep
        .into_iter()
        .map(|(id, p)| StepCandidate {
            id,
            raw_prob: p,
            scaled_prob: p,
            prob: if id == chosen { 1.0 } else { 0.0 },
            cut: if id == chosen {
                None
            } else {
                banned(id).or(Some(Cut::Greedy))
            },
        })
        .collect();
    Ok((chosen, logprob, candidates))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Logits, TopLogits};
    use crate::decoding::steps::STEP_CANDIDATES;

    #[test]
    fn choosing_from_the_top_logits_matches_processing_the_whole_row() {
        let vocab = 1000;
        let mut s = 7u64;
        let mut data: Vec<f32> = (0..vocab)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
            })
            .collect();
        data[17] = 9.0; // a clear favourite, to be banned below
        data[400] = data[3]; // a tie
        let logits = Logits {
            rows: 1,
            positions: 1,
            vocab,
            data: data.clone(),
        };
        let params = SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        };
        for bans in [
            vec![],
            vec![(17u32, Cut::MinNewTokens)],
            vec![(5u32, Cut::MinNewTokens)],
        ] {
            let full = params.process_with_bans(&data, &[], &bans);
            let want_id = crate::decoding::argmax(&full.probs) as u32;
            let want = full.step_candidates(STEP_CANDIDATES, want_id);
            let ids: Vec<u32> = bans.iter().map(|b| b.0).collect();
            let top = TopLogits::from_logits(&logits, STEP_CANDIDATES + bans.len() + 1, &ids);
            let (id, logprob, got) = choose_from_top(top.last(0), &bans, STEP_CANDIDATES).unwrap();
            assert_eq!(id, want_id, "bans {bans:?}");
            let dl = (logprob - full.logprob(id)).abs();
            assert!(
                dl < 1e-5,
                "bans {bans:?}: log-prob {logprob} vs {}",
                full.logprob(id)
            );
            assert_eq!(got.len(), want.len(), "bans {bans:?}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(
                    (g.id, g.cut, g.prob),
                    (w.id, w.cut, w.prob),
                    "bans {bans:?}"
                );
                assert!((g.raw_prob - w.raw_prob).abs() < 1e-6, "{g:?} vs {w:?}");
                assert!(
                    (g.scaled_prob - w.scaled_prob).abs() < 1e-6,
                    "{g:?} vs {w:?}"
                );
            }
        }
    }
}
