"""Beam-search fixtures from Hugging Face `transformers`, for the engine's
`decoding::beam_search` (test: `engine/tests/beam_matches_transformers.rs`).

The seeded random checkpoints `tiny` and `odd` are those of
`tests/golden/checkpoints.py` (loaded by `transformers_runs.py`, shared with the
other fixture scripts), `transformers` runs `model.generate(..., num_beams=K, ...)` on them
for each setting below, and `tests/fixtures/beam.json` records the prompt ids,
the setting, and every returned sequence's new ids and `sequences_scores`.

Run from the repository root (pinned: torch 2.15, transformers 5.23.0):

    python3 -m venv ../venv && ../venv/bin/pip install 'torch==2.15.*' 'transformers==5.23.0'
    ../venv/bin/python tests/golden/make_beam_fixtures.py

With random weights end-of-text is rare. Prompts that make it likely were found
by scanning next-token ranks over the vocabulary: on `tiny`, end-of-text is the
most likely token after " refuses" alone and the second most likely after
"The waiter refuses"; on `odd`, it is the most likely token after
" Murdoch<|endoftext|>" (ids [30370, 50256]). The cases with those prompts
finish hypotheses with end-of-text; the script prints, for each case, how many
returned sequences end with it. Even so, end-of-text finishes too few
hypotheses for `early_stopping` True, False and "never" to differ, so the last
cases make a frequent token the end token (`eos_token_id`, padding stays 50256).
"""

import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transformers_runs import (  # noqa: E402
    BEAM_DEFAULTS, EOS, cut_after, describe_beams, generate, run_cases, write_fixture,
)

assert transformers.__version__ == "5.23.0", transformers.__version__
assert torch.__version__.startswith("2.15."), torch.__version__

# (checkpoint, prompt, settings). End-of-text is always the padding; a few cases
# pick another end token. Settings left out take transformers' defaults:
# length_penalty 1.0, early_stopping False, num_return_sequences 1, no n-gram
# rule, min_new_tokens 0; end-of-text is 50256 unless eos_token_id says otherwise.
CASES = [
    ("tiny", "I have a dream", dict(num_beams=2, max_new_tokens=12)),
    ("tiny", "Hello, world!", dict(num_beams=4, length_penalty=0.5, early_stopping=True, num_return_sequences=3, max_new_tokens=10)),
    ("tiny", "See you", dict(num_beams=5, length_penalty=2.0, early_stopping="never", num_return_sequences=3, no_repeat_ngram_size=2, max_new_tokens=12)),
    ("tiny", "The waiter refuses", dict(num_beams=4, num_return_sequences=3, max_new_tokens=8)),
    ("tiny", " refuses", dict(num_beams=2, early_stopping=True, num_return_sequences=2, max_new_tokens=10)),
    ("tiny", " refuses", dict(num_beams=3, length_penalty=2.0, num_return_sequences=3, max_new_tokens=10)),
    ("tiny", " refuses", dict(num_beams=4, early_stopping="never", num_return_sequences=3, no_repeat_ngram_size=2, max_new_tokens=10)),
    ("tiny", " refuses", dict(num_beams=4, early_stopping=True, num_return_sequences=3, no_repeat_ngram_size=3, max_new_tokens=10)),
    ("tiny", " refuses", dict(num_beams=2, length_penalty=-1.0, max_new_tokens=10)),
    ("tiny", " refuses", dict(num_beams=5, length_penalty=0.5, early_stopping="never", num_return_sequences=3, no_repeat_ngram_size=2, max_new_tokens=10)),
    ("tiny", " refuses", dict(num_beams=4, num_return_sequences=3, min_new_tokens=3, max_new_tokens=8)),
    ("tiny", "<|endoftext|>The quick brown fox", dict(num_beams=1, max_new_tokens=10)),
    ("odd", "In 1984 the number was 1234567, and then", dict(num_beams=4, no_repeat_ngram_size=3, max_new_tokens=16)),
    ("odd", "See you", dict(num_beams=4, num_return_sequences=3, min_new_tokens=5, max_new_tokens=8)),
    ("odd", " Murdoch<|endoftext|>", dict(num_beams=4, early_stopping=True, num_return_sequences=3, max_new_tokens=10)),
    ("odd", " Murdoch<|endoftext|>", dict(num_beams=5, length_penalty=2.0, early_stopping="never", num_return_sequences=3, max_new_tokens=8)),
    ("odd", " Murdoch<|endoftext|>", dict(num_beams=2, length_penalty=-1.0, max_new_tokens=10)),
    ("odd", " Murdoch<|endoftext|>", dict(num_beams=4, num_return_sequences=3, no_repeat_ngram_size=2, max_new_tokens=10)),
    ("odd", "Hello, world!", dict(num_beams=1, max_new_tokens=12)),
    # A frequent token as end-of-text finishes many hypotheses early, so the
    # early_stopping modes give different results (found by running the engine
    # over prompts, tokens and settings, then confirmed here).
    ("tiny", "Hello, world!", dict(num_beams=2, early_stopping=False, num_return_sequences=2, max_new_tokens=10, eos_token_id=35617)),
    ("tiny", "Hello, world!", dict(num_beams=2, early_stopping="never", num_return_sequences=2, max_new_tokens=10, eos_token_id=35617)),
    ("tiny", "The waiter refuses", dict(num_beams=3, length_penalty=2.0, early_stopping=False, num_return_sequences=3, max_new_tokens=10, eos_token_id=3969)),
    ("tiny", "The waiter refuses", dict(num_beams=3, length_penalty=2.0, early_stopping=True, num_return_sequences=3, max_new_tokens=10, eos_token_id=3969)),
    ("odd", " Murdoch<|endoftext|>", dict(num_beams=2, early_stopping=False, num_return_sequences=2, max_new_tokens=10, eos_token_id=6546)),
    ("odd", " Murdoch<|endoftext|>", dict(num_beams=2, early_stopping="never", num_return_sequences=2, max_new_tokens=10, eos_token_id=6546)),
    ("odd", "See you", dict(num_beams=3, early_stopping=True, num_return_sequences=3, max_new_tokens=10, eos_token_id=1311)),
    ("odd", "See you", dict(num_beams=3, early_stopping=False, num_return_sequences=3, max_new_tokens=10, eos_token_id=1311)),
]


