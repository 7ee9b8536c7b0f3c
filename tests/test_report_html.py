"""The HTML report from made-up run directories: verdicts, floors, pictures, escaping, GIFs; and
the loss and metric plots that `PlotWriter` draws as a run trains."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from ganlab.cli import app
from ganlab.config import load_preset
from ganlab.names import fmt
from ganlab.report.gif import pick_frames, samples_gif
from ganlab.report.html import write_report
from ganlab.report.plots import PlotWriter, plot_losses, plot_metrics
from ganlab.report.studies import study_views
from ganlab.rundir import RunDir
from ganlab.study.spec import parse_spec
from ganlab.study.synthetic import fake_run, fake_study
from ganlab.train.hooks import EpochResult

HIGHER = {"fid": False, "coverage": True, "classes_covered": True}
FLOOR = {"fid": 0.5, "coverage": 0.97, "classes_covered": 10}
EVIL = "<script>alert('x')</script>"


def scores(name: str, seed: int) -> dict[str, float]:
    """fc-dropout-d-30 clearly better than fc on FID and coverage; fc-dropout-g-40 the same as fc."""
    jitter = [0.0, 0.3, -0.2][seed]
    if name == "fc-dropout-d-30":
        return {"fid": 20 + jitter, "coverage": 0.60 + jitter / 10, "classes_covered": 10}
    if name == "fc-dropout-g-40":
        return {"fid": 40 - jitter, "coverage": 0.40 - jitter / 10, "classes_covered": 10}
    return {"fid": 40 + jitter, "coverage": 0.40 + jitter / 10, "classes_covered": 10 - (seed == 1)}


def make_study(tmp_path: Path, floor: dict | None = FLOOR, failed: dict | None = None) -> Path:
    spec = parse_spec(
        {
            "name": "mini",
            "description": f"made up {EVIL}",
            "metrics": ["fid", "coverage", "classes_covered"],
            "experiments": [
                {"id": 3, "title": "dropout in G", "control": "fc", "variants": ["fc-dropout-g-40"],
                 "claim": "no visible difference", "expected": "same"},
                {"id": 4, "title": f"dropout in D {EVIL}", "control": "fc", "variants": ["fc-dropout-d-30"],
                 "claim": f"dropout in D helps: G learned more detail {EVIL}", "expected": "better"},
            ],
        },
        "test",
    )  # fmt: skip
    study = tmp_path / "study"
    fake_study(study, spec, 3, scores, HIGHER, floor, epochs_scale=0.1, failed=failed)
    return study


def test_verdicts_from_synthetic_runs(tmp_path: Path):
    views = study_views(make_study(tmp_path), pictures=False)
    by_variant = {v.variant: v for v in views["comparisons"]}
    d = by_variant["fc-dropout-d-30"]
    assert (d.n_variant, d.n_control, d.overall, d.agrees) == (3, 3, "better", "agrees")
    fid = next(c for c in d.comparisons if c.metric == "fid")
    assert fid.difference == pytest.approx(-20.0) and fid.verdict == "better" and fid.p_value < 0.001
    g = by_variant["fc-dropout-g-40"]
    assert g.overall == "no significant difference" and g.agrees == "agrees"
    assert views["floor"] == FLOOR and views["counts"] == {"done": 9}


def test_study_report_page(tmp_path: Path):
    study = make_study(tmp_path, failed={("fc-dropout-g-40", 2): f"exploded {EVIL}"})
    result = CliRunner().invoke(app, ["report", str(study), "--max-frames", "2"])
    assert result.exit_code == 0, result.output
    html = (study / "report.html").read_text()
    # Summary first, one row per variant, each verdict and the study's claim beside it.
    summary = re.search(r'<table id="summary">(.*?)</table>', html, re.S).group(1)
    assert summary.count("<tr>") == 3  # header + 2 variants
    assert "dropout in D helps" in summary and "✓ agrees" in summary
    assert html.index('id="summary"') < html.index('id="experiments"')
    # Only two seeds remain for fc-dropout-g-40: its row says 2 / 3.
    assert "2 / 3" in summary
    # Failures section with the run's status and its log, escaped.
    assert 'id="failures"' in html and "fc-dropout-g-40 seed-2" in html and "RuntimeError: exploded" in html
    # Every user string is escaped; nothing executable, nothing fetched from the network.
    assert EVIL not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs and all(s.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for s in srcs)
    # Side-by-side grids at the same epoch, loss and metric curves per experiment, a GIF per run.
    assert html.count('class="grid"') == 4 and html.count("Losses and discriminator outputs") == 2
    assert html.count('class="gif"') == 9  # the failed run still has pictures of its first epoch
    assert "real-data floor" in html and "(floor 0.5)" in html


def test_report_says_when_the_floor_is_missing(tmp_path: Path):
    html = write_report(make_study(tmp_path, floor=None)).path.read_text()
    assert "Real-data floor: not available." in html


def test_single_run_report(tmp_path: Path):
    config = load_preset("fc", ["train.epochs=3", f"description=<b>{EVIL}</b>"])  # names are folder names
    run = fake_run(tmp_path / "run", config, {"fid": 12.5, "coverage": 0.7}, HIGHER, FLOOR)
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path / "page.html")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "page.html").read_text()
    assert EVIL not in html and "&lt;b&gt;" in html
    assert 'id="summary"' in html and "12.5" in html and "0.97" in html  # score beside its floor
    assert html.count("data:image/gif;base64,") == 1 and 'id="failures"' not in html
    assert "Metrics during training" in html and "No metric curves" not in html


def test_single_run_report_of_a_failed_unscored_run(tmp_path: Path):
    config = load_preset("ring", ["train.epochs=2"])
    run = fake_run(tmp_path / "run", config, None, {}, status="failed", epochs_done=1, error="ValueError: bad <x>",
                   log="line 1\nValueError: bad <x>\n")  # fmt: skip
    html = write_report(run).path.read_text()
    assert 'id="failures"' in html and "ValueError: bad &lt;x&gt;" in html and "Not scored yet" in html


def test_report_of_a_directory_that_is_neither_exits_2(tmp_path: Path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "neither a run directory" in result.stderr


def test_gif_has_one_labelled_frame_per_epoch(tmp_path: Path):
    run = fake_run(tmp_path / "run", load_preset("fc", ["train.epochs=5"]), None, {})
    gif = Image.open(io.BytesIO(samples_gif(run / "samples", max_frames=3)))
    assert gif.format == "GIF" and gif.n_frames == 3
    assert gif.size[0] <= 360  # the 2x upscaled grid is reduced back
    small = Image.open(io.BytesIO(samples_gif(run / "samples", max_frames=3, max_side=160, crop=True)))
    assert small.size[0] <= 160 and small.size[0] < gif.size[0] / 1.5  # a quarter of the grid, reduced
    assert samples_gif(tmp_path / "nowhere") is None
    assert pick_frames(list(range(1, 11)), 4) == [1, 4, 7, 10]
    assert pick_frames([1, 2], 5) == [1, 2]


def test_number_formatting():
    assert fmt(float("nan")) == "–" and fmt(None) == "–" and fmt(10.0) == "10" and fmt(0.123456) == "0.1235"


def test_verdicts_table_counts_the_runs_the_monitors_flagged(tmp_path: Path):
    study = make_study(tmp_path)
    run_json = study / "runs" / "fc-dropout-d-30" / "seed-1" / "run.json"
    run_json.write_text(run_json.read_text().replace('"events": []', '"health": "collapsed", "events": []'))
    result = CliRunner().invoke(app, ["study", "verdicts", str(study), "--markdown"])
    assert result.exit_code == 0, result.output
    rows = {line.split(" | ")[1]: line for line in result.output.splitlines() if " vs " in line}
    assert rows["fc-dropout-d-30 vs fc"].endswith("| 1/3 collapsed / 0/3 |")
    assert rows["fc-dropout-g-40 vs fc"].endswith("| 0/3 / 0/3 |")
    run_json = study / "runs" / "fc" / "seed-2" / "run.json"
    run_json.write_text(run_json.read_text().replace('"events": []', '"health": "d-wins", "events": []'))
    run_json = study / "runs" / "fc" / "seed-0" / "run.json"
    run_json.write_text(run_json.read_text().replace('"events": []', '"health": "collapsed", "events": []'))
    result = CliRunner().invoke(app, ["study", "verdicts", str(study), "--markdown"])
    assert "| 0/3 / 2/3: 1 collapsed, 1 d-wins |" in result.output


def test_verdicts_table_shows_the_real_data_floor(tmp_path: Path):
    study = make_study(tmp_path)
    result = CliRunner().invoke(app, ["study", "verdicts", str(study), "--markdown"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert "real-data floor" in last and "| 0.5 |" in last and "| 0.97 |" in last
    without = make_study(tmp_path / "nofloor", floor=None)
    last = CliRunner().invoke(app, ["study", "verdicts", str(without), "--markdown"]).output.strip().splitlines()[-1]
    assert "real-data floor" in last and "n/a" in last


def _with_events(run: Path, health: str, events: list[dict]) -> None:
    info = json.loads((run / "run.json").read_text())
    info.update(health=health, health_worst=health, events=events)
    (run / "run.json").write_text(json.dumps(info))


COLLAPSE = {
    "step": 8, "epoch": 2, "x": 2.0, "monitor": "collapse", "signal": "classes_covered", "value": 4.0,
    "threshold": 8.0, "message": "4 of 10 classes covered (< 8)", "status": "collapsed", "action": "warn",
    "until_step": None, "until_x": None,
}  # fmt: skip


def test_reports_show_each_runs_health_and_events(tmp_path: Path):
    config = load_preset("fc", ["train.epochs=3"])
    run = fake_run(tmp_path / "run", config, {"fid": 12.5, "coverage": 0.7}, HIGHER, FLOOR)
    _with_events(run, "collapsed", [COLLAPSE])
    html = write_report(run).path.read_text()
    events = re.search(r'<table class="events">(.*?)</table>', html, re.S).group(1)
    assert "4 of 10 classes covered (&lt; 8)" in events and "collapse: classes_covered" in events and "open" in events
    assert 'health <span class="health collapsed"' in html and "1 event;" in html

    quiet = fake_run(tmp_path / "quiet", config, None, {})
    _with_events(quiet, "healthy", [])
    quiet_html = write_report(quiet).path.read_text()
    assert "No monitor fired" in quiet_html and "(no failure seen)" in quiet_html
    # the fc preset's description says 30 epochs; this run has 3
    assert "30 epochs (the preset&#39;s description; this run: 3 epochs)" in quiet_html

    study = make_study(tmp_path / "study")
    _with_events(study / "runs" / "fc-dropout-d-30" / "seed-1", "collapsed", [COLLAPSE])
    page = write_report(study).path.read_text()
    assert page.count('<span class="health collapsed"') == 2  # the run's health, and its event's status
    assert "1 event</summary>" in page


def epoch_records(epoch: int, fid: float | None = None, steps: int = 2) -> list[dict]:
    """One epoch's metrics.jsonl records as training writes them: steps, the epoch's means, an eval."""
    stats = {"d_loss": 0.6 + 0.1 * epoch, "g_loss": 1.2 - 0.1 * epoch, "d_real": 0.7, "d_fake": 0.3}
    records = [
        {"kind": "step", "epoch": epoch, "step": (epoch - 1) * steps + i, "x": epoch - 1 + i / steps} | stats
        for i in range(1, steps + 1)
    ]
    records.append({"kind": "epoch", "epoch": epoch, "step": epoch * steps} | stats)
    if fid is not None:
        records.append({"kind": "eval", "epoch": epoch, "step": epoch * steps, "fid": fid, "coverage": 0.5})
    return records


def finish_epoch(run: RunDir, plots: PlotWriter, epoch: int, fid: float | None = None, events=()) -> None:
    """What the loop does at the end of an epoch: append the records, then call the hook."""
    records = epoch_records(epoch, fid)
    run.append_metrics(records)
    scores = {"fid": fid, "coverage": 0.5} if fid is not None else {}
    plots.on_epoch(EpochResult(epoch=epoch, step=epoch * 2, records=records, events=list(events), scores=scores))


def drawn_from_the_log(run: RunDir, tmp_path: Path, events=()) -> tuple[bytes, bytes]:
    """The two plots drawn from the whole of metrics.jsonl, as training drew them every epoch."""
    history, name = run.read_metrics(), "fc"
    plot_losses(history, tmp_path / "losses.png", title=f"{name}: losses", events=events)
    plot_metrics(history, tmp_path / "metrics.png", title=f"{name}: sample quality", events=events)
    return (tmp_path / "losses.png").read_bytes(), (tmp_path / "metrics.png").read_bytes()


def test_plot_writer_draws_the_plots_each_epoch_without_rereading_the_log(tmp_path: Path, monkeypatch):
    config = load_preset("fc", ["train.epochs=3"])
    run = RunDir(tmp_path / "run")
    run.create(config)
    plots = PlotWriter(run, config)
    monkeypatch.setattr(RunDir, "read_metrics", lambda self: pytest.fail("metrics.jsonl read again"))
    finish_epoch(run, plots, 1)
    assert (run.plots / "losses.png").is_file() and not (run.plots / "metrics.png").is_file()  # nothing scored yet
    finish_epoch(run, plots, 2, fid=30.0)
    drawn_at_2 = (run.plots / "metrics.png").stat().st_ino  # each drawing replaces the file
    finish_epoch(run, plots, 3)
    plots.close()
    assert (run.plots / "metrics.png").stat().st_ino == drawn_at_2  # no scores, no events: not redrawn
    monkeypatch.undo()
    assert plots.history == run.read_metrics()
    losses, metrics = drawn_from_the_log(run, tmp_path)
    assert (run.plots / "losses.png").read_bytes() == losses  # the same pictures as from the whole log
    assert (run.plots / "metrics.png").read_bytes() == metrics


def test_plot_writer_continues_the_history_of_a_resumed_run(tmp_path: Path):
    config = load_preset("fc", ["train.epochs=3"])
    run = RunDir(tmp_path / "run")
    run.create(config)
    run.append_metrics(epoch_records(1, fid=40.0) + epoch_records(2) + epoch_records(3)[:1])  # killed in epoch 3
    plots = PlotWriter(run, config)  # before the resume drops what came after the checkpoint of epoch 2
    run.truncate_metrics(2)
    (run.plots / "metrics.png").write_bytes(b"drawn before the kill")
    finish_epoch(run, plots, 3, events=[COLLAPSE])
    assert plots.history == run.read_metrics() and [r["epoch"] for r in plots.history].count(3) == 3
    losses, metrics = drawn_from_the_log(run, tmp_path, events=[COLLAPSE])
    assert (run.plots / "losses.png").read_bytes() == losses
    assert (run.plots / "metrics.png").read_bytes() == metrics  # an event to mark: redrawn with epoch 1's scores


def test_verdicts_fit_100_columns_one_block_per_variant(tmp_path: Path):
    study = make_study(tmp_path)
    result = CliRunner().invoke(app, ["study", "verdicts", str(study)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    title, *lines = result.output.splitlines()  # the title holds the study's path, however long
    assert title.startswith("verdicts: ") and max(len(line) for line in lines) <= 100, max(lines, key=len)
    assert any(line.startswith("4. fc-dropout-d-30 vs fc (seeds 3/3)") for line in lines)
    assert lines[-1].startswith("real-data floor: ")
