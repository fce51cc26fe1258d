//! The decode step behind the engine's model contract ([`LanguageModel`]),
//! so that every strategy, and every parity test, runs on it: a cache is a
//! step's buffers for its rows ([`StepRunner`]); a pass of `n` new tokens is
//! `n` steps, the logits of the last `last` read back. The runner is the
//! fused CUDA step on a GPU and the CPU [`Reference`] in the tests, which
//! check this adapter against the CPU backend strategy by strategy.

use std::sync::Arc;

use super::reference::Reference;
use super::{Buf, Plan};
use crate::backend::{
    check_forward, check_reorder, Hidden, HiddenRequest, KvCache, LanguageModel, Logits,
};
use crate::config::Gpt2Config;
use crate::weights::Gpt2Checkpoint;
use crate::{Error, Result};

/// One step's buffers and launches, for a fixed number of rows.
pub trait StepRunner: Sized {
    fn plan(&self) -> &Plan;
    /// Each row's token of the next step.
    fn set_ids(&mut self, ids: &[u32]) -> Result<()>;
    /// The positions already in the cache.
    fn set_pos(&mut self, pos: u32) -> Result<()>;
    /// Runs the step.
    fn run(&mut self) -> Result<()>;
    /// The step's logits, `[rows, V]`.
    fn logits(&self) -> Result<Vec<f32>>;
    /// Row `i` of this cache becomes row `rows[i]` of `from`'s, positions
    /// `0 .. len`.
    fn copy_rows(&mut self, from: &Self, rows: &[usize], len: usize) -> Result<()>;
}

/// Makes a model's runners: one per cache, for its rows.
pub trait MakeRunner {
    type Runner: StepRunner;
    fn make(&self, rows: usize) -> Result<Self::Runner>;
}

/// A model whose passes are decode steps.
pub struct StepModel<M> {
    config: Gpt2Config,
    maker: Arc<M>,
}

/// Its cache: the step of its rows, and a spare of the same rows that beam
/// search's reorders copy into (so that they allocate nothing).
pub struct StepCache<M: MakeRunner> {
    maker: Arc<M>,
    runner: M::Runner,
    spare: Option<M::Runner>,
    len: usize,
}

impl<M: MakeRunner> StepModel<M> {
    pub fn new(config: &Gpt2Config, maker: M) -> Self {
        StepModel {
            config: config.clone(),
            maker: Arc::new(maker),
        }
    }

    /// What makes its steps (on a GPU: the weights there).
    pub fn maker(&self) -> &M {
        &self.maker
    }
}

impl<M: MakeRunner> KvCache for StepCache<M> {
    fn len(&self) -> usize {
        self.len
    }

    fn rows(&self) -> usize {
        self.runner.plan().rows
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Copies the rows into the spare step (made for a new row count),
    /// which becomes the cache's.
    fn reorder(&mut self, rows: &[usize]) -> Result<()> {
        check_reorder(self.rows(), rows)?;
        let mut next = match self.spare.take() {
            Some(s) if s.plan().rows == rows.len() => s,
            _ => self.maker.make(rows.len())?,
        };
        next.copy_rows(&self.runner, rows, self.len)?;
        let old = std::mem::replace(&mut self.runner, next);
        if old.plan().rows == rows.len() {
            self.spare = Some(old);
        }
        Ok(())
    }
}

impl<M: MakeRunner> LanguageModel for StepModel<M> {
    type Cache = StepCache<M>;

    fn config(&self) -> &Gpt2Config {
        &self.config
    }

    fn new_cache(&self, rows: usize) -> Result<Self::Cache> {
        Ok(StepCache {
            maker: self.maker.clone(),
            runner: self.maker.make(rows)?,
            spare: None,
            len: 0,
        })
    }

    async fn forward(
        &self,
        cache: &mut Self::Cache,
        tokens: &[&[u32]],
        last: usize,
    ) -> Result<Logits> {
        let n = check_forward(&self.config, cache.len, cache.rows(), tokens, last)?;
        let (rows, v) = (tokens.len(), self.config.vocab_size);
        let mut data = vec![0f32; rows * last * v];
        for p in 0..n {
            let ids: Vec<u32> = tokens.iter().map(|t| t[p]).collect();
            cache.runner.set_pos((cache.len + p) as u32)?;
            cache.runner.set_ids(&ids)?;
            cache.runner.run()?;
            if p + last >= n {
                let q = p + last - n;
                let logits = cache.runner.logits()?;
                for r in 0..rows {
                    data[(r * last + q) * v..][..v].copy_from_slice(&logits[r * v..][..v]);
                }
            }
        }
        cache.len += n;
        Ok(Logits {
            rows,
            positions: last,
            vocab: v,
            data,
        })
    }

    async fn forward_hidden(
        &self,
        _cache: &mut Self::Cache,
        _tokens: &[&[u32]],
        _last: usize,
        _want: &HiddenRequest<'_>,
    ) -> Result<Hidden> {
        Err(Error::input(
            "the fused decode step keeps no hidden states: strategies that need them \
             (contrastive search, DoLa, the logit lens) run without GPT2_CUDA_STEP=fused",
        ))
    }
}

/// Steps on the CPU reference: the tests run the adapter on it.
pub struct ReferenceMaker {
    pub checkpoint: Gpt2Checkpoint,
    pub config: Gpt2Config,
    /// Attention's span (small ones test many splits).
    pub span: usize,
}

impl MakeRunner for ReferenceMaker {
    type Runner = Reference;