def beam_case(model, prompt_ids, settings):
    settings = {**BEAM_DEFAULTS, **settings}
    kwargs = dict(settings)
    if kwargs["no_repeat_ngram_size"] is None:
        del kwargs["no_repeat_ngram_size"]
    if kwargs["num_beams"] == 1:
        # Greedy search in transformers: the beam options do not apply.
        del kwargs["length_penalty"], kwargs["early_stopping"]
    out = generate(model, prompt_ids, output_scores=True, return_dict_in_generate=True, pad_token_id=EOS, **kwargs)
    n = len(prompt_ids)
    sequences = []
    for i in range(out.sequences.shape[0]):
        new = out.sequences[i, n:].tolist()
        if settings["num_beams"] > 1:
            # beam_indices holds -1 past each sequence's own length.
            length = int((out.beam_indices[i] >= 0).sum())
            assert all(t == EOS for t in new[length:]), new
            new = new[:length]
            score = float(out.sequences_scores[i])
        else:
            # Greedy: no sequences_scores; the padding after end-of-text is cut.
            new = cut_after(new, settings["eos_token_id"])
            score = None
        sequences.append({"new_ids": new, "score": score})
    return {"prompt_ids": prompt_ids, "settings": settings, "sequences": sequences}


def main():
    def run_case(model, tok, recipe, prompt, settings):
        return {"prompt": prompt, **beam_case(model, tok(prompt)["input_ids"], settings)}

    fixture = run_cases(CASES, run_case, describe_beams)
    assert any(s["new_ids"][-1:] == [EOS] for c in fixture["cases"] for s in c["sequences"]), \
        "no case finished a hypothesis with end-of-text"
    write_fixture("beam.json", fixture)


if __name__ == "__main__":
    main()
