//! The decoding methods by name, without their parameters: what a menu, a
//! flag or a URL names.

/// A decoding method, without its parameters: what a menu or a flag names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Method {
    /// The most likely token at every step.
    Greedy,
    /// Beam search, as in transformers.
    Beam,
    /// Multinomial sampling after the logit processors.
    Sample,
    /// Contrastive decoding with an amateur model (Li et al. 2022).
    Contrastive,
    /// Speculative decoding with a draft model or prompt lookup (Leviathan et al. 2022).
    Speculative,
    /// Contrastive search: likely and unlike the context (Su et al. 2022).
    ContrastiveSearch,
    /// DoLa: contrast the last layer with an early one (Chuang et al. 2023).
    Dola,
}

/// What the second model of a two-model method is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondModel {
    /// Contrastive decoding's smaller model, whose log-probabilities are subtracted.
    Amateur,
    /// Speculative decoding's smaller model, which proposes tokens.
    Draft,
}

impl SecondModel {
    /// "amateur" or "draft", as the flags and the URL name it.
    pub fn name(self) -> &'static str {
        match self {
            SecondModel::Amateur => "amateur",
            SecondModel::Draft => "draft",
        }
    }
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::Greedy,
        Method::Beam,
        Method::Sample,
        Method::Contrastive,
        Method::Speculative,
        Method::ContrastiveSearch,
        Method::Dola,
    ];

    /// The name on the command line and in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Method::Greedy => "greedy",
            Method::Beam => "beam",
            Method::Sample => "sample",
            Method::Contrastive => "contrastive",
            Method::Speculative => "speculative",
            Method::ContrastiveSearch => "contrastive-search",
            Method::Dola => "dola",
        }
    }

    /// The name for people (the page's picker).
    pub fn label(self) -> &'static str {
        match self {
            Method::Greedy => "Greedy",
            Method::Beam => "Beam search",
            Method::Sample => "Sampling",
            Method::Contrastive => "Contrastive",
            Method::Speculative => "Speculative",
            Method::ContrastiveSearch => "Contrastive search",
            Method::Dola => "DoLa",
        }
    }

    /// Whether temperature, top-k, top-p and min-p shape its choices.
    pub fn uses_sampling(self) -> bool {
        matches!(self, Method::Sample | Method::Speculative)
    }

    /// The method called `name`, if one is.
    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The second model the method can take, if any (speculative decoding
    /// needs none with prompt lookup: see [`Strategy::second_model`]).
    pub fn second_model(self) -> Option<SecondModel> {
        match self {
            Method::Contrastive => Some(SecondModel::Amateur),
            Method::Speculative => Some(SecondModel::Draft),
            _ => None,
        }
    }
}
