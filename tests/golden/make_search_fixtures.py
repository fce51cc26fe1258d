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
`examples/random_checkpoint.rs` (as `make_fixtures.py` does; its recipes for
`tiny` and `odd` are repeated here, since that script pins transformers 5),
plus `deep`, six layers, so that DoLa's `low`, `high` and lists pick among
several premature layers. `tests/fixtures/search.json` records each case's
prompt ids, settings and new ids.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile

import torch
import transformers
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

assert transformers.__version__ == "4.55.4", transformers.__version__
assert torch.__version__.startswith("2.15."), torch.__version__

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
EOS = 50256

CHECKPOINTS = {
    # As make_fixtures.py's.
    "tiny": dict(layers=2, heads=4, embd=64, positions=128, seed=1, dtype="f32", layout="transformers"),
    "odd": dict(layers=3, heads=5, embd=80, positions=64, seed=2, dtype="f32", layout="hub"),
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


def generate_checkpoint(recipe, out):
    args = ["cargo", "run", "--release", "-q", "-p", "engine", "--example", "random_checkpoint", "--", out]
    for key in ("layers", "heads", "embd", "positions", "seed", "dtype", "layout"):
        args += [f"--{key}", str(recipe[key])]
    subprocess.run(args, cwd=ROOT, check=True)
    with open(os.path.join(out, "model.safetensors"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_case(model, prompt_ids, settings):
    settings = {"max_new_tokens": 16, "min_new_tokens": 0, **settings}
    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt_ids]),
            attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            do_sample=False,
            pad_token_id=EOS,
            eos_token_id=EOS,
            **settings,
        )
    new = out[0, len(prompt_ids):].tolist()
    if EOS in new:
        new = new[: new.index(EOS) + 1]
    method = "dola" if "dola_layers" in settings else "contrastive_search"
    return {"method": method, "prompt_ids": prompt_ids, "settings": settings, "new_ids": new}


def main():
    fixture = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "checkpoints": {},
        "cases": [],
    }
    names = sorted({c[0] for c in CASES}, key=[c[0] for c in CASES].index)
    for name in names:
        recipe = CHECKPOINTS[name]
        with tempfile.TemporaryDirectory() as folder:
            sha = generate_checkpoint(recipe, folder)
            tok = GPT2TokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"))
            model = GPT2LMHeadModel.from_pretrained(
                folder, torch_dtype=torch.float32, attn_implementation="eager"
            ).eval()
        fixture["checkpoints"][name] = {"checkpoint": recipe, "sha256": sha}
        for checkpoint, prompt, settings in CASES:
            if checkpoint != name:
                continue
            case = {"checkpoint": name, "prompt": prompt, **run_case(model, tok(prompt)["input_ids"], settings)}
            fixture["cases"].append(case)
            print(f"{name} {prompt!r} {settings}: {case['new_ids']}", file=sys.stderr)
    path = os.path.join(FIXTURES, "search.json")
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(fixture['cases'])} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
