//! DoLa, decoding by contrasting layers: each step takes the token whose
//! log-probability grew most between an early layer and the last.
//!
//! Chuang et al. 2023, "DoLa: Decoding by Contrasting Layers Improves
//! Factuality in Large Language Models" (arXiv:2309.03883), §2: the
//! premature layer `M` is, among the candidate layers, the one whose
//! early-exit distribution `q_j = softmax(head(h_j))` is furthest from the
//! final layer's `q_N` in Jensen–Shannon divergence; then
//! `argmax_{x ∈ V_head} log q_N(x) − log q_M(x)` over the plausible tokens
//! `V_head = {x : q_N(x) ≥ 0.1·max q_N}`.
//!
//! As `transformers` 4.55 runs it (`GenerationMixin._dola_decoding`,
//! `_dola_select_contrast`, `_relative_top_filter`): the head is the tied
//! `wte` applied to `hidden_states[j]` with no final layer norm; the
//! candidates are `low` (layers 2, 4, … below n_layer / 2, from 0 or 1 in
//! models of one or two layers), `high` (n_layer / 2, + 2, … below n_layer;
//! the last 20 layers' even steps past 40 layers) or a list; a single
//! candidate is used without the divergence; outside `V_head` the contrast is
//! −∞; the processors (repetition penalty, end-of-text before
//! `min_new_tokens`) then apply to the contrast, and the argmax is taken.

use crate::backend::{HiddenRequest, KvCache, LanguageModel};
use crate::decoding::limits::{self, RunSize};
use crate::decoding::select::{argmax, top_n};
use crate::decoding::steps::{Cut, DolaCandidate, DolaLayer, Step, STEP_CANDIDATES};
use crate::decoding::{log_softmax, GenerateOptions, Generated, SamplingParams};
use crate::{Error, Result};

/// Which premature layers DoLa weighs (`--dola-layers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DolaLayers {
    /// The lower half of the model.
    Low,
    /// The upper half.
    High,
    /// These `hidden_states` indices (0 is the embeddings), each below n_layer.
    List(Vec<usize>),
}

impl std::str::FromStr for DolaLayers {
    type Err = Error;

