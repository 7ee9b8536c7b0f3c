"""The study report in a real browser: headless Chromium renders it offline, we check the DOM
and a screenshot. Skipped where Chromium is absent, except in CI (env CI set), where it fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from ganlab.report.html import write_report
from ganlab.study.spec import parse_spec
from ganlab.study.synthetic import fake_study

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def chromium() -> Path:
    if CHROMIUM.is_file():
        return CHROMIUM
    message = f"headless Chromium not found at {CHROMIUM} (Debian: apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must install it")
    pytest.skip(message)


def _browse(chromium: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(chromium), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


def test_study_report_renders_in_headless_chromium(tmp_path: Path, chromium: Path):
    spec = parse_spec(
        {
            "name": "browser",
            "metrics": ["fid", "coverage"],
            "experiments": [
                {"id": 4, "control": "fc", "variants": ["fc-dropout-d-30"], "claim": "dropout in D helps", "expected": "better"}
            ],
        },
        "test",
    )
    study = tmp_path / "study"

    def scores(name: str, seed: int) -> dict[str, float]:
        return {"fid": (20.0 if name == "fc" else 10.0) + seed, "coverage": (0.4 if name == "fc" else 0.6) + seed / 100}

    fake_study(study, spec, 2, scores, {"fid": False, "coverage": True}, {"fid": 0.5, "coverage": 0.97}, epochs_scale=0.1,
               failed={("fc", 1): "out of memory"})  # fmt: skip
    page = write_report(study, max_frames=3).path
    url = page.resolve().as_uri()  # file://, no server

    dom = _browse(chromium, tmp_path / "profile", "--dump-dom", url).stdout
    summary = re.search(r'<table id="summary">(.*?)</table>', dom, re.S)
    assert summary, "no summary table in the rendered DOM"
    assert "fc-dropout-d-30" in summary.group(1) and "dropout in D helps" in summary.group(1)
    images = re.findall(r"<img [^>]*src=\"data:image/(png|gif);base64,", dom)
    # 2 sample grids, loss curves, metric curves; a GIF for each of the 4 runs (the failed one too)
    assert images.count("png") == 4 and images.count("gif") == 4
    assert 'id="failures"' in dom and "out of memory" in dom

    shot = tmp_path / "report.png"
    _browse(chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000", url)
    picture = Image.open(shot).convert("L")
    assert picture.size == (1280, 2000)
    low, high = picture.getextrema()
    assert high - low > 200  # not a blank page: dark text on a light background
    histogram = picture.histogram()
    assert sum(histogram[:128]) > 0.005 * 1280 * 2000  # a fair amount of ink
    if os.environ.get("GANLAB_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["GANLAB_KEEP_SCREENSHOT"])
