//! The stages of the sampling chain, their names and their default order.

use crate::{Error, Result};

/// One stage of the sampling chain, as `--samplers` and the page name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Guidance,
    RepetitionPenalty,
    PresenceFrequency,
    Dry,
    NoRepeatNgram,
    Temperature,
    TopH,
    TopNSigma,
    TopK,
    TopP,
    MinP,
    Typical,
    Epsilon,
    Eta,
    Xtc,
    Mirostat,
}

impl Stage {
    /// `transformers`' order for the processors it has (`_get_logits_processor`,
    /// 5.23), the others where llama.cpp places them: presence/frequency with
    /// its penalties, DRY after them, top-nσ before top-k, XTC after the
    /// truncations, mirostat last (it is the draw).
    pub const DEFAULT_ORDER: [Stage; 16] = [
        Stage::Guidance,
        Stage::RepetitionPenalty,
        Stage::PresenceFrequency,
        Stage::Dry,
        Stage::NoRepeatNgram,
        Stage::Temperature,
        Stage::TopH,
        Stage::TopNSigma,
        Stage::TopK,
        Stage::TopP,
        Stage::MinP,
        Stage::Typical,
        Stage::Epsilon,
        Stage::Eta,
        Stage::Xtc,
        Stage::Mirostat,
    ];

    /// The name in `--samplers`, URLs and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Guidance => "guidance",
            Stage::RepetitionPenalty => "repetition_penalty",
            Stage::PresenceFrequency => "presence_frequency",
            Stage::Dry => "dry",
            Stage::NoRepeatNgram => "no_repeat_ngram",
            Stage::Temperature => "temperature",
            Stage::TopH => "top_h",
            Stage::TopNSigma => "top_n_sigma",
            Stage::TopK => "top_k",
            Stage::TopP => "top_p",
            Stage::MinP => "min_p",
            Stage::Typical => "typical_p",
            Stage::Epsilon => "epsilon_cutoff",
            Stage::Eta => "eta_cutoff",
            Stage::Xtc => "xtc",
            Stage::Mirostat => "mirostat",
        }
    }

    /// The stage called `name`, if one is.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::DEFAULT_ORDER.into_iter().find(|s| s.name() == name)
    }

    /// Parses a comma-separated order such as `top_k,top_p,temperature`.
    pub fn parse_order(list: &str) -> Result<Vec<Stage>> {
        let mut order = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let stage = Stage::parse(name).ok_or_else(|| {
                Error::input(format!(
                    "--samplers: unknown sampler {name:?}; the samplers are {}",
                    Stage::names()
                ))
            })?;
            if order.contains(&stage) {
                return Err(Error::input(format!("--samplers lists {name} twice")));
            }
            order.push(stage);
        }
        Ok(order)
    }

    /// Every stage's name, comma-separated, in the default order.
    pub fn names() -> String {
        Stage::DEFAULT_ORDER.map(Stage::name).join(", ")
    }

    /// A warper (transformers' word): it shapes the distribution sampled
    /// from, so greedy decoding skips it (temperature and every cut but the
    /// n-gram ban); the others change the logits whatever the strategy.
    pub fn is_warper(self) -> bool {
        match self {
            Stage::NoRepeatNgram => false,
            Stage::Temperature => true,
            stage => stage.cuts(),
        }
    }

    /// Whether it removes tokens (rather than shifting or scaling logits).
    pub fn cuts(self) -> bool {
        !matches!(
            self,
            Stage::Guidance
                | Stage::RepetitionPenalty
                | Stage::PresenceFrequency
                | Stage::Dry
                | Stage::Temperature
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_orders_are_checked() {
        for stage in Stage::DEFAULT_ORDER {
            assert_eq!(Stage::parse(stage.name()), Some(stage));
        }
        assert_eq!(
            Stage::parse_order("top_k, temperature").unwrap(),
            vec![Stage::TopK, Stage::Temperature]
        );
        let twice = Stage::parse_order("top_k,top_k").unwrap_err().to_string();
        assert!(twice.contains("twice"), "{twice}");
        let unknown = Stage::parse_order("top_q").unwrap_err().to_string();
        assert!(
            unknown.contains("\"top_q\"") && unknown.contains("top_k"),
            "{unknown}"
        );
    }
}