    fn make(&self, rows: usize) -> Result<Reference> {
        let plan =
            Plan::decode(&self.config, rows, self.config.n_positions, false).with_span(self.span);
        Reference::new(&plan, &self.checkpoint)
    }
}

impl StepRunner for Reference {
    fn plan(&self) -> &Plan {
        Reference::plan(self)
    }

    fn set_ids(&mut self, ids: &[u32]) -> Result<()> {
        Reference::set_ids(self, ids);
        Ok(())
    }

    fn set_pos(&mut self, pos: u32) -> Result<()> {
        Reference::set_pos(self, pos);
        Ok(())
    }

    fn run(&mut self) -> Result<()> {
        self.step()
    }

    fn logits(&self) -> Result<Vec<f32>> {
        Ok(self.buf(Buf::Logits).to_vec())
    }

    fn copy_rows(&mut self, from: &Self, rows: &[usize], len: usize) -> Result<()> {
        let (cap, c) = (self.plan().cap, self.plan().config.n_embd);
        for l in 0..self.plan().config.n_layer {
            for buf in [Buf::Keys(l), Buf::Values(l)] {
                let mut dst = self.buf(buf).to_vec();
                let src = from.buf(buf);
                for (i, &r) in rows.iter().enumerate() {
                    let n = len * c;
                    dst[i * cap * c..][..n].copy_from_slice(&src[r * cap * c..][..n]);
                }
                self.set_buf(buf, &dst);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::checkpoint;
    use super::*;
    use crate::backend::cpu::CpuModel;
    use crate::backend::{block_on, Precision};
    use crate::decoding::{self, BeamParams, GenerateOptions};

    fn setup(span: usize) -> (CpuModel, StepModel<ReferenceMaker>) {
        let config = super::super::tests::tiny();
        let cpu = CpuModel::load(&checkpoint(&config, 4), &config, Precision::F32).unwrap();
        let maker = ReferenceMaker {
            checkpoint: checkpoint(&config, 4),
            config: config.clone(),
            span,
        };
        (cpu, StepModel::new(&config, maker))
    }

    fn options(n: usize) -> GenerateOptions {
        GenerateOptions {
            max_new_tokens: n,
            min_new_tokens: n,
            eos_token_id: None,
            forced: Vec::new(),
            whole_rows: false,
        }
    }

    #[test]
    fn a_prompt_pass_gives_the_cpu_backends_logits_of_its_last_positions() {
        let (cpu, steps) = setup(4);
        let tokens: [&[u32]; 2] = [&[5, 9, 33, 2, 71], &[8, 8, 1, 90, 14]];
        let mut a = cpu.new_cache(2).unwrap();
        let mut b = steps.new_cache(2).unwrap();
        for (toks, last) in [(&tokens[..], 3), (&[&[4u32][..], &[6u32][..]][..], 1)] {
            let want = block_on(cpu.forward(&mut a, toks, last)).unwrap();
            let got = block_on(steps.forward(&mut b, toks, last)).unwrap();
            assert_eq!((got.rows, got.positions), (want.rows, want.positions));
            let worst = got
                .data
                .iter()
                .zip(&want.data)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-4, "logits {worst} apart");
        }
        assert_eq!(b.len(), 6);
    }

    #[test]
    fn greedy_and_beam_search_on_steps_give_the_cpu_backends_ids() {
        let (cpu, steps) = setup(4);
        let prompt = [11u32, 42, 7, 90, 3];
        let want = block_on(decoding::greedy(&cpu, &prompt, &options(12), &mut |_| {})).unwrap();
        let got = block_on(decoding::greedy(&steps, &prompt, &options(12), &mut |_| {})).unwrap();
        assert_eq!(got.ids, want.ids, "greedy");
        let params = BeamParams {
            num_beams: 3,
            ..Default::default()
        };
        let beam = |m| {
            block_on(decoding::beam_search(
                m,
                &prompt,
                &options(8),
                &params,
                &mut |_| {},
            ))
            .unwrap()
        };
        let want = beam(&cpu);
        let got = block_on(decoding::beam_search(
            &steps,
            &prompt,
            &options(8),
            &params,
            &mut |_| {},
        ))
        .unwrap();
        assert_eq!(got[0].ids, want[0].ids, "beam search");
        assert!((got[0].score - want[0].score).abs() < 1e-4, "beam scores");
    }

    #[test]
    fn hidden_states_are_refused_with_a_reason() {
        let (_, steps) = setup(256);
        let mut cache = steps.new_cache(1).unwrap();
        let request = HiddenRequest {
            layers: &[1],
            positions: 1,
            heads: &[],
            lens: false,
        };
        let e = block_on(steps.forward_hidden(&mut cache, &[&[1]], 1, &request)).unwrap_err();
        assert!(e.to_string().contains("hidden states"), "{e}");
    }
}
