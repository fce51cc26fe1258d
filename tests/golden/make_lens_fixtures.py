"""Logit-lens fixtures (nostalgebraist 2020, "interpreting GPT: the logit
lens") from Hugging Face `transformers`' `output_hidden_states`, for the
engine's `decoding::logit_lens` (test: `engine/tests/logit_lens.rs`).

For each case, at the prompt's last position: `hidden_states[i]` for every
`i` in 0..=n_layer, and the top 5 of each layer's lens logits,
`lm_head(ln_f(hidden_states[i]))` for `i < n_layer` and the model's own
logits for `i = n_layer` (whose state already went through `ln_f`), with
their softmax probabilities.

Pinned: transformers 5.23, torch 2.15 (`target/bench/native-venv`):

    target/bench/native-venv/bin/python tests/golden/make_lens_fixtures.py
"""

import os
import sys

import torch
import transformers

assert transformers.__version__.startswith("5.23."), transformers.__version__
assert torch.__version__.startswith("2.15."), torch.__version__

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transformers_runs import run_cases, write_fixture  # noqa: E402

TOP = 5

CASES = [
    ("tiny", "I have a dream"),
    ("tiny", "Hello, world! The quick brown fox"),
    ("odd", "In 1984 the number was 1234567, and then"),
    ("odd", " Murdoch<|endoftext|>"),
]


def run_case(model, tok, recipe, prompt):
    ids = tok(prompt)["input_ids"]
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True)
        states = [h[0, -1] for h in out.hidden_states]
        n_layer = len(states) - 1
        lens = [model.lm_head(model.transformer.ln_f(h)) for h in states[:n_layer]]
        lens.append(out.logits[0, -1])
        # The last state is already normed: the head alone gives the logits.
        assert torch.allclose(model.lm_head(states[n_layer]), out.logits[0, -1], atol=1e-5)
    layers = []
    for i, logits in enumerate(lens):
        probs = torch.softmax(logits.double(), -1)
        top = torch.topk(logits, TOP)
        layers.append(
            {
                "layer": i,
                "top_ids": top.indices.tolist(),
                "top_logits": top.values.tolist(),
                "top_probs": probs[top.indices].tolist(),
            }
        )
    return {
        "prompt": prompt,
        "prompt_ids": ids,
        "layers": layers,
        "states": [s.tolist() for s in states],
    }


def describe(case):
    tops = [layer["top_ids"][0] for layer in case["layers"]]
    return f"{case['prompt']!r}: top id per layer {tops}"


if __name__ == "__main__":
    write_fixture("lens.json", run_cases(CASES, run_case, describe))
