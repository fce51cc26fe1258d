"""Diverse (group) beam search fixtures from Hugging Face `transformers` 4.55,
for the engine's `decoding::beam_search` with `num_beam_groups > 1` (test:
`engine/tests/group_beam_matches_transformers.rs`).

Group beam search (Vijayakumar et al. 2016, "Diverse Beam Search",
arXiv:1610.02424) is `GenerationMixin._group_beam_search` with the legacy
`BeamSearchScorer` and `HammingDiversityLogitsProcessor`; it is in the core of
transformers 4.x (moved out of the core in 5.x), so this script runs under
4.55, unlike the other fixture scripts. The seeded random checkpoints `tiny`
and `odd` are those of `make_fixtures.py` (`checkpoints.py`), `transformers`
runs `model.generate(..., num_beams=K, num_beam_groups=G,
diversity_penalty=D, ...)` on them, and `tests/fixtures/group_beam.json`
records the prompt ids, the setting, and every returned sequence's new ids
and `sequences_scores`.

Run from the repository root (pinned: torch 2.15, transformers 4.55.4):

    python3 -m venv ../venv-tf4 && ../venv-tf4/bin/pip install 'torch==2.15.*' 'transformers==4.55.4'
    ../venv-tf4/bin/python tests/golden/make_group_beam_fixtures.py

Padding is the end token (`pad_token_id = eos_token_id`, what `generate`
falls back to for GPT-2, which has no padding token). It matters: a group that
is done feeds padding as its tokens, and the later groups' diversity penalty
counts them.

`transformers` refuses `diversity_penalty=0` with groups ("otherwise your
groups will be identical"); the engine allows it, so for those cases this
script lets `GenerationConfig.validate` pass and records what
`_group_beam_search` then does (no Hamming processor: every group searches
alone, from the same start).

A returned sequence's length cannot be read from its tokens when padding is
the end token, and 4.55's `beam_indices` are off by one for the end-token
hypotheses of every group after the first (`process` is given group 0's
indices, already extended at that step). So the script has each hypothesis
record its own length (`generated_len`, the end token included) as its beam
indices; the search itself is untouched.
"""

import os
import sys

import torch
import transformers
from transformers import GenerationConfig
from transformers.generation.beam_search import BeamHypotheses

assert transformers.__version__ == "4.55.4", transformers.__version__
assert torch.__version__.startswith("2.15."), torch.__version__

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transformers_runs import BEAM_DEFAULTS, EOS, describe_beams, generate, run_cases, write_fixture  # noqa: E402

