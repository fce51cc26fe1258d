"""Classifier-free guidance fixtures from Hugging Face `transformers`, for the
engine's guidance (Sanchez et al. 2023, arXiv:2306.17806; test:
`engine/tests/guidance_matches_transformers.rs`).

The seeded random checkpoints are those of `tests/golden/checkpoints.py`
(loaded by `transformers_runs.py`, shared with the other fixture scripts), and `transformers` runs
greedy search with guidance on them:

    model.generate(ids, do_sample=False, guidance_scale=G, negative_prompt_ids=neg, ...)

`UnbatchedClassifierFreeGuidanceLogitsProcessor` runs the same model on the
negative prompt (without one: the prompt's last token), then on each chosen
token, with a KV cache of its own; it combines the two log-softmaxes as
`G · (cond − uncond) + uncond`, before the repetition penalty and the bans, and
greedy search takes the argmax of that. `tests/fixtures/guidance.json` records
the prompt and negative prompt ids, the settings, the new ids (cut after
end-of-text) and the smallest gap between the two best processed scores of any
step (how far the engine's numerics are from flipping a choice).

Run from the repository root (pinned: torch 2.15, transformers 5.23.0):

    ../venv/bin/python tests/golden/make_guidance_fixtures.py
"""

import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transformers_runs import EOS, cut_after, generate, min_top2_gap, run_cases, write_fixture  # noqa: E402

assert transformers.__version__ == "5.23.0", transformers.__version__
assert torch.__version__.startswith("2.15."), torch.__version__


# (checkpoint, prompt, negative prompt or None, settings). `max_new_tokens`
# None: up to the end of the model's context. With random weights end-of-text
# comes only first (after " refuses" on `tiny`, " Murdoch<|endoftext|>" on
# `odd`, as in make_beam_fixtures.py); min_new_tokens holds it back once.
CASES = [
    ("tiny", "I have a dream", "The cat", dict(guidance_scale=1.5, max_new_tokens=16)),
    ("tiny", "Hello, world!", None, dict(guidance_scale=3.0, max_new_tokens=16)),
    ("tiny", "See you", "Goodbye forever, my friend", dict(guidance_scale=0.5, max_new_tokens=12)),
    ("tiny", "The quick brown fox", "<|endoftext|>", dict(guidance_scale=1.5, repetition_penalty=1.3,
                                                           no_repeat_ngram_size=2, max_new_tokens=16)),
    ("tiny", " refuses", None, dict(guidance_scale=1.5, min_new_tokens=3, max_new_tokens=10)),
    ("tiny", " refuses", " waiter", dict(guidance_scale=-0.5, max_new_tokens=10)),
    ("tiny", "The waiter refuses", " waiter", dict(guidance_scale=0.5, max_new_tokens=10)),
    ("odd", "In 1984 the number was 1234567, and then", "<|endoftext|>",
     dict(guidance_scale=2.0, max_new_tokens=16)),
    ("odd", "See you", None, dict(guidance_scale=1.5, max_new_tokens=None)),
    ("odd", " Murdoch<|endoftext|>", " Murdoch", dict(guidance_scale=1.5, max_new_tokens=10)),
    # 16 negative-prompt tokens: the 49th step feeds the unconditional context
    # its 64th and last position (the prompt is 2 tokens: its context has room).
    ("odd", " Murdoch<|endoftext|>", "A long negative prompt, to reach the end of the context before the prompt does",
     dict(guidance_scale=1.25, max_new_tokens=49)),
    ("heads12", "I have a dream", "a nightmare", dict(guidance_scale=2.5, repetition_penalty=1.2, max_new_tokens=16)),
]


def guided_case(model, n_positions, prompt_ids, negative_ids, settings):
    settings = dict(settings)
    if settings["max_new_tokens"] is None:
        settings["max_new_tokens"] = n_positions - len(prompt_ids)
    kwargs = dict(settings)
    if negative_ids is not None:
        kwargs["negative_prompt_ids"] = torch.tensor([negative_ids])
    out = generate(model, prompt_ids, output_scores=True, return_dict_in_generate=True,
                   pad_token_id=EOS, eos_token_id=EOS, **kwargs)
    return {
        "prompt_ids": prompt_ids,
        "negative_prompt_ids": negative_ids,
        "settings": settings,
        "new_ids": cut_after(out.sequences[0, len(prompt_ids):].tolist(), EOS),
        "min_top2_gap": min_top2_gap(out.scores),
    }


def main():
    def run_case(model, tok, recipe, prompt, negative, settings):
        negative_ids = None if negative is None else tok(negative)["input_ids"]
        case = guided_case(model, recipe["positions"], tok(prompt)["input_ids"], negative_ids, settings)
        return {"prompt": prompt, "negative_prompt": negative, **case}

    def describe(case):
        return (f"{case['prompt']!r} / {case['negative_prompt']!r} {case['settings']}: "
                f"{len(case['new_ids'])} new, ends with end-of-text: {case['new_ids'][-1:] == [EOS]}, "
                f"smallest top-2 gap {case['min_top2_gap']:.2e}")

    write_fixture("guidance.json", run_cases(CASES, run_case, describe))


if __name__ == "__main__":
    main()
