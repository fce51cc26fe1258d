//! GPT-2's byte-level BPE tokenizer, loaded from a Hugging Face `tokenizer.json`.
//!
//! Encoding goes through the `tokenizers` crate (the same pipeline as
//! `transformers`' GPT-2 tokenizer: `<|endoftext|>` in the text is the special
//! token 50256, nothing is added around the text). Decoding is done here, from a
//! table of each token's raw bytes, so that single tokens and streams of tokens
//! can be turned into text: bytes that are not valid UTF-8 become U+FFFD exactly
//! as `transformers` (and [`String::from_utf8_lossy`]) replace them.

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use tokenizers::DecoderWrapper;

use crate::error::{Error, Result};

/// The end-of-text token, GPT-2's only special token.
const END_OF_TEXT: &str = "<|endoftext|>";

/// GPT-2's byte-level BPE tokenizer.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// The raw bytes of every token, indexed by id.
    bytes: Vec<Vec<u8>>,
    eos: Option<u32>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.bytes.len())
            .field("eos_token_id", &self.eos)
            .finish()
    }
}

impl Tokenizer {
    /// Parses the contents of a `tokenizer.json`.
    pub fn from_bytes(json: &[u8]) -> Result<Self> {
        Self::parse(json, "tokenizer.json")
    }

    /// Reads and parses a `tokenizer.json` file (a missing file is an input error).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_file(path: &Path) -> Result<Self> {
        let json = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::input(format!("{}: tokenizer file not found", path.display()))
            }
            _ => Error::io(path, e),
        })?;
        Self::parse(&json, &path.display().to_string())
    }

    fn parse(json: &[u8], what: &str) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_bytes(json)
            .map_err(|e| Error::input(format!("{what} is not a valid tokenizer file: {e}")))?;
        if !matches!(inner.get_decoder(), Some(DecoderWrapper::ByteLevel(_))) {
            return Err(Error::input(format!(
                "{what} is not a byte-level BPE tokenizer like GPT-2's (its decoder is not ByteLevel)"
            )));
        }
        let vocab = inner.get_vocab(true);
        let size = vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0);
        let mut bytes = vec![None; size];
        let char_bytes = char_to_byte();
        for (token, id) in vocab {
            bytes[id as usize] = Some(unmap_bytes(&token, &char_bytes));
        }
        let bytes = bytes
            .into_iter()
            .enumerate()
            .map(|(id, b)| {
                b.ok_or_else(|| Error::input(format!("{what} has no token with id {id}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let eos = inner.token_to_id(END_OF_TEXT);
        Ok(Tokenizer { inner, bytes, eos })
    }

    /// Splits text into token ids; adds no BOS/EOS, but `<|endoftext|>` in the text is id 50256.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| Error::input(format!("cannot tokenize the text: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Turns token ids back into text (invalid UTF-8 becomes U+FFFD, as in `transformers`).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend_from_slice(self.bytes_of(id)?);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The text one token stands for, e.g. `" soon"` (a partial UTF-8 character shows as U+FFFD).
    pub fn token_text(&self, id: u32) -> Result<String> {
        Ok(String::from_utf8_lossy(self.bytes_of(id)?).into_owned())
    }

    /// The raw bytes of one token, with the byte-level mapping undone.
    pub fn token_bytes(&self, id: u32) -> Result<Vec<u8>> {
        Ok(self.bytes_of(id)?.to_vec())
    }

    /// The number of token ids, special tokens included (50257 for GPT-2).
    pub fn vocab_size(&self) -> usize {
        self.bytes.len()
    }

    /// The id of `<|endoftext|>`, if the vocabulary has it.
    pub fn eos_token_id(&self) -> Option<u32> {
        self.eos
    }

    fn bytes_of(&self, id: u32) -> Result<&[u8]> {
        self.bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .ok_or_else(|| {
                Error::input(format!(
                    "token id {id} is outside the vocabulary (0..{})",
                    self.bytes.len()
                ))
            })
    }
}

/// Streaming detokenizer: feed ids one by one, get the text that is complete so far.
#[derive(Debug, Default, Clone)]
pub struct IncrementalDecoder {
    /// Bytes of a UTF-8 character whose end has not arrived yet.
    pending: Vec<u8>,
}

impl IncrementalDecoder {
    /// A decoder with nothing held back.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one token and returns the text it completes; an unfinished UTF-8 character is held back.
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> Result<String> {
        self.pending.extend_from_slice(tokenizer.bytes_of(id)?);
        let mut out = String::new();
        let mut rest = self.pending.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    out.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // `valid_up_to` marks a prefix that is valid UTF-8.
                    out.push_str(std::str::from_utf8(valid).expect("valid prefix"));
                    match e.error_len() {
                        // An invalid sequence: replace it, as `from_utf8_lossy` does.
                        Some(len) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[len..];
                        }
                        // A character cut short by the end of the bytes: wait for more.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        Ok(out)
    }

    /// Flushes what is held back (an unfinished character becomes U+FFFD).
    pub fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}

/// Inverts GPT-2's map from bytes to printable characters (`bytes_to_unicode` in
/// OpenAI's `encoder.py`): printable Latin-1 stands for itself, the other bytes
/// are shifted to U+0100 and up, in order.
fn char_to_byte() -> [Option<u8>; 324] {
    let mut table = [None; 324];
    let mut shifted = 256;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        if printable {
            table[b as usize] = Some(b);
        } else {
            table[shifted] = Some(b);
            shifted += 1;
        }
    }
    table
}

/// A token's raw bytes; a token with a character outside the byte map (an added
/// token) stands for its own UTF-8, as in the `tokenizers` ByteLevel decoder.
fn unmap_bytes(token: &str, char_bytes: &[Option<u8>; 324]) -> Vec<u8> {
    token
        .chars()
        .map(|c| char_bytes.get(c as usize).copied().flatten())
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_else(|| token.as_bytes().to_vec())
}
