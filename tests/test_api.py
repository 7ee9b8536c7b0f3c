"""The README's Python API example runs as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ganlab.version import source_commit

README = Path(__file__).parents[1] / "README.md"


def test_the_readmes_api_example_runs(tmp_path: Path, monkeypatch, capsys, one_thread):
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md (Python API)", "exec"), {})
    run = tmp_path / "runs" / "ring-api"
    assert (run / "eval.json").is_file() and (run / "weights" / "final.safetensors").is_file()
    assert (tmp_path / "ring.png").is_file() and (run / "plots" / "losses.png").is_file()
    assert "modes_covered" in capsys.readouterr().out
    # both records name the code that made them (None outside a git checkout)
    commit = source_commit()
    for record in ("run.json", "eval.json"):
        assert json.loads((run / record).read_text())["versions"]["commit"] == commit
