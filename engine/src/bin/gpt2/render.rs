//! What `gpt2 generate` shows people: the text streamed as it is chosen, the
//! returned sequences, one line per decoding step, and the speed.

use std::io::Write;
use std::time::Instant;

use engine::decoding::{RunRecord, Step};
use engine::tokenizer::{IncrementalDecoder, Tokenizer};
use engine::{Error, Result};
use serde_json::Value;

use crate::args::{GenerateArgs, Strategy};

/// Prints the text of a single sequence as its tokens are chosen.
pub struct Stream<'a> {
    tokenizer: &'a Tokenizer,
    decoder: IncrementalDecoder,
    enabled: bool,
    eos: Option<u32>,
    ended: bool,
    pub first_token_at: Option<Instant>,
    pub error: Option<Error>,
}

impl<'a> Stream<'a> {
    pub fn new(tokenizer: &'a Tokenizer, enabled: bool, eos: Option<u32>) -> Self {
        Stream {
            tokenizer,
            decoder: IncrementalDecoder::new(),
            enabled,
            eos,
            ended: false,
            first_token_at: None,
            error: None,
        }
    }

    pub fn print(&self, text: &str) {
        if self.enabled {
            print!("{text}");
            let _ = std::io::stdout().flush();
        }
    }

    pub fn step(&mut self, step: &Step) {
        self.first_token_at.get_or_insert_with(Instant::now);
        let ids: Vec<u32> = match step {
            Step::Token { row: 0, chosen, .. } | Step::Contrastive { chosen, .. } => vec![*chosen],
            Step::Speculative { drafted, added, .. } => drafted
                .iter()
                .take_while(|d| d.accepted)
                .map(|d| d.id)
                .chain([*added])
                .collect(),
            _ => vec![],
        };
        for id in ids {
            if self.ended {
                return;
            }
            match self.decoder.push(self.tokenizer, id) {
                Ok(text) => self.print(&text),
                Err(e) => self.error = Some(e),
            }
            self.ended = Some(id) == self.eos;
        }
    }

    pub fn finish(&mut self) {
        let rest = std::mem::take(&mut self.decoder).finish();
        self.print(&rest);
    }
}

pub fn print_for_people(
    args: &GenerateArgs,
    record: &RunRecord,
    steps: &[Step],
    tokenizer: &Tokenizer,
) -> Result<()> {
    let (sequences, stats) = (&record.sequences, &record.stats);
    let streamed = sequences.len() == 1 && args.strategy != Strategy::Beam;
    if streamed {
        println!();
    } else {
        println!();
        for (i, s) in sequences.iter().enumerate() {
            let group = s.group.map(|g| format!(", group {g}")).unwrap_or_default();
            println!("--- sequence {} (score {:.4}{group})", i + 1, s.score);
            println!("{}", s.text);
        }
    }
    for (i, step) in steps.iter().enumerate() {
        println!("step {i}: {}", describe(step, tokenizer)?);
    }
    let rate = |k: &str| stats.get(k).and_then(Value::as_f64).unwrap_or_default();
    let mut line = format!(
        "{} tokens in {:.2} s: prefill {:.0} ms, decode {:.1} tokens/s",
        stats.get("new_tokens").cloned().unwrap_or_default(),
        rate("seconds"),
        1000.0 * rate("prefill_seconds"),
        rate("decode_tokens_per_second")
    );
    if let Some(a) = stats.get("acceptance_rate") {
        line += &format!(", acceptance rate {:.2}", a.as_f64().unwrap_or_default());
    }
    eprintln!("{line}");
    Ok(())
}

/// One line per step for people.
fn describe(step: &Step, tok: &Tokenizer) -> Result<String> {
    let t = |id: u32| tok.token_text(id).map(|s| format!("{s:?}"));
    Ok(match step {
        Step::Token {
            row,
            chosen,
            candidates,
            ..
        } => {
            let mut s = format!("row {row} chose {} |", t(*chosen)?);
            for c in candidates.iter().take(5) {
                let cut = c
                    .cut
                    .map(|c| format!(" cut by {}", c.name()))
                    .unwrap_or_default();
                s += &format!(" {} {:.3}→{:.3}{cut};", t(c.id)?, c.raw_prob, c.prob);
            }
            s
        }
        Step::Beams { beams, .. } => {
            let grouped = beams.iter().any(|b| b.group > 0);
            let mut s = String::from("beams |");
            for (i, b) in beams.iter().enumerate() {
                if grouped && (i == 0 || beams[i - 1].group != b.group) {
                    s += &format!(" group {}:", b.group);
                }
                let text = tok.decode(&b.ids)?;
                s += &format!(
                    " {text:?} {:.3}{};",
                    b.logprob,
                    if b.finished { " (done)" } else { "" }
                );
            }
            s
        }
        Step::Speculative {
            drafted,
            added,
            resampled,
        } => {
            let mut s = String::from("drafted |");
            for d in drafted {
                s += &format!(
                    " {} p={:.3} q={:.3} {};",
                    t(d.id)?,
                    d.p,
                    d.q,
                    if d.accepted { "accepted" } else { "rejected" }
                );
            }
            s + &format!(
                " target added {}{}",
                t(*added)?,
                if *resampled { " (resampled)" } else { "" }
            )
        }
        Step::Contrastive { chosen, candidates } => {
            let mut s = format!("chose {} |", t(*chosen)?);
            for c in candidates.iter().take(5) {
                s += &format!(
                    " {} e={:.2} a={:.2} s={:.2}{};",
                    t(c.id)?,
                    c.expert_logprob,
                    c.amateur_logprob,
                    c.score,
                    if c.plausible { "" } else { " implausible" }
                );
            }
            s
        }
        Step::ContrastiveSearch { chosen, candidates } => {
            let mut s = format!("chose {} |", t(*chosen)?);
            for c in candidates {
                s += &format!(
                    " {} p={:.3} penalty={:.3} s={:.3};",
                    t(c.id)?,
                    c.prob,
                    c.penalty,
                    c.score
                );
            }
            s
        }
        Step::Dola {
            chosen,
            premature_layer,
            candidates,
            ..
        } => {
            let mut s = format!("layer {premature_layer}, chose {} |", t(*chosen)?);
            for c in candidates.iter().take(5) {
                s += &format!(
                    " {} final={:.2} premature={:.2} s={:.2}{};",
                    t(c.id)?,
                    c.final_logprob,
                    c.premature_logprob,
                    c.score,
                    if c.plausible { "" } else { " implausible" }
                );
            }
            s
        }
    })
}
