//! Bounds on the sizes a user controls, checked before anything large is
//! allocated: rows decoded side by side (beams, returned sequences), tokens
//! drafted per round, and the memory a run's KV cache and logits take.
//!
//! The strategies check these at their entry, so the command line, its
//! benchmark and the page refuse the same requests with the same messages.

use crate::config::Gpt2Config;
use crate::decoding::GenerateOptions;
use crate::{Error, Result};

/// Most rows a run decodes (`--num-beams`, `--num-return-sequences`). Every
/// step ranks each row over the whole vocabulary (1024 × 50257 scores for
/// GPT-2 already), and each row holds a KV cache of its own.
pub const MAX_ROWS: usize = 1024;

/// Most tokens drafted per speculative round (`--gamma`). A round verifies
/// γ + 1 positions in one target pass and keeps γ vocabulary-wide draft
/// distributions; past a few dozen nearly every draft is rejected anyway.
pub const MAX_GAMMA: usize = 64;

/// Bytes a run may take where the free memory cannot be read: on wasm32
/// (a page's memory is at most 4 GiB, and the model lives there too).
pub const WASM_MEMORY_CAP: u64 = 1 << 30;

/// Bytes a run may take on native systems other than Linux (where
/// `MemAvailable` in `/proc/meminfo` says what is free).
pub const NATIVE_MEMORY_CAP: u64 = 8 << 30;

/// Copies of a row's logits alive during a step: the logits, their
/// log-softmax or processed probabilities, and beam search's scores.
const LOGIT_COPIES: u64 = 4;

/// Checks a count against `1..=max`, naming `flag` and why the limit exists.
pub fn check_count(flag: &str, value: usize, max: usize, why: &str) -> Result<()> {
    if value == 0 {
        return Err(Error::input(format!("{flag} must be at least 1, got 0")));
    }
    if value > max {
        return Err(Error::input(format!(
            "{flag} is {value}, more than the limit of {max}: {why}"
        )));
    }
    Ok(())
}

/// Checks a number of rows (beams or returned sequences) against [`MAX_ROWS`].
pub fn check_rows(flag: &str, rows: usize) -> Result<()> {
    check_count(
        flag,
        rows,
        MAX_ROWS,
        "each row is decoded over the whole vocabulary at every step and holds its own KV cache",
    )
}

/// Checks speculative decoding's γ against [`MAX_GAMMA`].
pub fn check_gamma(gamma: usize) -> Result<()> {
    check_count(
        "--gamma",
        gamma,
        MAX_GAMMA,
        "a round keeps γ vocabulary-wide draft distributions, and longer drafts are \
         almost all rejected",
    )
}

/// What one model holds at once during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSize {
    /// Sequences decoded side by side (cache rows).
    pub rows: usize,
    /// Positions each row's cache reaches (prompt and new tokens).
    pub positions: usize,
    /// Rows of logits a forward pass returns (rows × positions asked for).
    pub logit_rows: usize,
}

impl RunSize {
    /// `rows` sequences over the prompt and up to `options.max_new_tokens`
    /// new tokens, plus `extra` positions (speculative drafts), within the
    /// model's context; one row of logits per sequence.
    pub fn generate(
        config: &Gpt2Config,
        prompt_len: usize,
        options: &GenerateOptions,
        rows: usize,
        extra: usize,
    ) -> Self {
        RunSize {
            rows,
            positions: options.positions(prompt_len, config.n_positions, extra),
            logit_rows: rows,
        }
    }

    /// Bytes of the KV cache, `layers × 2 × rows × positions × n_embd × 4`
    /// (keys and values in f32), plus the logits ([`LOGIT_COPIES`] ×
    /// `logit_rows × vocab_size × 4`); `None` when that overflows.
    pub fn bytes(&self, config: &Gpt2Config) -> Option<u64> {
        let n = |v: usize| u64::try_from(v).ok();
        let cache = [n(config.n_layer)?, 2, n(self.rows)?, n(self.positions)?]
            .into_iter()
            .try_fold(n(config.n_embd)?.checked_mul(4)?, u64::checked_mul)?;
        let logits = n(self.logit_rows)?
            .checked_mul(n(config.vocab_size)?)?
            .checked_mul(4 * LOGIT_COPIES)?;
        cache.checked_add(logits)
    }
}

/// The bytes a run may take, and where that number comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    pub bytes: u64,
    pub source: &'static str,
}