    fn from_str(s: &str) -> Result<DolaLayers> {
        match s.trim() {
            "low" => Ok(DolaLayers::Low),
            "high" => Ok(DolaLayers::High),
            list => list
                .split(',')
                .map(|i| i.trim().parse::<usize>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(DolaLayers::List)
                .map_err(|_| {
                    Error::input(format!(
                        "--dola-layers {s:?}: expected low, high or layer numbers such as 0,2,4"
                    ))
                }),
        }
    }
}

impl std::fmt::Display for DolaLayers {
    /// The form `--dola-layers` takes: `low`, `high` or `0,2,4`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DolaLayers::Low => f.write_str("low"),
            DolaLayers::High => f.write_str("high"),
            DolaLayers::List(list) => {
                let names: Vec<String> = list.iter().map(usize::to_string).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

impl DolaLayers {
    /// The candidate layers in a model of `n_layer` layers with a tied head,
    /// as transformers 4.55 picks them.
    pub fn candidates(&self, n_layer: usize) -> Result<Vec<usize>> {
        let start = match n_layer {
            0..=1 => 0,
            2 => 1,
            _ => 2,
        };
        let layers: Vec<usize> = match self {
            DolaLayers::Low if start == n_layer / 2 => vec![start],
            DolaLayers::Low if n_layer <= 40 => (start..n_layer / 2).step_by(2).collect(),
            DolaLayers::Low => (start..20).step_by(2).collect(),
            DolaLayers::High if n_layer <= 40 => (n_layer / 2..n_layer).step_by(2).collect(),
            DolaLayers::High => (n_layer - 20..n_layer).step_by(2).collect(),
            DolaLayers::List(list) => {
                if let Some(&i) = list.iter().find(|&&i| i >= n_layer) {
                    return Err(Error::input(format!(
                        "--dola-layers: layer {i} is not a premature layer of this model of \
                         {n_layer} layers: give layers from 0 (the embeddings) to {}",
                        n_layer.saturating_sub(1)
                    )));
                }
                list.clone()
            }
        };
        if layers.is_empty() {
            return Err(Error::input(format!(
                "--dola-layers leaves no premature layer in a model of {n_layer} layers: \
                 give layer numbers"
            )));
        }
        Ok(layers)
    }
}

/// The knobs of DoLa.
#[derive(Debug, Clone, PartialEq)]
pub struct DolaParams {
    pub layers: DolaLayers,
    /// CTRL's penalty on the context's tokens, applied to the contrast
    /// (transformers' DoLa documentation recommends 1.2).
    pub repetition_penalty: Option<f32>,
}

impl Default for DolaParams {
    fn default() -> Self {
        DolaParams {
            layers: DolaLayers::High,
            repetition_penalty: None,
        }
    }
}

impl DolaParams {
    /// The processors applied to the contrast: argmax after them.
    fn processors(&self) -> SamplingParams {
        SamplingParams {
            temperature: 0.0,
            repetition_penalty: self.repetition_penalty,
            ..SamplingParams::default()
        }
    }

    /// Checks every parameter that does not depend on the model.
    pub fn validate(&self) -> Result<()> {
        if matches!(&self.layers, DolaLayers::List(l) if l.is_empty()) {
            return Err(Error::input(
                "--dola-layers needs at least one layer number",
            ));
        }
        self.processors().validate()
    }
}

/// Jensen–Shannon divergence of two distributions given as log-probabilities,
/// as `_dola_select_contrast` takes it: the mean over the vocabulary of
/// `½(KL(m‖p) + KL(m‖q))` terms, `m = ½(p + q)` (in f64).
fn js_divergence(p: &[f32], q: &[f32]) -> f32 {
    let (mut kl1, mut kl2) = (0f64, 0f64);
    for (&lp, &lq) in p.iter().zip(q) {
        let m = 0.5 * ((lp as f64).exp() + (lq as f64).exp());
        if m > 0.0 {
            kl1 += m * (m.ln() - lp as f64);
            kl2 += m * (m.ln() - lq as f64);
        }
    }
    (0.5 * (kl1 + kl2) / p.len() as f64) as f32
}

/// The contrast of `final_lp` over `premature_lp` on the plausible tokens
/// (`_relative_top_filter`, relative_top 0.1), −∞ elsewhere.
fn contrast(final_lp: &[f32], premature_lp: &[f32]) -> Vec<f32> {
    let max = final_lp.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let threshold = max + 0.1f64.ln() as f32;
    final_lp
        .iter()
        .zip(premature_lp)
        .map(|(&f, &p)| {
            if f < threshold {
                f32::NEG_INFINITY
            } else {
                f - p
            }
        })
        .collect()
}

/// DoLa decoding of up to `max_new_tokens` after `prompt`. `on_step` sees
/// each step's premature layer and candidates. The score is the sum of the
/// chosen tokens' final-layer log-probabilities. Stops early at end-of-text
/// or the end of the context.
pub async fn dola<M: LanguageModel>(
    model: &M,
    prompt: &[u32],
    options: &GenerateOptions,
    params: &DolaParams,
    on_step: &mut dyn FnMut(Step),
) -> Result<Generated> {
    params.validate()?;
    let cfg = model.config();
    options.check(prompt, cfg)?;
    let heads = params.layers.candidates(cfg.n_layer)?;
    let size = RunSize {
        logit_rows: 1 + heads.len(),
        ..RunSize::generate(cfg, prompt.len(), options, 1, 0)
    };
    limits::check_memory(&[cfg], size, "use fewer --dola-layers or --max-new-tokens")?;
    let mut cache = model.new_cache(1)?;
    cache.reserve(size.positions)?;
    let want = HiddenRequest {
        layers: &[],
        positions: 0,
        heads: &heads,
        lens: false,
    };
    let processors = params.processors();
    let mut out = Generated {
        ids: Vec::new(),
        score: 0.0,
    };
    let mut text = prompt.to_vec();
    let mut input = prompt.to_vec();
    while out.ids.len() < options.max_new_tokens && text.len() < cfg.n_positions {
        let pass = model
            .forward_hidden(&mut cache, &[&input], 1, &want)
            .await?;
        let final_lp = log_softmax(pass.logits.last(0));
        let premature: Vec<Vec<f32>> = pass.heads.iter().map(|h| log_softmax(h.last(0))).collect();
        let layers: Vec<DolaLayer> = heads
            .iter()
            .zip(&premature)
            .map(|(&layer, q)| DolaLayer {
                layer,
                js_divergence: js_divergence(&final_lp, q),
            })
            .collect();
        let pick = if heads.len() == 1 {
            0
        } else {
            argmax(&layers.iter().map(|l| l.js_divergence).collect::<Vec<_>>())
        };
        let scores = contrast(&final_lp, &premature[pick]);
        let bans: Vec<(u32, Cut)> = match options.eos_token_id {
            Some(eos) if out.ids.len() < options.min_new_tokens => vec![(eos, Cut::MinNewTokens)],
            _ => Vec::new(),
        };
        let processed = processors.process_with_bans(&scores, &text, &bans);
        let chosen = argmax(&processed.probs);
        let id = chosen as u32;
        let mut shown = top_n(&final_lp, STEP_CANDIDATES);
        if !shown.contains(&chosen) {
            shown.push(chosen);
        }
        let candidates = shown
            .into_iter()
            .map(|x| DolaCandidate {
                id: x as u32,
                final_logprob: final_lp[x],
                premature_logprob: premature[pick][x],
                score: scores[x],
                plausible: scores[x] > f32::NEG_INFINITY,
            })
            .collect();
        out.score += final_lp[chosen];
        out.ids.push(id);
        text.push(id);
        on_step(Step::Dola {
            chosen: id,
            premature_layer: heads[pick],
            layers,
            candidates,
        });
        if Some(id) == options.eos_token_id {
            break;
        }
        input = vec![id];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_layers_are_transformers_choice() {
        let low = DolaLayers::Low;
        let high = DolaLayers::High;
        assert_eq!(low.candidates(12).unwrap(), [2, 4]);
        assert_eq!(high.candidates(12).unwrap(), [6, 8, 10]);
        assert_eq!(low.candidates(4).unwrap(), [2]);
        assert_eq!(low.candidates(2).unwrap(), [1]);
        assert_eq!(high.candidates(3).unwrap(), [1]);
        assert_eq!(
            low.candidates(48).unwrap(),
            [2, 4, 6, 8, 10, 12, 14, 16, 18]
        );
        assert_eq!(high.candidates(48).unwrap()[0], 28);
        assert!(low.candidates(3).unwrap_err().is_bad_input());
        let list: DolaLayers = "0, 2".parse().unwrap();
        assert_eq!(list.candidates(3).unwrap(), [0, 2]);
        assert!(list.candidates(2).unwrap_err().is_bad_input());
        assert!("2,x".parse::<DolaLayers>().unwrap_err().is_bad_input());
    }

    #[test]
    fn layers_are_written_as_the_flag_reads_them() {
        for written in ["low", "high", "0", "0,2,4"] {
            let layers: DolaLayers = written.parse().unwrap();
            assert_eq!(layers.to_string(), written);
        }
        let spaced: DolaLayers = " 1, 3 ".parse().unwrap();
        assert_eq!(spaced.to_string(), "1,3");
    }

    #[test]
    fn the_contrast_keeps_the_plausible_tokens_only() {
        let final_lp = log_softmax(&[3.0, 2.9, 0.0, 2.0]);
        let premature = log_softmax(&[5.0, 0.0, 0.0, 0.0]);
        let s = contrast(&final_lp, &premature);
        assert_eq!(s[2], f32::NEG_INFINITY);
        assert_eq!(argmax(&s), 1, "{s:?}");
        assert!(js_divergence(&final_lp, &final_lp).abs() < 1e-9);
        assert!(js_divergence(&final_lp, &premature) > 0.0);
    }
}
