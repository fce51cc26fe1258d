"""Prompt-lookup fixtures from Hugging Face `transformers`, for the engine's
`decoding::prompt_lookup` and speculative decoding with a prompt-lookup draft
(test: `engine/tests/speculative_prompt_lookup.rs`).

Two parts, written to `tests/fixtures/prompt_lookup.json`:

- `lookups`: `PromptLookupCandidateGenerator.get_candidates` called directly on
  hand-made contexts (no match, several matches, a match overlapping the
  n-gram, n-grams longer than the context, end-of-text inside the
  continuation, end-of-text banned before `min_new_tokens`), with the
  candidates it proposes;
- `cases`: `model.generate(..., prompt_lookup_num_tokens=γ,
  max_matching_ngram_size=N)` greedy on the seeded random checkpoints of
  `tests/golden/make_fixtures.py`, with the new ids, plain greedy's ids (they
  must be equal) and, round by round, the candidates the generator proposed
  (recorded by wrapping its `get_candidates`) and the input length it saw.

Run from the repository root (pinned: torch 2.15, transformers 5.23.0):

    python3 -m venv ../venv && ../venv/bin/pip install 'torch==2.15.*' 'transformers==5.23.0'
    ../venv/bin/python tests/golden/make_prompt_lookup_fixtures.py
"""

import json
import os
import sys
import tempfile

import torch
import transformers
from transformers import GPT2LMHeadModel, GPT2TokenizerFast
from transformers.generation.candidate_generator import PromptLookupCandidateGenerator
from transformers.generation.logits_process import LogitsProcessorList, MinNewTokensLengthLogitsProcessor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import CHECKPOINTS, FIXTURES, generate_checkpoint  # noqa: E402

assert transformers.__version__ == "5.23.0", transformers.__version__
assert torch.__version__.startswith("2.15."), torch.__version__

EOS = 50256
VOCAB = 50257

# (context, num_output_tokens, max_matching_ngram_size, eos, prompt_len, min_new_tokens)
LOOKUPS = [
    ([1, 2, 3, 4, 1, 2, 3], 4, 2, None, 7, 0),  # the 2-gram [2, 3] matches at 1
    ([1, 2, 3, 4, 1, 2, 3], 2, 2, None, 7, 0),  # γ cuts the continuation
    ([1, 2, 3, 4, 1, 2, 3], 4, 3, None, 7, 0),
    ([5, 6, 7, 8], 4, 2, None, 4, 0),  # no match
    ([5, 6, 7, 5], 4, 2, None, 4, 0),  # only the 1-gram matches
    ([9, 9, 9, 9], 3, 2, None, 4, 0),  # overlapping: the first match, continuation up to the end
    ([9, 9], 3, 2, None, 2, 0),  # n-gram as long as the context allows
    ([9], 3, 2, None, 1, 0),  # one token: nothing to match against
    ([1, 2, 7, 1, 2, 8, 1, 2], 3, 2, None, 8, 0),  # two matches: the first (leftmost) wins
    ([1, 2, 7, 1, 3, 8, 1, 2], 3, 1, None, 8, 0),  # max 1: the 1-gram [2] matches at 1
    ([4, 5, 6, 4, 5, 6, 4, 5], 5, 4, None, 8, 0),
    ([1, 2, 3, 4, 1, 2, 3], 4, 2, 4, 7, 0),  # end-of-text first: nothing proposed
    ([1, 2, 3, 4, 5, 1, 2], 4, 2, 4, 7, 0),  # end-of-text inside: cut before it
    ([1, 2, 3, 4, 1, 2, 5, 1, 2], 4, 2, 3, 9, 0),  # end-of-text first, second match not tried
    ([1, 2, 3, 4, 1, 2, 5, 1, 2], 4, 2, 3, 9, 2),  # end-of-text banned: the next match is used
    ([1, 2, 3, 4, 1, 2, 3, 1, 2], 4, 2, 3, 9, 2),  # every 2-gram match banned: the 1-gram's
    ([1, 2, 3, 4, 5, 1, 2], 4, 2, 4, 5, 4),  # banned at the second candidate: cut there
    ([1, 2, 3, 4, 5, 1, 2], 4, 2, 4, 5, 1),  # allowed at the second candidate: cut before it anyway
    ([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3, 3, 8, 3, 2, 7, 9, 5], 6, 3, None, 32, 0),
]

# (checkpoint, prompt, γ, N, settings)
CASES = [
    ("tiny", "the cat sat on the mat, the cat sat on the mat, the cat", 4, 2, dict(max_new_tokens=24)),
    ("tiny", "the cat sat on the mat, the cat sat on the mat, the cat", 1, 1, dict(max_new_tokens=24)),
    ("tiny", "the cat sat on the mat, the cat sat on the mat, the cat", 7, 3, dict(max_new_tokens=24)),
    ("tiny", "I have a dream", 3, 2, dict(max_new_tokens=40)),
    ("tiny", "Hello, world!", 5, 4, dict(max_new_tokens=40)),
    ("odd", "one two three four one two three four one two", 4, 2, dict(max_new_tokens=30)),
    ("odd", "In 1984 the number was 1234567, and then", 3, 2, dict(max_new_tokens=40)),
    ("odd", "See you", 2, 3, dict(max_new_tokens=50)),
    # A frequent token as end-of-text, then held back by min_new_tokens until
    # `hold` tokens after where it first came.
    ("odd", "In 1984 the number was 1234567, and then", 4, 2, dict(max_new_tokens=40, eos_token_id=None)),
    ("odd", "In 1984 the number was 1234567, and then", 4, 2, dict(max_new_tokens=40, eos_token_id=None, hold=6)),
    ("tiny", "I have a dream", 3, 2, dict(max_new_tokens=40, eos_token_id=None, hold=3)),
]


