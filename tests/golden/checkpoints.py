"""The seeded random GPT-2 checkpoints every fixture script uses, without a
pinned `transformers` version (`make_fixtures.py` pins 5.23;
`make_group_beam_fixtures.py` runs under 4.55, whose core still has group beam
search). The engine's own generator (`engine/examples/random_checkpoint.rs`)
writes each model folder.
"""

import hashlib
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

# name -> generator recipe. "odd" has sizes that are multiples of nothing
# convenient (3 layers, 5 heads of 16) and the Hub's original layout;
# "heads12" has heads of 12, whose square root (the attention's scale) is not
# a whole number, as it is for the heads of 16 and 64 of the other shapes.
CHECKPOINTS = {
    "tiny": dict(layers=2, heads=4, embd=64, positions=128, seed=1, dtype="f32", layout="transformers"),
    "odd": dict(layers=3, heads=5, embd=80, positions=64, seed=2, dtype="f32", layout="hub"),
    "odd_f16": dict(layers=3, heads=5, embd=80, positions=64, seed=2, dtype="f16", layout="hub"),
    "odd_bf16": dict(layers=3, heads=5, embd=80, positions=64, seed=2, dtype="bf16", layout="transformers"),
    "heads12": dict(layers=2, heads=3, embd=36, positions=64, seed=3, dtype="f32", layout="transformers"),
}


def generate_checkpoint(recipe, out):
    """Writes the checkpoint of `recipe` into folder `out`; returns the sha256
    of its `model.safetensors`."""
    args = ["cargo", "run", "--release", "-q", "-p", "engine", "--example", "random_checkpoint", "--", out]
    for key in ("layers", "heads", "embd", "positions", "seed", "dtype", "layout"):
        args += [f"--{key}", str(recipe[key])]
    subprocess.run(args, cwd=ROOT, check=True)
    with open(os.path.join(out, "model.safetensors"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
