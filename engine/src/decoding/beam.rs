//! Beam search for one prompt, as Hugging Face `transformers` runs it, in two
//! forms that share this module's settings, per-beam scoring and step loop:
//!
//! - one group (`num_beam_groups = 1`): `GenerationMixin._beam_search` of
//!   transformers 5.23 ([`crate::decoding::beam_single`]);
//! - diverse beam search (Vijayakumar et al. 2016, "Diverse Beam Search:
//!   Decoding Diverse Solutions from Neural Sequence Models",
//!   arXiv:1610.02424): `num_beam_groups = G > 1` groups of K/G beams, each
//!   group penalised for the tokens the groups before it chose at the same
//!   step; `GenerationMixin._group_beam_search` of transformers 4.55, the last
//!   core implementation ([`crate::decoding::beam_groups`]).
//!
//! Every step, each live beam's next-token log-probabilities go through
//! `log_softmax`, then transformers' processors in its order (the diversity
//! penalty, end-of-text at −∞ before `min_new_tokens`, no-repeat-n-gram bans at
//! −∞; nothing is renormalized), and the beam's score is added; the form then
//! selects, finishes hypotheses and decides whether to stop.

use crate::backend::{KvCache, LanguageModel, Logits};
use crate::decoding::beam_groups::GroupSearch;
use crate::decoding::beam_single::Search;
use crate::decoding::limits::{self, RunSize};
use crate::decoding::processors::banned_ngram_tokens;
use crate::decoding::steps::{BeamState, PrunedBeam, Step};
use crate::decoding::{log_softmax, GenerateOptions, Generated};
use crate::{Error, Result};

/// transformers' stand-in for "impossible" scores (`-1.0e9`).
pub(super) const NEG: f32 = -1.0e9;

/// When beam search stops: transformers' `early_stopping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarlyStopping {
    /// `early_stopping=True`: as soon as `num_beams` hypotheses are finished.
    True,
    /// `early_stopping=False` (the default): when the best live beam, at the
    /// current length, cannot beat the worst finished hypothesis.
    #[default]
    False,
    /// `early_stopping="never"`: like `False`, but judged at the length limit
    /// when `length_penalty > 0` (the canonical beam search).
    Never,
}

/// Beam search settings (transformers' names and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct BeamParams {
    /// Beams kept at each step (K).
    pub num_beams: usize,
    /// Exponent of the new length that divides a finished hypothesis' score.
    pub length_penalty: f32,
    /// When the search stops (each group's search, with groups).
    pub early_stopping: EarlyStopping,
    /// How many of the best hypotheses to return.
    pub num_return_sequences: usize,
    /// No n-gram of this size may occur twice (prompt included).
    pub no_repeat_ngram_size: Option<usize>,
    /// Groups the K beams are split into (G, dividing K); 1: plain beam search.
    pub num_beam_groups: usize,
    /// Subtracted from a token's log-probability in a group once for every
    /// beam of an earlier group that chose it at the same step (λ of the paper,
    /// with Hamming diversity).
    pub diversity_penalty: f32,
}

impl Default for BeamParams {
    fn default() -> Self {
        BeamParams {
            num_beams: 1,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            num_return_sequences: 1,
            no_repeat_ngram_size: None,
            num_beam_groups: 1,
            diversity_penalty: 0.0,
        }
    }
}

impl BeamParams {
    /// Checks the settings, with messages naming the command-line flags.
    pub fn validate(&self) -> Result<()> {
        limits::check_rows("--num-beams", self.num_beams)?;
        if self.num_return_sequences == 0 || self.num_return_sequences > self.num_beams {
            return Err(Error::input(format!(
                "--num-return-sequences must be between 1 and --num-beams ({}), got {}",
                self.num_beams, self.num_return_sequences
            )));
        }
        if !self.length_penalty.is_finite() {
            return Err(Error::input(format!(
                "--length-penalty must be a finite number, got {}",
                self.length_penalty
            )));
        }
        if self.no_repeat_ngram_size == Some(0) {
            return Err(Error::input("--no-repeat-ngram-size must be at least 1"));
        }
        self.validate_groups()
    }

