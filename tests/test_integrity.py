"""Nothing silent: a damaged checkpoint or weights file is an error naming the file, on every load;
a run directory has one writer at a time; --out never overwrites a folder that is not a run."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
import torch
from torch import nn

from ganlab.train.checkpoint import CheckpointError, load_checkpoint, load_weights, save_checkpoint, save_weights


def _modules() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {"g": nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8)), "d": nn.Linear(8, 1)}


def _data_start(path: Path) -> int:
    """Where a safetensors file's tensor bytes begin: after the 8-byte length and the header."""
    (header_len,) = struct.unpack("<Q", path.read_bytes()[:8])
    return 8 + header_len


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", [0, 17, -1])  # first, a middle and the last byte of the tensor data
def test_a_flipped_bit_in_the_tensor_data_is_detected_on_load(tmp_path: Path, where: int):
    path = tmp_path / "w.safetensors"
    save_weights(path, _modules(), {"epoch": "3"})
    size = path.stat().st_size
    _flip(path, _data_start(path) + where if where >= 0 else size + where)
    with pytest.raises(CheckpointError, match=f"{path}: damaged: its tensors do not match the SHA-256"):
        load_weights(path, _modules())


def test_a_flipped_bit_in_a_checkpoints_optimizer_state_is_detected(tmp_path: Path):
    modules = _modules()
    opt = {"g": torch.optim.Adam(modules["g"].parameters())}
    modules["g"](torch.randn(5, 4)).sum().backward()
    opt["g"].step()
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, modules, opt, {"rng_cpu": torch.get_rng_state()}, {"epoch": 1})
    _flip(path, path.stat().st_size - 3)  # inside the last tensor: the RNG state or an Adam moment
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path, _modules(), opt)


def test_an_intact_file_loads_and_an_old_file_without_a_digest_still_does(tmp_path: Path):
    from safetensors.torch import save_file

    path = tmp_path / "w.safetensors"
    save_weights(path, _modules())
    target = _modules()
    load_weights(path, target)
    old = tmp_path / "old.safetensors"  # as ganlab wrote them before the digest
    save_file({f"{n}.{k}": v for n, m in _modules().items() for k, v in m.state_dict().items()}, str(old))
    load_weights(old, target)


def test_a_run_name_is_one_folder_name():
    from ganlab.config import ConfigError, load_preset

    for bad in ("../../x", "a/b", ".hidden", "x" * 101):
        with pytest.raises(ConfigError, match="name: expected a single folder name"):
            load_preset("ring", [f"name={bad}"])
    assert load_preset("ring", ["name=ring-v2.1"]).name == "ring-v2.1"


def test_out_refuses_a_folder_that_holds_other_files(tmp_path: Path):
    from ganlab.config import load_preset
    from ganlab.errors import GanlabError
    from ganlab.rundir import RunDir

    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("precious")
    with pytest.raises(GanlabError, match="is not empty \\(chapter1.tex\\) and not a ganlab run"):
        RunDir(folder).create(load_preset("ring"))
    assert sorted(p.name for p in folder.iterdir()) == ["chapter1.tex"]


def _hold(path: str, ready, release) -> None:
    from ganlab.rundir import RunDir

    with RunDir(Path(path)).lock("training"):
        ready.set()
        release.wait(30)


def test_a_second_writer_is_refused_naming_the_first_and_the_lock_dies_with_it(tmp_path: Path):
    import multiprocessing as mp

    from ganlab.rundir import RunDir, RunLockedError

    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path / "run"), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(RunLockedError, match=f"in use by pid {holder.pid} on .* \\(training\\)"):
            with RunDir(tmp_path / "run").lock("resume"):
                pass
    finally:
        holder.kill()  # no clean exit: the kernel releases the lock
        holder.join()
    with RunDir(tmp_path / "run").lock("resume"):
        pass
