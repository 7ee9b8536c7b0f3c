"""Run records read through one validating layer: damage is a one-line error naming the file (and
line), a kill's torn last line is repaired and said, and a resume that would lose or rewrite
records, or go on with an edited config, is refused unless asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganlab.api import train
from ganlab.config import load_preset
from ganlab.rundir import RecordError, RunDir, read_records
from ganlab.train.checkpoint import load_checkpoint
from ganlab.train.resume import check_resume

SMALL = ["train.epochs=3", "train.ring_size=1024", "model.g.hidden=[16]", "model.d.hidden=[16]"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A 3-epoch ring run, trained once; tests copy it."""
    return train(load_preset("ring", SMALL), tmp_path_factory.mktemp("runs") / "ring", progress="quiet", device="cpu").path


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> RunDir:
    import shutil

    return RunDir(Path(shutil.copytree(finished, tmp_path / "run")))


def _info(run: RunDir) -> dict:
    from ganlab.models import build_discriminator, build_generator

    config = run.read_config()
    return load_checkpoint(run.checkpoint, {"g": build_generator(config), "d": build_discriminator(config)}, {})[1]


def test_an_intact_run_resumes_with_nothing_to_say(run: RunDir):
    assert check_resume(run, _info(run), run.read_config()) == []


def test_a_torn_last_line_is_dropped_and_said(run: RunDir):
    with run.metrics_path.open("a") as f:
        f.write('{"kind": "step", "epo')
    records, torn = read_records(run.metrics_path)
    assert torn and records == run.read_metrics()
    assert check_resume(run, _info(run), run.read_config()) == [
        "metrics.jsonl: its last line was cut short by a kill; dropped (it is written again)"
    ]


@pytest.mark.parametrize("damage", [b"{not json}\n", b"\xff\xfe\n", b"[1, 2]\n", b'{"kind": "step"}\n'])
def test_a_damaged_line_in_the_middle_names_the_file_and_line(run: RunDir, damage: bytes):
    lines = run.metrics_path.read_bytes().split(b"\n")
    run.metrics_path.write_bytes(b"\n".join(lines[:5]) + b"\n" + damage + b"\n".join(lines[5:]))
    with pytest.raises(RecordError, match=r"metrics.jsonl:6: damaged record"):
        run.read_metrics()


def test_a_deleted_checkpoint_is_refused_unless_rewriting_is_asked_for(run: RunDir):
    run.checkpoint.unlink()
    with pytest.raises(RecordError, match="there is no checkpoint, but metrics.jsonl holds epochs up to 3"):
        check_resume(run, None, run.read_config())
    assert check_resume(run, None, run.read_config(), rewrite=True) == [
        "no checkpoint: restarting from step 0",
        "metrics.jsonl: epochs 2-3 are trained again and their records rewritten",
    ]


def test_a_checkpoint_claiming_epoch_999_is_damaged(run: RunDir):
    info = _info(run) | {"epoch": 999}
    with pytest.raises(RecordError, match="last.safetensors: damaged: it claims epoch 999, but"):
        check_resume(run, info, run.read_config())


def test_an_edited_config_is_refused_naming_the_keys_unless_accepted(run: RunDir):
    text = run.config_path.read_text().replace("lr: 0.001", "lr: 0.01")
    run.config_path.write_text(text)
    with pytest.raises(RecordError, match=r"config.yaml differs .* \(optim.d.lr, optim.g.lr\)"):
        check_resume(run, _info(run), run.read_config())
    notes = check_resume(run, _info(run), run.read_config(), config_change=True)
    assert notes == ["config changed on resume at epoch 3: optim.d.lr, optim.g.lr"]


@pytest.mark.parametrize(
    "content,reason",
    [(b"\xff\xfe", "not UTF-8"), (b'{"status": "run', "not JSON"), (b"[]", "expected a JSON object"),
     (b'{"status": "complete", "epochs_done": "3"}', "field epochs_done: expected int")],
)  # fmt: skip
def test_a_damaged_run_json_is_one_line_naming_the_file(run: RunDir, content: bytes, reason: str):
    run.info_path.write_bytes(content)
    with pytest.raises(RecordError, match=f"run.json: damaged \\({reason}") as caught:
        run.read_info()
    assert "\n" not in str(caught.value)


def test_a_non_utf8_config_is_one_line_naming_the_file(run: RunDir):
    run.config_path.write_bytes(b"name: \xff\n")
    with pytest.raises(RecordError, match="config.yaml: damaged \\(not UTF-8\\)"):
        run.read_config()
