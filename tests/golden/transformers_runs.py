"""What the fixture scripts share around `transformers`: each checkpoint of
`checkpoints.py` loaded as `transformers` sees it, `model.generate` on a
prompt, and a fixture of cases run checkpoint by checkpoint and written as
JSON. No `transformers` version is pinned here: each script pins its own
(5.23, or 4.55 for the methods 5.x dropped) and asserts it.
"""

import json
import os
import sys
import tempfile

import torch
import transformers
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checkpoints import CHECKPOINTS, FIXTURES, generate_checkpoint  # noqa: E402

EOS = 50256  # end-of-text

# The beam settings a beam case leaves out take transformers' defaults; the
# end token is end-of-text unless `eos_token_id` says otherwise.
BEAM_DEFAULTS = dict(
    length_penalty=1.0,
    early_stopping=False,
    num_return_sequences=1,
    no_repeat_ngram_size=None,
    min_new_tokens=0,
    eos_token_id=EOS,
)

# transformers 5 names the weights' type `dtype`; 4.x, `torch_dtype`.
DTYPE_ARG = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"


def load_checkpoint(recipe):
    """Writes the checkpoint of `recipe` and loads it: (sha256 of its
    `model.safetensors`, tokenizer, float32 model with eager attention)."""
    with tempfile.TemporaryDirectory() as folder:
        sha = generate_checkpoint(recipe, folder)
        tok = GPT2TokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"))
        model = GPT2LMHeadModel.from_pretrained(
            folder, **{DTYPE_ARG: torch.float32}, attn_implementation="eager"
        ).eval()
    return sha, tok, model


def generate(model, prompt_ids, **kwargs):
    """`model.generate` without sampling on one prompt, all of it attended."""
    with torch.no_grad():
        return model.generate(
            torch.tensor([prompt_ids]),
            attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            do_sample=False,
            **kwargs,
        )


def cut_after(new_ids, eos):
    """The new ids up to and with the first `eos` (the padding after it cut)."""
    return new_ids[: new_ids.index(eos) + 1] if eos in new_ids else new_ids


def min_top2_gap(scores):
    """The smallest gap between the best and second-best score of any step:
    how far the engine's numerics are from flipping a greedy choice."""
    gaps = []
    for step in scores:
        best = torch.topk(step[0].float(), 2).values
        gaps.append(float(best[0] - best[1]))
    return min(gaps)


def describe_beams(case):
    """A beam case in a line: its settings other than the defaults, and how
    many of its sequences are distinct and end with the end token."""
    eos = case["settings"]["eos_token_id"]
    ends = sum(1 for s in case["sequences"] if s["new_ids"][-1:] == [eos])
    distinct = len({tuple(s["new_ids"]) for s in case["sequences"]})
    shown = {k: v for k, v in case["settings"].items() if BEAM_DEFAULTS.get(k, "-") != v}
    return (f"{case['prompt']!r} {shown}: {len(case['sequences'])} returned ({distinct} distinct), "
            f"{ends} ending with {eos}")


def run_cases(cases, run_case, describe, checkpoints=CHECKPOINTS):
    """The fixture of `cases`, each `(checkpoint, *rest)`, loading each
    checkpoint once in the order the cases first name it: a case records its
    checkpoint's name then `run_case(model, tok, recipe, *rest)`, and
    `describe(case)` is printed after the name."""
    fixture = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "checkpoints": {},
        "cases": [],
    }
    names = sorted({c[0] for c in cases}, key=[c[0] for c in cases].index)
    for name in names:
        recipe = checkpoints[name]
        sha, tok, model = load_checkpoint(recipe)
        fixture["checkpoints"][name] = {"checkpoint": recipe, "sha256": sha}
        for checkpoint, *rest in cases:
            if checkpoint != name:
                continue
            case = {"checkpoint": name, **run_case(model, tok, recipe, *rest)}
            fixture["cases"].append(case)
            print(f"{name} {describe(case)}", file=sys.stderr)
    return fixture


def write_fixture(file, fixture):
    """Writes `fixture` as `tests/fixtures/<file>`."""
    path = os.path.join(FIXTURES, file)
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(fixture['cases'])} cases", file=sys.stderr)
