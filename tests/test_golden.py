"""The core redesign changed nothing: G's and D's weights after a few steps of each study preset,
and a whole 2-epoch ring run, reproduce the digests recorded before it, bit for bit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))

import record  # noqa: E402

EXPECTED = json.loads((GOLDEN / "digests.json").read_text())


@pytest.fixture(autouse=True)
def same_kernels(one_thread):
    """Bit-identity holds for the kernels the digests were recorded with (the CPU's vector unit)."""
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != EXPECTED["cpu_capability"]:
        pytest.skip(f"digests were recorded on a {EXPECTED['cpu_capability']} CPU, this one is {capability}")


@pytest.mark.parametrize("preset", record.STEP_PRESETS)
def test_training_steps_reproduce_the_recorded_weights(preset: str) -> None:
    assert record.step_digest(preset) == EXPECTED["steps"][preset]


def test_a_ring_run_reproduces_its_records_and_weights() -> None:
    assert record.ring_run_digest() == EXPECTED["ring_run"]
