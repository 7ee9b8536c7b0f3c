"""Golden digests: what the core computes, recorded before the core redesign (issue 11).

`digests()` trains each preset a few steps on fixed data and hashes G's and D's weights, and runs
the ring preset for 2 epochs through the whole loop and hashes its metrics records. The test
(`tests/test_golden.py`) asserts the current code reproduces `digests.json` bit for bit.

    python tests/golden/record.py   # rewrite digests.json (only on purpose: it is the reference)
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).parent
STEP_PRESETS = ("ring", "fc", "fc-batchnorm-g", "fc-dropout-d-30", "fc-sgd-d", "conv-g")
STEPS = 3


def tensor_digest(tensors) -> str:
    """SHA-256 of the tensors' bytes, in order."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def fixed_images(n: int = 512) -> torch.Tensor:
    """MNIST-shaped uint8 images from their own generator (never the global RNG)."""
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1234))


def step_digest(preset: str) -> str:
    """G's and D's state after STEPS training steps of `preset`, as `train()` would take them."""
    from adapter import run_steps

    g, d = run_steps(preset, STEPS, fixed_images())
    return tensor_digest([*g.state_dict().values(), *d.state_dict().values()])


def ring_run_digest() -> dict[str, str]:
    """The ring preset for 2 epochs of 20 steps through `train()`: metrics records and weights."""
    from adapter import train_ring

    with tempfile.TemporaryDirectory() as tmp:
        metrics, weights = train_ring(Path(tmp) / "ring")
        return {"metrics.jsonl": hashlib.sha256(metrics).hexdigest(), "final": weights}


def digests() -> dict:
    torch.set_num_threads(1)
    return {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__.split("+")[0],
        "steps": {preset: step_digest(preset) for preset in STEP_PRESETS},
        "ring_run": ring_run_digest(),
    }


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    result = digests()
    (HERE / "digests.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
