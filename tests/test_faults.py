"""Fault injection: every command that reads a run, given a damaged artefact of every kind, exits 0
with correct output or 2 with a one-line message and no traceback, and changes no file it was not
asked to write (issue 14)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import traceback
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


def _assert_answer_or_one_line_error(name: str, code: int, output: str) -> None:
    """Exit 0, or exit 2 with one `error: ...` line; never a crash (exit 1) or a traceback."""
    assert code in (0, 2) and "Traceback" not in output, f"{name}: exit {code}: {output[-600:]}"
    if code == 2:
        assert output.startswith("error: ") and "\n" not in output, f"{name}: {output}"


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
    _assert_answer_or_one_line_error(command, result.exit_code, result.output.strip())
    after = _digests(run)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
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


# A read-only run folder: what must write into the run refuses in one line; the rest works -------

def run_commands(run: str, out: str) -> dict[str, list]:
    """Every command of COMMANDS on `run`, in this process: {command: [exit code, output]}."""
    results = {}
    for name, command in COMMANDS.items():
        result = CliRunner().invoke(app, command(Path(run), Path(out)))
        crash = "".join(traceback.format_exception(result.exception)) if result.exit_code not in (0, 2) else ""
        results[name] = [result.exit_code, result.output.strip() + crash]
    return results


# Root ignores file permissions through CAP_DAC_OVERRIDE: a root test runs the commands in a child
# without it (and without CAP_DAC_READ_SEARCH), for which the permissions hold.
CHILD = """import json, sys, test_faults
run, out = sys.argv[1:]
try:
    open(run + "/probe", "w")
except PermissionError:
    print(json.dumps(test_faults.run_commands(run, out)))
else:
    print("writable")
"""


def _without_dac_override(run: Path, out: Path) -> dict[str, list]:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, and no setpriv (util-linux) to drop CAP_DAC_OVERRIDE: permissions are not enforced")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--", sys.executable, "-c", CHILD, str(run), str(out)]
    child = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if child.returncode != 0 and "setpriv" in child.stderr:
        pytest.skip(f"running as root, and setpriv cannot drop CAP_DAC_OVERRIDE here: {child.stderr.strip()[:200]}")
    assert child.returncode == 0, child.stderr[-2000:]
    last = child.stdout.strip().splitlines()[-1]
    if last == "writable":
        pytest.skip("running as root with CAP_DAC_OVERRIDE kept: a read-only folder cannot be made here")
    return json.loads(last)


def test_a_read_only_run_folder_refuses_writes_in_one_line_and_serves_reads(pristine: Path, tmp_path: Path):
    """The run cannot be written: resume and eval (which write into it) refuse in one line;
    sample and report (writing elsewhere) work; nothing in the run changes."""
    run, out = Path(shutil.copytree(pristine, tmp_path / "run")), tmp_path / "out"
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))  # so that resume has work
    out.mkdir()
    before = _digests(run)
    try:
        for path in [run, *run.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        results = _without_dac_override(run, out) if os.geteuid() == 0 else run_commands(str(run), str(out))
    finally:
        for path in [run, *run.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    for command, (code, output) in results.items():
        _assert_answer_or_one_line_error(command, code, output)
    assert [results[c][0] for c in COMMANDS] == [2, 0, 2, 0], results  # resume, sample, eval, report
    assert _digests(run) == before


# Studies: `study status` and `study verdicts` over a study whose files are damaged --------------

STUDY_SPEC = {
    "name": "ring-faults", "description": "two ring configs", "set": ["train.ring_size=1280", "train.epochs=2"],
    "configs": {"ring-b": {"preset": "ring", "set": ["optim.g.lr=0.0001"]}}, "metrics": ["modes_covered"],
    "experiments": [{"id": 1, "title": "slow G", "control": "ring", "variants": ["ring-b"], "claim": "-", "expected": "worse"}],
}  # fmt: skip
RUN = "runs/ring-b/seed-0"
STUDY_ARTEFACTS = [
    "study.yaml", "floor.json", f"{RUN}/run.json", f"{RUN}/config.yaml", f"{RUN}/metrics.jsonl", f"{RUN}/eval.json",
    f"{RUN}/study-run.json",
]  # fmt: skip
STUDY_COMMANDS = {"status": ["study", "status"], "verdicts": ["study", "verdicts"]}


@pytest.fixture(scope="module")
def pristine_study(tmp_path_factory) -> Path:
    """A finished made-up study of 2 configs x 2 seeds (no training), each run with its marker."""
    from ganlab.study.spec import parse_spec
    from ganlab.study.synthetic import fake_study

    study = tmp_path_factory.mktemp("studies") / "study"
    scores = lambda name, seed: {"modes_covered": 8.0 - seed - (name == "ring-b")}  # noqa: E731
    fake_study(study, parse_spec(STUDY_SPEC, "test"), 2, scores, {"modes_covered": True}, floor={"modes_covered": 8.0})
    for marker in study.glob("runs/*/seed-*"):
        (marker / "study-run.json").write_text('{"state": "done", "attempt": 1, "exit_code": 0, "error": ""}\n')
    return study


@pytest.mark.parametrize("command", STUDY_COMMANDS)
@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("artefact", STUDY_ARTEFACTS)
def test_a_damaged_study_file_is_a_one_line_error_or_a_correct_answer(
    pristine_study: Path, tmp_path: Path, artefact: str, damage: str, command: str
):
    study = Path(shutil.copytree(pristine_study, tmp_path / "study"))
    DAMAGES[damage](study / artefact)
    before = _digests(study)
    result = CliRunner().invoke(app, [*STUDY_COMMANDS[command], str(study)], env={"COLUMNS": "200"})
    output = result.output.strip()
    _assert_answer_or_one_line_error(command, result.exit_code, output)
    if result.exit_code == 0 and artefact != "study.yaml":  # the other runs are still shown
        assert "ring-b" in output and "ring" in output
    assert _digests(study) == before


@pytest.mark.parametrize("damage", ["not-utf8", "wrong-shape", "truncated-half"])
def test_study_status_shows_a_run_with_a_damaged_run_json_as_damaged(pristine_study: Path, tmp_path: Path, damage: str):
    study = Path(shutil.copytree(pristine_study, tmp_path / "study"))
    DAMAGES[damage](study / RUN / "run.json")
    result = CliRunner().invoke(app, ["study", "status", str(study)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "ring-b" in line and " 0 " in line)
    assert "damaged" in row and "run.json" in row, result.output
    assert "3/4 runs done" in result.output
