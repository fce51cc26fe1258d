"""Contrastive search (Su et al. 2022) and DoLa (Chuang et al. 2023) fixtures
from Hugging Face `transformers`' own implementations, for the engine's
`decoding::contrastive_search` and `decoding::dola` (tests:
`engine/tests/contrastive_search.rs`, `engine/tests/dola.rs`).

transformers 5 moved both methods out of its core into Hub repositories
(`custom_generate`, loaded with `trust_remote_code`), which cannot be reached
here; 4.55 is the last release whose core still runs them
(`GenerationMixin._contrastive_search`, `_dola_decoding`; it only warns that
they will move). So this script runs on transformers 4.55.4 (torch 2.15), in
a virtual environment of its own:

    python3 -m venv ../venv-tf4 && ../venv-tf4/bin/pip install 'torch==2.15.*' 'transformers==4.55.4'
    ../venv-tf4/bin/python tests/golden/make_search_fixtures.py

The seeded random checkpoints are written by the engine's
`examples/random_checkpoint.rs`: `tiny` and `odd` of `checkpoints.py`,
plus `deep`, six layers, so that DoLa's `low`, `high` and lists pick among
several premature layers. `tests/fixtures/search.json` records each case's
prompt ids, settings and new ids.
"""

import os
import sys

import torch
import transformers

assert transformers.__version__ == "4.55.4", transformers.__version__
assert torch.__version__.startswith("2.15."), torch.__version__

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checkpoints  # noqa: E402
from transformers_runs import EOS, cut_after, generate, run_cases, write_fixture  # noqa: E402

CHECKPOINTS = {
    "tiny": checkpoints.CHECKPOINTS["tiny"],
    "odd": checkpoints.CHECKPOINTS["odd"],
    # Deeper, for DoLa's choice of premature layer.
    "deep": dict(layers=6, heads=4, embd=64, positions=128, seed=4, dtype="f32", layout="transformers"),
}

# (checkpoint, prompt, settings); max_new_tokens 16 unless given.
CASES = [
    ("tiny", "I have a dream", dict(penalty_alpha=0.6, top_k=4)),
    ("tiny", "Hello, world!", dict(penalty_alpha=0.6, top_k=4)),
    ("tiny", "See you", dict(penalty_alpha=0.3, top_k=8)),
    ("tiny", "The waiter refuses", dict(penalty_alpha=0.9, top_k=2)),
    ("tiny", " refuses", dict(penalty_alpha=0.6, top_k=5, min_new_tokens=4, max_new_tokens=10)),
    ("tiny", "<|endoftext|>The quick brown fox", dict(penalty_alpha=0.0, top_k=4)),
    ("odd", "In 1984 the number was 1234567, and then", dict(penalty_alpha=0.6, top_k=4)),
    ("odd", "See you", dict(penalty_alpha=0.5, top_k=6)),
    ("odd", " Murdoch<|endoftext|>", dict(penalty_alpha=0.6, top_k=3)),
    ("deep", "I have a dream", dict(penalty_alpha=0.6, top_k=4)),
    ("tiny", "I have a dream", dict(dola_layers="high")),
    ("tiny", "Hello, world!", dict(dola_layers="low")),
    ("tiny", "See you", dict(dola_layers=[0, 1])),
    ("odd", "In 1984 the number was 1234567, and then", dict(dola_layers="high")),
    ("odd", "See you", dict(dola_layers=[0, 1, 2], repetition_penalty=1.2)),
    ("deep", "I have a dream", dict(dola_layers="low")),
    ("deep", "I have a dream", dict(dola_layers="high")),
    ("deep", "Hello, world!", dict(dola_layers="high", repetition_penalty=1.2)),
    ("deep", "See you", dict(dola_layers=[0, 2, 4])),
    ("deep", "The waiter refuses", dict(dola_layers=[1, 3, 5], repetition_penalty=1.2, max_new_tokens=24)),
    ("deep", " refuses", dict(dola_layers=[3], min_new_tokens=4, max_new_tokens=10)),
]


def run_case(model, prompt_ids, settings):
    settings = {"max_new_tokens": 16, "min_new_tokens": 0, **settings}
    out = generate(model, prompt_ids, pad_token_id=EOS, eos_token_id=EOS, **settings)
    new = cut_after(out[0, len(prompt_ids):].tolist(), EOS)
    method = "dola" if "dola_layers" in settings else "contrastive_search"
    return {"method": method, "prompt_ids": prompt_ids, "settings": settings, "new_ids": new}


def main():
    def run(model, tok, recipe, prompt, settings):
        return {"prompt": prompt, **run_case(model, tok(prompt)["input_ids"], settings)}

    def describe(case):
        return f"{case['prompt']!r} {case['settings']}: {case['new_ids']}"

    write_fixture("search.json", run_cases(CASES, run, describe, checkpoints=CHECKPOINTS))


if __name__ == "__main__":
    main()