    /// The rules of diverse beam search's two settings.
    fn validate_groups(&self) -> Result<()> {
        let (k, g, d) = (self.num_beams, self.num_beam_groups, self.diversity_penalty);
        if g == 0 {
            return Err(Error::input("--num-beam-groups must be at least 1"));
        }
        if !k.is_multiple_of(g) {
            return Err(Error::input(format!(
                "--num-beam-groups ({g}) must divide --num-beams ({k}): every group has \
                 the same number of beams"
            )));
        }
        if !d.is_finite() || d < 0.0 {
            return Err(Error::input(format!(
                "--diversity-penalty must be a finite number ≥ 0, got {d}"
            )));
        }
        if d > 0.0 && g == 1 {
            return Err(Error::input(format!(
                "--diversity-penalty ({d}) needs --num-beam-groups above 1: it penalises \
                 the tokens other groups chose"
            )));
        }
        Ok(())
    }

    /// `score / len ** length_penalty` in f32, as torch divides an f32 tensor
    /// by a Python float (the divisor rounded to f32 first).
    pub(super) fn normalize(&self, score: f32, len: usize) -> f32 {
        score / (len as f64).powf(self.length_penalty as f64) as f32
    }

    /// Beams per group (K / G).
    pub(super) fn group_size(&self) -> usize {
        self.num_beams / self.num_beam_groups
    }

    /// Whether the hypotheses of a step can still improve on `worst` (the
    /// worst of a full set of finished ones): `best`, the best score reachable,
    /// over the length it is judged at (the current new length `new_len`, or
    /// the length limit `max_new` with [`EarlyStopping::Never`] and a positive
    /// penalty), beats `worst`. In f64, as transformers' 4.x Python floats.
    pub(super) fn attainable(&self, best: f64, new_len: usize, max_new: usize) -> f64 {
        let never = self.early_stopping == EarlyStopping::Never && self.length_penalty > 0.0;
        let len = if never { max_new } else { new_len };
        best / (len as f64).powf(self.length_penalty as f64)
    }
}

/// A live beam: its new tokens and the sum of their (processed) log-probabilities.
#[derive(Debug, Clone)]
pub(super) struct Beam {
    pub ids: Vec<u32>,
    pub logprob: f32,
    /// The index in the previous step event's beams of the beam it extends.
    pub parent: Option<usize>,
}

/// What both forms of the search share with the step loop.
pub(super) trait Searcher {
    /// Advances by one step on `logits` (one row per beam; one row at the first
    /// step); `last`: the length limit is reached. Returns the cache rows the
    /// new beams continue.
    fn advance(&mut self, logits: &Logits, step: usize, last: bool) -> Vec<usize>;
    /// The step event's beams.
    fn states(&self) -> Vec<BeamState>;
    /// Every candidate the last step weighed (the 2·K best, by group), but
    /// those continuing transformers' −1e9 copies of the prompt.
    fn considered(&self) -> &[PrunedBeam];
    /// Whether the search is over before the length limit.
    fn done(&self) -> bool;
    /// The token each cache row is fed next.
    fn next_tokens(&self) -> Vec<u32>;
    /// The returned sequences, best first, with the group each came from.
    fn into_output(self) -> Vec<(Generated, usize)>;
}

/// What every beam's scores are computed from.
pub(super) struct Context<'a> {
    pub prompt: &'a [u32],
    pub options: &'a GenerateOptions,
    pub params: &'a BeamParams,
    /// The length limit in new tokens.
    pub max_new: usize,
}

impl Context<'_> {
    /// A beam's next-token scores after `step` new tokens: `log_softmax` of
    /// its `logits`, the diversity penalty (`penalty[t]` subtracted from token
    /// `t`), end-of-text banned before `min_new_tokens`, repeated n-grams
    /// banned, then the beam's score added, each in f32 as transformers does.
    pub fn beam_scores(
        &self,
        logits: &[f32],
        penalty: &[(u32, f32)],
        beam: &Beam,
        step: usize,
    ) -> Vec<f32> {
        let mut lp = log_softmax(logits);
        for &(token, p) in penalty {
            if let Some(l) = lp.get_mut(token as usize) {
                *l -= p;
            }
        }
        self.options.suppress_early_eos(step, &mut lp);
        if let Some(n) = self.params.no_repeat_ngram_size {
            let mut tokens = self.prompt.to_vec();
            tokens.extend_from_slice(&beam.ids);
            ban_repeated_ngrams(&tokens, n, &mut lp);
        }
        lp.iter_mut().for_each(|l| *l += beam.logprob);
        lp
    }
}

