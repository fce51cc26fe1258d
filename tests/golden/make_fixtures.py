"""Golden fixtures from Hugging Face `transformers`, the engine's oracle.

For each seeded random GPT-2 checkpoint below, the engine's own generator
(`engine/examples/random_checkpoint.rs`) writes the model folder; `transformers`
loads it and records next-token log-probabilities, whole-text scores and greedy
continuations into `tests/fixtures/golden_<name>.json`, with the recipe and the
sha256 of `model.safetensors` so the Rust tests regenerate the very same file.

Run from the repository root (pinned: torch 2.15, transformers 5.23):

    python3 -m venv ../venv && ../venv/bin/pip install 'torch==2.15.*' 'transformers==5.23.*'
    ../venv/bin/python tests/golden/make_fixtures.py [NAME ...]

(names: only those fixtures; none: all of them).
"""

import json
import math
import os
import sys

import torch
import transformers

assert transformers.__version__.startswith("5.23."), transformers.__version__
assert torch.__version__.startswith("2.15."), torch.__version__

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transformers_runs import CHECKPOINTS, FIXTURES, generate, load_checkpoint, min_top2_gap  # noqa: E402

PROMPTS = [
    "See you",
    "I have a dream",
    "Hello, world!",
    "<|endoftext|>The quick brown fox",
    " 🤗 naïve café, 東京",
    "In 1984 the number was 1234567, and then",
]

TEXTS = [
    "<|endoftext|>See you later, alligator.<|endoftext|>",
    "<|endoftext|>See you later, crocodile.<|endoftext|>",
    "<|endoftext|>See you later, asdf.<|endoftext|>",
    "The cat sat on the mat.\n\nThe dog did not.",
]

# Ids whose log-probabilities are recorded at every next-token check, besides the top 20.
PROBE_IDS = [0, 1, 13, 198, 262, 11, 50256, 12345, 31337, 50255]

TOP = 20
GREEDY_TOKENS = 24


def log_probs(model, ids):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    return torch.log_softmax(logits, dim=-1)


def next_case(model, ids):
    lp = log_probs(model, ids)[-1]
    top = torch.topk(lp, TOP)
    return {
        "prompt_ids": ids,
        "top": [[int(i), float(v)] for v, i in zip(top.values, top.indices)],
        "probes": [[i, float(lp[i])] for i in PROBE_IDS],
    }


def score_case(model, ids):
    lp = log_probs(model, ids)
    token_logprobs = [float(lp[i, ids[i + 1]]) for i in range(len(ids) - 1)]
    return {"ids": ids, "token_logprobs": token_logprobs, "total_logprob": math.fsum(token_logprobs)}


def greedy_case(model, ids, max_new_tokens, min_new_tokens=0):
    out = generate(
        model,
        ids,
        max_new_tokens=max_new_tokens,
        min_new_tokens=min_new_tokens,
        pad_token_id=50256,
        eos_token_id=50256,
        output_scores=True,
        return_dict_in_generate=True,
    )
    return {
        "prompt_ids": ids,
        "max_new_tokens": max_new_tokens,
        "min_new_tokens": min_new_tokens,
        "new_ids": out.sequences[0, len(ids):].tolist(),
        "min_top2_gap": min_top2_gap(out.scores),
    }


def main():
    os.makedirs(FIXTURES, exist_ok=True)
    torch.manual_seed(0)
    only = sys.argv[1:]
    for name, recipe in CHECKPOINTS.items():
        if only and name not in only:
            continue
        sha, tok, model = load_checkpoint(recipe)
        encode = lambda text: tok(text)["input_ids"]
        n_pos = recipe["positions"]
        fixture = {
            "checkpoint": recipe,
            "sha256": sha,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
            "next": [next_case(model, encode(p)) for p in PROMPTS],
            "score": [score_case(model, encode(t)) for t in TEXTS],
            "greedy": [greedy_case(model, encode(p), GREEDY_TOKENS) for p in PROMPTS],
        }
        # Up to the end of the context, and with end-of-text held back.
        first = encode(PROMPTS[0])
        fixture["greedy"].append(greedy_case(model, first, n_pos - len(first)))
        fixture["greedy"].append(greedy_case(model, first, 8, min_new_tokens=8))
        path = os.path.join(FIXTURES, f"golden_{name}.json")
        with open(path, "w") as f:
            json.dump(fixture, f, indent=1)
            f.write("\n")
        gaps = [g["min_top2_gap"] for g in fixture["greedy"]]
        print(f"{path}: sha256 {sha[:12]}..., smallest greedy top-2 gap {min(gaps):.2e}", file=sys.stderr)


if __name__ == "__main__":
    main()