impl MemoryBudget {
    /// What this machine can give now: `MemAvailable` on Linux, else the
    /// documented caps ([`NATIVE_MEMORY_CAP`], [`WASM_MEMORY_CAP`]).
    pub fn current() -> Self {
        if cfg!(target_arch = "wasm32") {
            return MemoryBudget {
                bytes: WASM_MEMORY_CAP,
                source: "the page's limit (wasm32 memory is at most 4 GiB)",
            };
        }
        if let Some(bytes) = mem_available() {
            return MemoryBudget {
                bytes,
                source: "available (MemAvailable in /proc/meminfo)",
            };
        }
        MemoryBudget {
            bytes: NATIVE_MEMORY_CAP,
            source: "the fixed limit where free memory cannot be read",
        }
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes (Linux only).
fn mem_available() -> Option<u64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Checks that a run of `size` in every model of `models` fits `budget`;
/// the message says what it needs, the limit and what to lower (`hint`).
pub fn check_memory_within(
    models: &[&Gpt2Config],
    size: RunSize,
    budget: MemoryBudget,
    hint: &str,
) -> Result<()> {
    let parts: Vec<(&Gpt2Config, RunSize)> = models.iter().map(|&c| (c, size)).collect();
    check_parts_within(&parts, budget, hint)
}

/// [`check_memory_within`] for caches of different sizes held together
/// (classifier-free guidance's unconditional pass beside the sampled rows).
pub fn check_parts_within(
    parts: &[(&Gpt2Config, RunSize)],
    budget: MemoryBudget,
    hint: &str,
) -> Result<()> {
    let need = parts
        .iter()
        .try_fold(0u64, |sum, (c, size)| sum.checked_add(size.bytes(c)?));
    let mut sizes: Vec<String> = parts
        .iter()
        .map(|(_, s)| format!("{} rows over {} positions", s.rows, s.positions))
        .collect();
    sizes.dedup();
    match need {
        Some(need) if need <= budget.bytes => Ok(()),
        need => Err(Error::input(format!(
            "{} need {} for the KV cache (layers × 2 × rows × positions × n_embd × 4 bytes) \
             and the logits, more than the {} {}: {hint}",
            sizes.join(" and "),
            need.map_or("more than 16 EiB".to_string(), gib),
            gib(budget.bytes),
            budget.source,
        ))),
    }
}

/// [`check_memory_within`] the memory this machine can give now: the one
/// check every strategy makes before it allocates its caches.
pub fn check_memory(models: &[&Gpt2Config], size: RunSize, hint: &str) -> Result<()> {
    check_memory_within(models, size, MemoryBudget::current(), hint)
}

/// [`check_parts_within`] the memory this machine can give now.
pub fn check_parts(parts: &[(&Gpt2Config, RunSize)], hint: &str) -> Result<()> {
    check_parts_within(parts, MemoryBudget::current(), hint)
}

/// Bytes in GiB, for messages.
fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_bytes_follow_the_formula_and_overflow_to_none() {
        let config = Gpt2Config::new(12, 12, 768, 1024);
        let size = RunSize {
            rows: 4,
            positions: 100,
            logit_rows: 4,
        };
        let cache = 12 * 2 * 4 * 100 * 768 * 4;
        let logits = 4 * 50257 * 4 * LOGIT_COPIES;
        assert_eq!(size.bytes(&config), Some(cache + logits));
        let huge = RunSize {
            rows: usize::MAX,
            ..size
        };
        if cfg!(target_pointer_width = "64") {
            assert_eq!(huge.bytes(&config), None);
        } else {
            // 32-bit sizes cannot overflow the u64 sum: it is just far too large.
            assert!(huge.bytes(&config).is_some_and(|b| b > 1 << 40));
        }
    }

    #[test]
    fn runs_beyond_the_budget_are_refused_with_the_numbers() {
        let config = Gpt2Config::new(12, 12, 768, 1024);
        let size = RunSize {
            rows: 1000,
            positions: 1024,
            logit_rows: 1000,
        };
        let budget = MemoryBudget {
            bytes: 1 << 30,
            source: "in the test",
        };
        let err = check_memory_within(&[&config], size, budget, "use fewer beams")
            .unwrap_err()
            .to_string();
        assert!(err.contains("1000 rows over 1024 positions"), "{err}");
        assert!(
            err.contains("1.00 GiB in the test: use fewer beams"),
            "{err}"
        );
        let one = RunSize {
            rows: 1,
            positions: 1024,
            logit_rows: 1,
        };
        assert!(check_memory_within(&[&config, &config], one, budget, "").is_ok());
        // Caches of two sizes (guidance's unconditional pass) add up.
        let half = budget.bytes / 2 + 1;
        let rows = |r: usize| RunSize {
            rows: r,
            positions: 1,
            logit_rows: 0,
        };
        let per_row = rows(1).bytes(&config).unwrap();
        let (a, b) = (rows((half / per_row) as usize + 1), rows(1));
        assert!(check_parts_within(&[(&config, b), (&config, b)], budget, "").is_ok());
        let err = check_parts_within(&[(&config, a), (&config, a)], budget, "use less")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("{} rows over 1 positions need", a.rows)),
            "{err}"
        );
        assert!(
            !err.contains("positions and "),
            "equal sizes are named once: {err}"
        );
        let err = check_parts_within(&[(&config, a), (&config, rows(a.rows + 1))], budget, "")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(" and {} rows over 1 positions", a.rows + 1)),
            "{err}"
        );
    }

    #[test]
    fn counts_name_the_flag_and_the_limit() {
        let err = check_rows("--num-beams", 100_000).unwrap_err().to_string();
        assert!(
            err.contains("--num-beams is 100000, more than the limit of 1024"),
            "{err}"
        );
        assert!(check_gamma(0).is_err() && check_gamma(MAX_GAMMA).is_ok());
    }
}
