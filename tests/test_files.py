"""Result files: never half-written, and read back despite a line cut short by a kill."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganlab.files import atomic_copy, atomic_write, atomic_write_json, read_json, read_json_lines


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "run.json"
    atomic_write_json(target, {"status": "running"})

    def crash(stream):
        stream.write(b'{"status": "comp')
        raise KeyboardInterrupt  # a Ctrl-C halfway through the write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert read_json(target) == {"status": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_written_files_get_the_usual_permissions(tmp_path: Path):
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    atomic_write_json(tmp_path / "eval.json", {})
    assert (tmp_path / "eval.json").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_copy_and_reads(tmp_path: Path):
    (tmp_path / "a.bin").write_bytes(b"\x00weights")
    atomic_copy(tmp_path / "a.bin", tmp_path / "sub" / "b.bin")
    assert (tmp_path / "sub" / "b.bin").read_bytes() == b"\x00weights"
    lines = tmp_path / "metrics.jsonl"
    lines.write_text('{"epoch": 1}\n[1, 2]\n{"epoch": 2}\n{"epo')  # a list, then a line cut short
    assert read_json_lines(lines) == [{"epoch": 1}, {"epoch": 2}]
    assert read_json_lines(tmp_path / "missing") == [] and read_json(tmp_path / "missing") is None
    (tmp_path / "bad.json").write_text("{")
    assert read_json(tmp_path / "bad.json") is None
