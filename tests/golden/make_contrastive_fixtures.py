"""Golden fixture for contrastive decoding (Li et al. 2022, "Contrastive
Decoding: Open-ended Text Generation as Optimization", arXiv:2210.15097).

`transformers` has no contrastive *decoding* (its "contrastive search" is a
different method), so this script implements the paper's rule directly in
PyTorch on two `transformers` models, recomputing the full sequence at every
step (no cache), and records what the engine must reproduce:

    lp_e = log_softmax(expert_logits)            (end-of-text at -inf before min_new_tokens)
    lp_a = log_softmax(amateur_logits / amateur_temperature)
    plausible = {x : lp_e[x] >= max(lp_e) + log(alpha)}   (every finite x when alpha = 0)
    next = argmax over plausible x of lp_e[x] - lambda * lp_a[x]   (first index on ties)

Expert: the "odd" checkpoint of `make_fixtures.py`; amateur: a smaller seeded
random checkpoint with the same vocabulary. Both are written by the engine's
`random_checkpoint` example; the recipes and sha256s go into
`tests/fixtures/contrastive.json` so the Rust test regenerates the same files.

Run from the repository root (pinned: torch 2.15, transformers 5.23.0):

    ../venv/bin/python tests/golden/make_contrastive_fixtures.py
"""

import json
import math
import os
import sys
import tempfile

import torch
import transformers
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

assert transformers.__version__ == "5.23.0", transformers.__version__
assert torch.__version__.startswith("2.15."), torch.__version__

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoints import CHECKPOINTS, FIXTURES, generate_checkpoint  # noqa: E402

EXPERT = CHECKPOINTS["odd"]
AMATEUR = dict(layers=1, heads=2, embd=32, positions=64, seed=7, dtype="f32", layout="transformers")
EOS = 50256
NEW_TOKENS = 16

PROMPTS = [
    "See you",
    "I have a dream",
    "<|endoftext|>The quick brown fox",
]

# (alpha, lambda, amateur_temperature)
SETTINGS = [
    (0.1, 1.0, 1.0),
    (0.5, 1.0, 1.0),
    (0.0, 1.0, 1.0),
    (0.1, 0.5, 1.0),
    (0.1, 1.0, 0.5),
    (0.5, 1.0, 0.5),
]


def last_logits(model, seq):
    with torch.no_grad():
        return model(torch.tensor([seq])).logits[0, -1].float()


def contrastive_case(expert, amateur, prompt, alpha, lam, temp, min_new=0, eos=EOS):
    n_positions = min(EXPERT["positions"], AMATEUR["positions"])
    seq, new, steps, gaps, margins = list(prompt), [], [], [], []
    while len(new) < NEW_TOKENS and len(seq) < n_positions:
        le = last_logits(expert, seq)
        if len(new) < min_new:
            le[eos] = -math.inf
        lp_e = torch.log_softmax(le, dim=-1)
        lp_a = torch.log_softmax(last_logits(amateur, seq) / temp, dim=-1)
        threshold = lp_e.max() + math.log(alpha) if alpha > 0 else torch.tensor(-math.inf)
        plausible = torch.isfinite(lp_e) & (lp_e >= threshold)
        raw = lp_e if lam == 0 else lp_e - lam * lp_a
        score = torch.where(plausible, raw, torch.tensor(-math.inf))
        x = int(torch.argmax(score))
        # How far the engine's numerics are from flipping a choice: the gap to
        # the runner-up, and the distance to the plausibility cut of the tokens
        # whose side of the cut decides (the chosen one, and excluded ones that
        # would beat it).
        top = torch.topk(score, 2).values
        if torch.isfinite(top[1]):
            gaps.append(float(top[0] - top[1]))
        if alpha > 0:
            decisive = (~plausible & torch.isfinite(lp_e) & (raw > score[x])).clone()
            decisive[x] = True
            margins.append(float((lp_e[decisive] - threshold).abs().min()))
        steps.append([float(lp_e[x]), float(lp_a[x])])
        new.append(x)
        seq.append(x)
        if x == eos:
            break
    return {
        "prompt_ids": list(prompt),
        "alpha": alpha,
        "lambda": lam,
        "amateur_temperature": temp,
        "max_new_tokens": NEW_TOKENS,
        "min_new_tokens": min_new,
        "eos_token_id": eos,
        "new_ids": new,
        "steps": steps,
        "score": math.fsum(s[0] for s in steps),
        "min_score_gap": min(gaps, default=None),
        "min_cut_margin": min(margins, default=None),
    }


def load(folder):
    return GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()


def main():
    with tempfile.TemporaryDirectory() as e_dir, tempfile.TemporaryDirectory() as a_dir:
        e_sha = generate_checkpoint(EXPERT, e_dir)
        a_sha = generate_checkpoint(AMATEUR, a_dir)
        tok = GPT2TokenizerFast(tokenizer_file=os.path.join(e_dir, "tokenizer.json"))
        expert, amateur = load(e_dir), load(a_dir)
        assert expert.config.vocab_size == amateur.config.vocab_size
        prompts = [tok(p)["input_ids"] for p in PROMPTS]
        cases = [
            contrastive_case(expert, amateur, p, *setting) for setting in SETTINGS for p in prompts
        ]
        # End-of-text: make a token the decoder first picks at step 4 or later
        # the end token, then hold it back with min_new_tokens.
        first = cases[0]
        ids = first["new_ids"]
        eos = next(x for i, x in enumerate(ids) if i >= 3 and x not in ids[:i])
        cases.append(contrastive_case(expert, amateur, first["prompt_ids"], *SETTINGS[0], eos=eos))
        cases.append(contrastive_case(expert, amateur, first["prompt_ids"], *SETTINGS[0], min_new=8, eos=eos))
    fixture = {
        "expert": {"checkpoint": EXPERT, "sha256": e_sha},
        "amateur": {"checkpoint": AMATEUR, "sha256": a_sha},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "cases": cases,
    }
    path = os.path.join(FIXTURES, "contrastive.json")
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    gaps = [c["min_score_gap"] for c in cases if c["min_score_gap"] is not None]
    margins = [c["min_cut_margin"] for c in cases if c["min_cut_margin"] is not None]
    print(
        f"{path}: {len(cases)} cases, smallest score gap {min(gaps):.2e}, "
        f"smallest distance to the plausibility cut {min(margins):.2e}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