# (checkpoint, prompt, settings). Settings left out take transformers' defaults:
# length_penalty 1.0, early_stopping False, num_return_sequences 1, no n-gram
# rule, min_new_tokens 0; end-of-text is 50256 unless eos_token_id says otherwise.
# On `tiny`, end-of-text is the most likely token after " refuses"; on `odd`
# after " Murdoch<|endoftext|>" (see make_beam_fixtures.py). The cases with
# another eos_token_id make a frequent token the end token, so that groups
# finish early and the early_stopping modes differ.
CASES = [
    ("tiny", "I have a dream", dict(num_beams=4, num_beam_groups=2, diversity_penalty=1.0, max_new_tokens=10)),
    ("tiny", "Hello, world!", dict(num_beams=6, num_beam_groups=3, diversity_penalty=0.5, length_penalty=0.5, early_stopping=True, num_return_sequences=3, max_new_tokens=10)),
    ("tiny", " refuses", dict(num_beams=4, num_beam_groups=2, diversity_penalty=2.0, num_return_sequences=4, max_new_tokens=10)),
    ("tiny", " refuses", dict(num_beams=4, num_beam_groups=2, diversity_penalty=0.0, num_return_sequences=3, max_new_tokens=8)),
    ("tiny", " refuses", dict(num_beams=3, num_beam_groups=3, diversity_penalty=1.0, length_penalty=2.0, early_stopping="never", num_return_sequences=3, max_new_tokens=10)),
    ("tiny", " refuses", dict(num_beams=6, num_beam_groups=2, diversity_penalty=0.25, length_penalty=-1.0, num_return_sequences=2, no_repeat_ngram_size=2, max_new_tokens=10)),
    ("tiny", "See you", dict(num_beams=6, num_beam_groups=3, diversity_penalty=4.0, length_penalty=1.5, num_return_sequences=6, min_new_tokens=3, max_new_tokens=12)),
    ("odd", " Murdoch<|endoftext|>", dict(num_beams=4, num_beam_groups=2, diversity_penalty=0.5, early_stopping=True, num_return_sequences=2, max_new_tokens=10)),
    ("odd", " Murdoch<|endoftext|>", dict(num_beams=6, num_beam_groups=3, diversity_penalty=1.5, length_penalty=2.0, early_stopping="never", num_return_sequences=4, max_new_tokens=8)),
    ("odd", " Murdoch<|endoftext|>", dict(num_beams=4, num_beam_groups=4, diversity_penalty=0.0, num_return_sequences=4, max_new_tokens=8)),
    ("odd", "In 1984 the number was 1234567, and then", dict(num_beams=4, num_beam_groups=2, diversity_penalty=1.0, no_repeat_ngram_size=3, max_new_tokens=16)),
    ("odd", "See you", dict(num_beams=4, num_beam_groups=2, diversity_penalty=3.0, num_return_sequences=3, min_new_tokens=5, max_new_tokens=8)),
    # A frequent end token: groups finish early, done groups pad.
    ("tiny", "Hello, world!", dict(num_beams=4, num_beam_groups=2, diversity_penalty=1.0, early_stopping=False, num_return_sequences=4, max_new_tokens=10, eos_token_id=35617)),
    ("tiny", "Hello, world!", dict(num_beams=4, num_beam_groups=2, diversity_penalty=1.0, early_stopping=True, num_return_sequences=4, max_new_tokens=10, eos_token_id=35617)),
    ("tiny", "The waiter refuses", dict(num_beams=6, num_beam_groups=3, diversity_penalty=0.5, length_penalty=2.0, early_stopping=False, num_return_sequences=3, max_new_tokens=10, eos_token_id=3969)),
    ("tiny", "The waiter refuses", dict(num_beams=6, num_beam_groups=3, diversity_penalty=0.5, length_penalty=2.0, early_stopping="never", num_return_sequences=3, max_new_tokens=10, eos_token_id=3969)),
    # A done group's padding (the end token) counts against the later groups:
    # with other padding these two would end differently.
    ("tiny", "The waiter refuses", dict(num_beams=6, num_beam_groups=2, diversity_penalty=2.0, early_stopping=True, num_return_sequences=6, max_new_tokens=10, eos_token_id=3969)),
    ("tiny", "The waiter refuses", dict(num_beams=6, num_beam_groups=3, diversity_penalty=4.0, early_stopping=False, num_return_sequences=3, max_new_tokens=10, eos_token_id=3969)),
    ("odd", " Murdoch<|endoftext|>", dict(num_beams=4, num_beam_groups=2, diversity_penalty=2.0, early_stopping="never", num_return_sequences=4, max_new_tokens=10, eos_token_id=6546)),
    ("odd", "See you", dict(num_beams=6, num_beam_groups=2, diversity_penalty=1.0, early_stopping=True, num_return_sequences=3, max_new_tokens=10, eos_token_id=1311)),
    ("odd", "See you", dict(num_beams=6, num_beam_groups=3, diversity_penalty=0.0, early_stopping=False, num_return_sequences=6, max_new_tokens=10, eos_token_id=1311)),
]

_validate = GenerationConfig.validate


def validate_allowing_zero_penalty(self, *args, **kwargs):
    """`GenerationConfig.validate`, except that a zero diversity penalty with
    groups passes (checked as if it were positive, then put back)."""
    if self.num_beam_groups is not None and self.num_beam_groups > 1 and self.diversity_penalty == 0.0:
        self.diversity_penalty = 1.0
        try:
            return _validate(self, *args, **kwargs)
        finally:
            self.diversity_penalty = 0.0
    return _validate(self, *args, **kwargs)


GenerationConfig.validate = validate_allowing_zero_penalty

_add = BeamHypotheses.add


def add_recording_length(self, hyp, sum_logprobs, beam_indices=None, generated_len=None):
    """`BeamHypotheses.add`, keeping `generated_len` entries as the beam indices."""
    return _add(self, hyp, sum_logprobs, beam_indices=tuple(range(generated_len)), generated_len=generated_len)


BeamHypotheses.add = add_recording_length


def group_beam_case(model, prompt_ids, settings):
    settings = {**BEAM_DEFAULTS, **settings}
    kwargs = dict(settings)
    if kwargs["no_repeat_ngram_size"] is None:
        del kwargs["no_repeat_ngram_size"]
    out = generate(model, prompt_ids, output_scores=True, return_dict_in_generate=True,
                   pad_token_id=settings["eos_token_id"], **kwargs)
    n = len(prompt_ids)
    eos = settings["eos_token_id"]
    sequences = []
    for i in range(out.sequences.shape[0]):
        new = out.sequences[i, n:].tolist()
        # beam_indices holds -1 past each sequence's own length (end token
        # included; see add_recording_length).
        length = int((out.beam_indices[i] >= 0).sum())
        assert all(t == eos for t in new[length:]), new
        new = new[:length]
        assert new[-1:] == [eos] or length == settings["max_new_tokens"], (new, length)
        sequences.append({"new_ids": new, "score": float(out.sequences_scores[i])})
    return {"prompt_ids": prompt_ids, "settings": settings, "sequences": sequences}


def main():
    def run_case(model, tok, recipe, prompt, settings):
        return {"prompt": prompt, **group_beam_case(model, tok(prompt)["input_ids"], settings)}

    write_fixture("group_beam.json", run_cases(CASES, run_case, describe_beams))


if __name__ == "__main__":
    main()