/// Sets to −∞ every token that would repeat an n-gram of `tokens` (the prompt
/// and the beam's new tokens), as transformers' `NoRepeatNGramLogitsProcessor`.
fn ban_repeated_ngrams(tokens: &[u32], n: usize, scores: &mut [f32]) {
    for id in banned_ngram_tokens(tokens, n) {
        if let Some(s) = scores.get_mut(id as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// Beam search after `prompt`; returns the `num_return_sequences` best
/// hypotheses (new tokens only), each scored like transformers'
/// `sequences_scores` (log-probability sum / new length ** `length_penalty`).
/// `on_step` sees the beams after every step ([`Step::Beams`]). Stops early at
/// the end of the context.
pub async fn beam_search<M: LanguageModel>(
    model: &M,
    prompt: &[u32],
    options: &GenerateOptions,
    params: &BeamParams,
    on_step: &mut dyn FnMut(Step),
) -> Result<Vec<Generated>> {
    let out = beam_search_in_groups(model, prompt, options, params, on_step).await?;
    Ok(out.into_iter().map(|(g, _)| g).collect())
}

/// [`beam_search`], with the group each returned sequence came from (0
/// without groups).
pub async fn beam_search_in_groups<M: LanguageModel>(
    model: &M,
    prompt: &[u32],
    options: &GenerateOptions,
    params: &BeamParams,
    on_step: &mut dyn FnMut(Step),
) -> Result<Vec<(Generated, usize)>> {
    params.validate()?;
    let config = model.config();
    options.check(prompt, config)?;
    let size = RunSize::generate(config, prompt.len(), options, params.num_beams, 0);
    limits::check_memory(&[config], size, "use fewer --num-beams or --max-new-tokens")?;
    let max_new = options
        .max_new_tokens
        .min(config.n_positions - prompt.len());
    if max_new == 0 {
        let empty = Generated {
            ids: Vec::new(),
            score: 0.0,
        };
        return Ok(vec![(empty, 0); params.num_return_sequences]);
    }
    let context = Context {
        prompt,
        options,
        params,
        max_new,
    };
    let mut cache = model.new_cache(1)?;
    cache.reserve(size.positions)?;
    let logits = model.forward(&mut cache, &[prompt], 1).await?;
    cache.reorder(&vec![0; params.num_beams])?;
    if params.num_beam_groups > 1 {
        let search = GroupSearch::new(context);
        run_steps(model, search, cache, logits, max_new, on_step).await
    } else {
        let search = Search::new(context);
        run_steps(model, search, cache, logits, max_new, on_step).await
    }
}

/// The step loop: advance, report, stop or feed every beam's token.
async fn run_steps<M: LanguageModel, S: Searcher>(
    model: &M,
    mut search: S,
    mut cache: M::Cache,
    mut logits: Logits,
    max_new: usize,
    on_step: &mut dyn FnMut(Step),
) -> Result<Vec<(Generated, usize)>> {
    for step in 0..max_new {
        let last = step + 1 == max_new;
        let sources = search.advance(&logits, step, last);
        let beams = search.states();
        let pruned = pruned(search.considered(), &beams, step + 1);
        on_step(Step::Beams { beams, pruned });
        if last || search.done() {
            break;
        }
        let tokens = search.next_tokens();
        let rows: Vec<&[u32]> = tokens.iter().map(std::slice::from_ref).collect();
        cache.reorder(&sources)?;
        logits = model.forward(&mut cache, &rows, 1).await?;
    }
    Ok(search.into_output())
}

/// The weighed candidates that are not among the step's new `beams` (same
/// group, parent and last token, `new_len` tokens long).
fn pruned(considered: &[PrunedBeam], beams: &[BeamState], new_len: usize) -> Vec<PrunedBeam> {
    considered
        .iter()
        .filter(|c| {
            !beams.iter().any(|b| {
                b.ids.len() == new_len
                    && b.group == c.group
                    && b.parent == c.parent
                    && b.ids.last() == Some(&c.id)
            })
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngram_bans_follow_transformers() {
        let mut s = vec![0.0; 8];
        // Bigrams: the last token 2 was followed by 3 and by 5 before.
        ban_repeated_ngrams(&[1, 2, 3, 2, 5, 2], 2, &mut s);
        assert_eq!(s.iter().filter(|v| v.is_infinite()).count(), 2);
        assert!(s[3].is_infinite() && s[5].is_infinite());
        let mut s = vec![0.0; 8];
        ban_repeated_ngrams(&[4, 6], 1, &mut s);
        assert!(s[4].is_infinite() && s[6].is_infinite() && s[0] == 0.0);
        let mut s = vec![0.0; 8];
        ban_repeated_ngrams(&[1, 2], 3, &mut s);
        assert!(s.iter().all(|v| *v == 0.0));
    }
}
