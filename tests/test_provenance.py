"""Every run and evaluation records the commit of the code that made it, when that code is a git
checkout, and says None rather than a wrong commit when it is not."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

import ganlab.version

GIT = shutil.which("git")


def _load_copy(path: Path):
    """ganlab/version.py loaded from `path` (a copy), with its own cache."""
    spec = importlib.util.spec_from_file_location("version_copy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / ".gitignore").write_text("venv/\n")
    (tmp_path / "pkg").mkdir()
    shutil.copy(ganlab.version.__file__, tmp_path / "pkg" / "version.py")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


@pytest.mark.skipif(GIT is None, reason="needs git")
def test_a_checkout_records_its_commit_and_says_when_the_source_differs(repo: Path):
    head = _git(repo, "rev-parse", "--short=12", "HEAD")
    assert _load_copy(repo / "pkg" / "version.py").source_commit() == head
    with (repo / "pkg" / "version.py").open("a") as f:
        f.write("# an edit\n")
    assert _load_copy(repo / "pkg" / "version.py").source_commit() == f"{head}+dirty"


@pytest.mark.skipif(GIT is None, reason="needs git")
def test_an_installed_copy_records_no_commit_even_inside_a_checkout(repo: Path, tmp_path_factory):
    # a virtual environment inside a checkout: git answers rev-parse there, but not for this file
    (repo / "venv").mkdir()
    shutil.copy(repo / "pkg" / "version.py", repo / "venv" / "version.py")
    assert _load_copy(repo / "venv" / "version.py").source_commit() is None
    outside = tmp_path_factory.mktemp("site-packages") / "version.py"
    shutil.copy(repo / "pkg" / "version.py", outside)
    assert _load_copy(outside).source_commit() is None

