//! What the benchmarks of the command line (`gpt2 bench`) and the page
//! (`?bench=1`) share: the prompt they time, and the median of their runs.

use crate::tokenizer::Tokenizer;
use crate::{Error, Result};

/// The benchmarks' prompt text, repeated to the length asked for.
pub const PROMPT_TEXT: &str = "The playground shows how a language model picks its words, one \
    token at a time, and how each decoding method changes the text it writes. ";

/// [`PROMPT_TEXT`] repeated and encoded, cut at `len` tokens.
pub fn prompt_ids(tokenizer: &Tokenizer, len: usize) -> Result<Vec<u32>> {
    let once = tokenizer.encode(PROMPT_TEXT)?;
    if once.is_empty() {
        return Err(Error::input("the tokenizer gives no tokens for the prompt"));
    }
    let times = len.div_ceil(once.len());
    let mut ids = tokenizer.encode(&PROMPT_TEXT.repeat(times))?;
    ids.truncate(len);
    Ok(ids)
}

/// The median, or `None` of nothing (the mean of the middle two for an even count).
pub fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(xs[n / 2]),
        _ => Some((xs[n / 2 - 1] + xs[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_has_the_length_asked_for() {
        let t = Tokenizer::from_bytes(include_bytes!("../assets/tokenizer.json")).unwrap();
        for len in [1, 32, 100] {
            assert_eq!(prompt_ids(&t, len).unwrap().len(), len);
        }
        let text = t.decode(&prompt_ids(&t, 32).unwrap()).unwrap();
        assert!(text.starts_with("The playground shows"), "{text}");
    }

    #[test]
    fn the_median_of_odd_even_and_no_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
    }
}
