//! DRY, "Don't Repeat Yourself" (text-generation-webui PR #5677,
//! `modules/sampler_hijack.py`'s `DRYLogitsProcessor`; llama.cpp's DRY
//! sampler): a token that would extend a sequence repeating earlier context
//! is penalised by `multiplier · base^(length − allowed_length)` when the
//! repeated sequence has at least `allowed_length` tokens. Sequence breakers
//! (token ids) end a match; only the last `penalty_last_n` tokens of the
//! context are searched (0: all of it); matches are capped at 50 tokens.

use std::collections::HashMap;

use super::Dry;
use crate::tokenizer::Tokenizer;
use crate::Result;

/// Longest match followed back from a candidate position.
const MAX_MATCH: usize = 50;

pub(super) fn dry(x: &mut [f32], context: &[u32], params: &Dry) {
    let ids = match params.penalty_last_n {
        0 => context,
        n => &context[context.len().saturating_sub(n)..],
    };
    let Some((&last, earlier)) = ids.split_last() else {
        return;
    };
    let breaks = |id: u32| params.breakers.contains(&id);
    if breaks(last) {
        return;
    }
    let mut lengths: HashMap<u32, usize> = HashMap::new();
    for i in (0..earlier.len()).filter(|&i| earlier[i] == last) {
        let next = ids[i + 1];
        if breaks(next) {
            continue;
        }
        let mut length = 1;
        while length < MAX_MATCH {
            let Some(j) = i.checked_sub(length) else {
                break;
            };
            let previous = ids[ids.len() - 1 - length];
            if ids[j] != previous || breaks(previous) {
                break;
            }
            length += 1;
        }
        let entry = lengths.entry(next).or_insert(0);
        *entry = (*entry).max(length);
    }
    for (id, length) in lengths {
        if length >= params.allowed_length {
            if let Some(v) = x.get_mut(id as usize) {
                let exponent = (length - params.allowed_length) as i32;
                let penalty = params.multiplier as f64 * (params.base as f64).powi(exponent);
                *v -= penalty as f32;
            }
        }
    }
}

impl Dry {
    /// text-generation-webui's default sequence breakers.
    pub const DEFAULT_BREAKERS: [&'static str; 4] = ["\n", ":", "\"", "*"];
    /// text-generation-webui's default base.
    pub const DEFAULT_BASE: f32 = 1.75;
    /// text-generation-webui's default allowed length.
    pub const DEFAULT_ALLOWED_LENGTH: usize = 2;

    /// The sequence breakers as token ids: each string's last token when it
    /// follows a letter (text-generation-webui encodes `"a" + breaker`, so
    /// that a breaker is tokenized as it reads inside text).
    pub fn breaker_ids<S: AsRef<str>>(strings: &[S], tokenizer: &Tokenizer) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        for s in strings {
            if let Some(&id) = tokenizer.encode(&format!("a{}", s.as_ref()))?.last() {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_breakers_are_gpt2s_newline_colon_quote_and_star() {
        let tokenizer =
            Tokenizer::from_bytes(include_bytes!("../../../assets/tokenizer.json")).unwrap();
        let ids = Dry::breaker_ids(&Dry::DEFAULT_BREAKERS, &tokenizer).unwrap();
        assert_eq!(ids, [198, 25, 1, 9]);
        // A breaker of several tokens counts by its last one, as in
        // text-generation-webui.
        let ids = Dry::breaker_ids(&["\n\n", " the"], &tokenizer).unwrap();
        assert_eq!(
            ids,
            [*tokenizer.encode("a\n\n").unwrap().last().unwrap(), 262]
        );
    }
}