def lookup(context, gamma, n, eos, prompt_len, min_new_tokens):
    processors = LogitsProcessorList()
    if eos is not None and min_new_tokens > 0:
        processors.append(MinNewTokensLengthLogitsProcessor(prompt_len, min_new_tokens, torch.tensor([eos])))
    generator = PromptLookupCandidateGenerator(
        eos_token_id=None if eos is None else torch.tensor([eos]),
        num_output_tokens=gamma,
        max_matching_ngram_size=n,
        max_length=len(context) + 100,
        logits_processor=processors,
        vocab_size=VOCAB,
    )
    ids = torch.tensor([context])
    out, _ = generator.get_candidates(ids)
    return out[0, len(context):].tolist()


def generate(model, prompt_ids, gamma, n, settings, assisted):
    kwargs = dict(settings)
    if assisted:
        kwargs.update(prompt_lookup_num_tokens=gamma, max_matching_ngram_size=n)
    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt_ids]),
            attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            do_sample=False,
            pad_token_id=EOS,
            **kwargs,
        )
    new = out[0, len(prompt_ids):].tolist()
    eos = settings["eos_token_id"]
    if eos in new:
        new = new[: new.index(eos) + 1]
    return new


def main():
    fixture = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "lookups": [],
        "checkpoints": {},
        "cases": [],
    }
    for context, gamma, n, eos, prompt_len, min_new in LOOKUPS:
        candidates = lookup(context, gamma, n, eos, prompt_len, min_new)
        fixture["lookups"].append(dict(
            context=context, num_output_tokens=gamma, max_matching_ngram_size=n, eos_token_id=eos,
            prompt_len=prompt_len, min_new_tokens=min_new, candidates=candidates,
        ))
        print(f"lookup {context} γ {gamma} N {n} eos {eos} min_new {min_new}: {candidates}", file=sys.stderr)

    rounds = []
    original = PromptLookupCandidateGenerator.get_candidates

    def recording(self, input_ids, **kwargs):
        out, logits = original(self, input_ids, **kwargs)
        length = input_ids.shape[1]
        rounds.append({"input_len": length, "candidates": out[0, length:].tolist()})
        return out, logits

    PromptLookupCandidateGenerator.get_candidates = recording
    names = sorted({c[0] for c in CASES}, key=[c[0] for c in CASES].index)
    for name in names:
        recipe = CHECKPOINTS[name]
        with tempfile.TemporaryDirectory() as folder:
            sha = generate_checkpoint(recipe, folder)
            tok = GPT2TokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"))
            model = GPT2LMHeadModel.from_pretrained(
                folder, dtype=torch.float32, attn_implementation="eager"
            ).eval()
        fixture["checkpoints"][name] = {"checkpoint": recipe, "sha256": sha}
        for checkpoint, prompt, gamma, n, settings in CASES:
            if checkpoint != name:
                continue
            prompt_ids = tok(prompt)["input_ids"]
            settings = {"min_new_tokens": 0, "eos_token_id": EOS, **settings}
            hold = settings.pop("hold", None)
            if settings["eos_token_id"] is None:
                # The most frequent token of plain greedy's output ends the text.
                plain = generate(model, prompt_ids, gamma, n, {**settings, "eos_token_id": EOS}, False)
                eos = max(set(plain), key=plain.count)
                settings["eos_token_id"] = eos
                if hold is not None:
                    settings["min_new_tokens"] = plain.index(eos) + hold
            greedy = generate(model, prompt_ids, gamma, n, settings, False)
            rounds.clear()
            new_ids = generate(model, prompt_ids, gamma, n, settings, True)
            assert new_ids == greedy, (new_ids, greedy)
            drafted = sum(len(r["candidates"]) for r in rounds)
            fixture["cases"].append(dict(
                checkpoint=name, prompt=prompt, prompt_ids=prompt_ids, gamma=gamma,
                max_matching_ngram_size=n, settings=settings, new_ids=new_ids, rounds=list(rounds),
            ))
            print(f"{name} {prompt!r} γ {gamma} N {n} {settings}: {len(new_ids)} new ids, "
                  f"{len(rounds)} rounds, {drafted} drafted", file=sys.stderr)
    PromptLookupCandidateGenerator.get_candidates = original
    path = os.path.join(FIXTURES, "prompt_lookup.json")
    with open(path, "w") as f:
        json.dump(fixture, f)
        f.write("\n")
    print(f"wrote {path}: {len(fixture['lookups'])} lookups, {len(fixture['cases'])} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
