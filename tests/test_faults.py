"""Fault injection: every command that reads a run, given a damaged artefact of every kind, exits 0
with correct output or 2 with a one-line message and no traceback, and changes no file it was not
asked to write (issue 14)."""

from __future__ import annotations

import hashlib
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganlab.api import train
from ganlab.cli import app
from ganlab.config import load_preset

SMALL = ["train.epochs=2", "train.ring_size=1024", "model.g.hidden=[16]", "model.d.hidden=[16]"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A finished 2-epoch ring run, trained once."""
    return train(load_preset("ring", SMALL), tmp_path_factory.mktemp("runs") / "ring", progress="quiet", device="cpu").path


def _truncate(fraction: float) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return damage


def _flip(where: str) -> Callable[[Path], None]:
    """Flip a bit: in a safetensors file's header (its JSON), or in its tensor data; elsewhere at
    the middle byte."""

    def damage(path: Path) -> None:
        data = bytearray(path.read_bytes())
        offset = len(data) // 2
        if path.suffix == ".safetensors":
            (header,) = struct.unpack("<Q", bytes(data[:8]))
            offset = 8 + header // 2 if where == "header" else 8 + header + (len(data) - 8 - header) // 2
        data[offset] ^= 0x04
        path.write_bytes(bytes(data))

    return damage


DAMAGES: dict[str, Callable[[Path], None]] = {
    "empty": lambda p: p.write_bytes(b""),
    "truncated-1": _truncate(0.01),
    "truncated-half": _truncate(0.5),
    "truncated-last": lambda p: p.write_bytes(p.read_bytes()[:-1]),
    "flip-header": _flip("header"),
    "flip-data": _flip("data"),
    "not-utf8": lambda p: p.write_bytes(b"\xff\xfe\x00garbage\x80"),
    "wrong-shape": lambda p: p.write_text("[1, 2, 3]\n"),
    "deleted": lambda p: p.unlink(),
}
ARTEFACTS = ["run.json", "config.yaml", "metrics.jsonl", "checkpoints/last.safetensors", "weights/final.safetensors"]
COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "resume": lambda run, out: ["train", "--resume", str(run), "--quiet"],
    "sample": lambda run, out: ["sample", str(run), "--out", str(out / "grid.png")],
    "eval": lambda run, out: ["eval", str(run), "--n", "64", "--device", "cpu"],
    "report": lambda run, out: ["report", str(run), "--out", str(out / "report.html")],
}
WRITES = {"eval": {"eval.json"}}  # what a command is asked to write inside the run


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("artefact", ARTEFACTS)
def test_a_damaged_artefact_is_a_one_line_error_or_a_correct_answer(
    pristine: Path, tmp_path: Path, artefact: str, damage: str, command: str
):
    run = Path(shutil.copytree(pristine, tmp_path / "run"))
    DAMAGES[damage](run / artefact)
    before = _digests(run)
    result = CliRunner().invoke(app, COMMANDS[command](run, tmp_path))
    output = result.output.strip()
    assert "Traceback" not in output and not isinstance(result.exception, Exception) or result.exit_code in (0, 2), output
    assert result.exit_code in (0, 2), f"exit {result.exit_code}: {output[-600:]}"
    if result.exit_code == 2:
        assert output.startswith("error: ") and "\n" not in output, output
    changed = {k for k in before.keys() | _digests(run).keys() if before.get(k) != _digests(run).get(k)}
    assert changed <= WRITES.get(command, set()), f"changed {changed}"


@pytest.mark.parametrize("artefact", ["run.json", "config.yaml", "metrics.jsonl"])
def test_a_report_shows_a_damaged_run_as_damaged_and_exits_2(pristine: Path, tmp_path: Path, artefact: str):
    run = Path(shutil.copytree(pristine, tmp_path / "run"))
    DAMAGES["flip-header" if artefact == "config.yaml" else "wrong-shape"](run / artefact)
    if artefact == "config.yaml":
        (run / artefact).write_text("model:\n  g: {}\n")  # cut short: most sections gone
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path / "report.html")])
    assert result.exit_code == 2, result.output
    assert "damaged" in result.output and artefact in result.output, result.output
    page = (tmp_path / "report.html").read_text()
    assert 'class="state damaged"' in page and artefact in page
