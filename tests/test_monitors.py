"""Online failure diagnosis: the detectors on hand-made arrays, the event state machine, and the
failure presets, each caught with the right status; healthy runs raise no alarm."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ganlab.api import resume, train
from ganlab.config import ConfigError, MonitorConfig, load_preset
from ganlab.rundir import RunDir
from ganlab.train import monitors as m
from ganlab.train.monitors import evaluations, samples, steps

CONFIG = MonitorConfig()
# The per-step stats the loop logs for the study's loss, in its order.
STATS = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")
HEALTHY = {"d_loss": 1.2, "g_loss": 0.9, "d_real": 0.6, "d_fake": 0.4, "d_grad_norm": 2.0, "g_grad_norm": 3.0, "gp": 0.5}


def window(n: int = 50, names: tuple[str, ...] = STATS, **columns: float) -> dict[str, np.ndarray]:
    """Per-step stats of a healthy-looking window, with some columns set to constants."""
    return {name: np.full(n, columns.get(name, HEALTHY[name]), dtype=np.float64) for name in names}


def rows(n: int = 50, names: tuple[str, ...] = STATS, **columns: float) -> np.ndarray:
    return np.stack(list(window(n, names, **columns).values()), axis=1)


# Detectors -------------------------------------------------------------------------------------


def test_divergence_catches_nan_inf_weights_and_exploding_gradients():
    assert steps.check_divergence(window(), 10.0, 1000.0) is None
    nan = window()
    nan["g_loss"][7] = np.nan
    found = steps.check_divergence(nan, 10.0, 1000.0)
    assert found.signal == "g_loss" and math.isnan(found.value) and found.threshold is None
    assert "1 of 50 steps" in found.message
    assert steps.check_divergence(window(), math.inf, 1000.0).signal == "weight_norm"
    found = steps.check_divergence(window(d_grad_norm=5000.0), 10.0, 1000.0)
    assert (found.signal, found.value, found.threshold) == ("d_grad_norm", 5000.0, 1000.0)
    spike = window()
    spike["g_grad_norm"][:10] = 1e6  # a few spikes: the median stays low
    assert steps.check_divergence(spike, 10.0, 1000.0) is None


def test_d_wins_needs_all_three_conditions():
    assert steps.d_wins({"d_loss": 0.02, "d_real": 0.99, "d_fake": 0.01}, CONFIG)
    assert not steps.d_wins({"d_loss": 0.02, "d_real": 0.85, "d_fake": 0.01}, CONFIG)
    assert not steps.d_wins({"d_loss": 0.2, "d_real": 0.99, "d_fake": 0.01}, CONFIG)
    assert not steps.d_wins({"d_loss": 0.02, "d_real": 0.99, "d_fake": 0.2}, CONFIG)


def test_span_variance_is_the_variance_of_the_concatenated_windows():
    x = np.random.default_rng(0).normal(size=(10, 50, 2)) * np.linspace(1, 3, 10)[:, None, None]
    expected = x.reshape(-1, 2).var(axis=0)
    got = steps.span_variance(x.mean(axis=1), x.var(axis=1))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_oscillation_compares_with_the_earlier_median():
    earlier = np.array([0.01, 0.012, 0.011, 0.5])  # one earlier outlier does not move the median
    assert steps.check_oscillation(0.05, earlier, 10.0, "g_loss") is None
    found = steps.check_oscillation(0.2, earlier, 10.0, "g_loss")
    assert found.signal == "g_loss_variance" and found.value == pytest.approx(0.2 / 0.0115)
    assert steps.check_oscillation(0.2, np.array([]), 10.0, "g_loss") is None
    assert steps.check_oscillation(math.nan, earlier, 10.0, "g_loss") is None


def test_mean_pairwise_distance_by_hand():
    assert samples.mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    # an equilateral triangle of side 2: every pair at distance 2
    triangle = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, math.sqrt(3)]])
    assert samples.mean_pairwise_distance(triangle) == pytest.approx(2.0)
    assert samples.mean_pairwise_distance(np.ones((5, 3))) == pytest.approx(0.0, abs=1e-6)


def test_class_stats_counts_classes_and_entropy():
    uniform = np.eye(10)[np.arange(500) % 10]
    covered, entropy, kl = samples.class_stats(uniform)
    assert covered == 10 and entropy == pytest.approx(math.log(10)) and kl == pytest.approx(0.0, abs=1e-12)
    ones = np.eye(10)[np.ones(500, dtype=int)]
    assert samples.class_stats(ones) == (1, pytest.approx(0.0), pytest.approx(math.log(10)))
    # a class with fewer than a tenth of its share (5 of 500) is not covered
    labels = np.r_[np.zeros(496, dtype=int), np.full(4, 3)]
    assert samples.class_stats(np.eye(10)[labels])[0] == 1


# What the probe measured (500 samples of its fixed noise) on the generators of full-length runs
# of the seed study, seed 0: `fc` after 30 epochs, the quickstart's run (FID 73.5 on 1,000
# samples; 188 of 500 samples 1s), `conv-g` after 30 (FID 47.5; 0s, 1s and 6s scarce),
# `conv-g-wide` at epoch 20 (FID 42, every digit) and `fc-batchnorm-g` in its first epochs.
RECORDED_PROBES = {
    "fc-30": m.SampleStats(0.711, classes_covered=8, class_entropy=1.796, class_kl=0.465),
    "conv-g-30": m.SampleStats(0.739, classes_covered=9, class_entropy=1.972, class_kl=0.337),
    "conv-g-wide-20": m.SampleStats(0.750, classes_covered=10, class_entropy=2.072, class_kl=0.243),
    "fc-batchnorm-g-3": m.SampleStats(0.663, classes_covered=9, class_entropy=2.079, class_kl=0.224),
}


@pytest.mark.parametrize("run, health", [
    ("fc-30", "partial-collapse"), ("conv-g-30", "healthy"), ("conv-g-wide-20", "healthy"), ("fc-batchnorm-g-3", "healthy"),
])  # fmt: skip
def test_partial_collapse_on_recorded_probes(run: str, health: str):
    stats = RECORDED_PROBES[run]
    assert samples.check_collapse(stats, 0, CONFIG) == []  # what "healthy" missed before
    mon = m.Monitors(CONFIG, STATS, 469, ("fid", False))
    for step in (13000, 13500, 14000):
        mon.observe_samples(step, stats)
    assert mon.health == health
    if health != "healthy":
        [event] = mon.events
        assert (event.monitor, event.signal, event.step) == ("imbalance", "class_kl", 14000)
        assert event.value == pytest.approx(0.465) and "some digits far over or under their share" in event.message


def test_partial_collapse_needs_its_probes_and_clears_on_their_mean():
    mon = m.Monitors(CONFIG, STATS, 469, ("fid", False))
    high, low = RECORDED_PROBES["fc-30"], RECORDED_PROBES["conv-g-wide-20"]
    assert mon.observe_samples(1000, high) == [] and mon.observe_samples(1500, high) == []  # 2 of 3 probes
    [event] = mon.observe_samples(2000, high)
    assert event.status == "partial-collapse" and m.HEALTH_ORDER.index("partial-collapse") > m.HEALTH_ORDER.index("d-wins")
    assert mon.observe_samples(2500, low) == []  # the mean of the last 3 probes: 0.391
    assert mon.health == "healthy" and mon.events[0].until_step == 2500
    again = m.Monitors(CONFIG, STATS, 469, ("fid", False))
    again.load_state_dict(mon.state_dict())
    assert again.recent_kl == mon.recent_kl


def test_collapse_signals():
    assert samples.check_collapse(m.SampleStats(0.9, 10, 2.2), 0, CONFIG) == []
    found = {s.signal: s for s in samples.check_collapse(m.SampleStats(0.1, 3, 1.0), 0, CONFIG)}
    assert set(found) == {"diversity", "classes_covered", "class_entropy"}
    assert found["classes_covered"].value == 3 and found["classes_covered"].threshold == 8
    ring = samples.check_collapse(m.SampleStats(0.9, modes_covered=4), 7, CONFIG)
    assert [(s.signal, s.value, s.threshold) for s in ring] == [("modes_covered", 4, 4)]
    assert samples.check_collapse(m.SampleStats(0.9, modes_covered=5), 7, CONFIG) == []


def test_regression_needs_several_evaluations_worse_than_the_best():
    fid = [80.0, 40.0, 30.0, 31.0, 38.0, 37.0]
    assert evaluations.check_regression(fid, False, 0.2, 3, "fid") is None  # 31 is within 20% of 30
    found = evaluations.check_regression(fid + [40.0], False, 0.2, 3, "fid")
    assert found.value == 40.0 and found.threshold == pytest.approx(36.0) and "fid 40" in found.message
    high_quality = [0.1, 0.5, 0.3, 0.3, 0.2]
    assert evaluations.check_regression(high_quality, True, 0.2, 3, "high_quality").threshold == pytest.approx(0.4)
    assert evaluations.check_regression([30.0, 40.0, 41.0], False, 0.2, 3, "fid") is None  # no best before them


def test_memorisation():
    assert evaluations.check_memorisation(1.05, 0.8) is None
    assert evaluations.check_memorisation(0.3, 0.8).value == 0.3


# The state machine -----------------------------------------------------------------------------


def monitors(**fields) -> m.Monitors:
    return m.Monitors(MonitorConfig(**fields), STATS, steps_per_epoch=100, best_by=("fid", False))


def test_d_wins_is_an_episode_that_ends_when_the_condition_clears():
    mon = monitors(every=50, d_wins_steps=200)
    events = []
    for _ in range(6):
        events += mon.observe_steps(rows(d_loss=0.01, d_real=0.99, d_fake=0.01), 1.0)
    assert [(e.step, e.monitor, e.status, e.epoch, e.x) for e in events] == [(200, "d-wins", "d-wins", 2, 2.0)]
    assert mon.health == "d-wins" and mon.action is None  # the default action only warns
    mon.observe_steps(rows(), 1.0)  # the condition clears: the episode ends, the monitor re-arms
    assert (mon.events[0].until_step, mon.events[0].until_x) == (350, 3.5)
    assert (mon.health, mon.health_worst) == ("healthy", "d-wins")
    assert mon.drain_notes() == ["step 350: d-wins (d_loss) has cleared, since step 200"]
    for _ in range(4):
        events += mon.observe_steps(rows(d_loss=0.01, d_real=0.99, d_fake=0.01), 1.0)
    assert [e.step for e in events] == [200, 550] and mon.events[1].is_open and mon.health == "d-wins"


def test_events_are_placed_in_the_trainers_epochs_after_a_short_epoch():
    mon = monitors(every=20)  # 100 steps per epoch
    mon.begin_epoch(1, 0)
    mon.observe_steps(rows(60), 1.0)  # epoch 1 cut short at step 60 (a stop, then a rollback)
    mon.begin_epoch(2, 60)  # epoch 2 is steps 61..160
    mon.observe_steps(rows(40), 1.0)
    [event] = mon.observe_steps(rows(20, g_loss=np.nan), 1.0)
    assert (event.step, event.epoch, event.x) == (120, 2, 1.6)  # not 1.2: 60 steps into epoch 2


def test_windows_are_whole_across_uneven_chunks():
    mon = monitors(every=50, d_wins_steps=100)
    # chunks of 30 + 47 + 23 steps, like a check every 50 steps with an epoch ending at step 30
    events = [e for n in (30, 47, 23) for e in mon.observe_steps(rows(n, d_loss=0.01, d_real=0.99, d_fake=0.01), 1.0)]
    assert [e.step for e in events] == [100] and mon.seen_step == 100 and mon.pending == []


def stream(names: tuple[str, ...]) -> tuple[list[dict], list[dict]]:
    """Events (as JSON) and records of one made-up run whose stats are named `names`: D wins for
    200 steps, G's loss swings 30x wider from step 1,000, G's gradient norm is NaN at step 1,161."""
    config = MonitorConfig(every=50, d_wins_steps=100, warmup_steps=0, oscillation_span=100, oscillation_history=400)
    mon = m.Monitors(config, names, 100, ("fid", False))
    rng = np.random.default_rng(0)
    events = []
    for k in range(24):
        columns = window(50, names, **({"d_loss": 0.01, "d_real": 0.99, "d_fake": 0.01} if k < 4 else {}))
        columns["d_loss"] = columns["d_loss"] + rng.normal(size=50) * 0.01
        columns["g_loss"] = columns["g_loss"] + rng.normal(size=50) * (0.1 if k < 20 else 3.0)
        if k == 23:
            columns["g_grad_norm"][10] = np.nan
        events += mon.observe_steps(np.stack([columns[name] for name in names], axis=1), 1.0)
    return [e.to_json() for e in events], mon.drain_records()


def test_stats_are_read_by_name_and_extra_ones_change_nothing():
    """A penalty's extra stat ("gp"), with the columns in another order: the same events and
    records. A non-finite extra stat is divergence, like any other."""
    events, records = stream(STATS)
    assert [(e["monitor"], e["signal"]) for e in events] == [
        ("d-wins", "d_loss"), ("oscillation", "g_loss_variance"), ("divergence", "g_grad_norm")
    ]  # fmt: skip
    assert stream(("gp", "g_grad_norm", "d_fake", "g_loss", "d_real", "d_grad_norm", "d_loss")) == (events, records)
    names = (*STATS, "gp")
    [event] = m.Monitors(CONFIG, names, 100, ("fid", False)).observe_steps(rows(names=names, gp=math.inf), 1.0)
    assert (event.monitor, event.signal, event.value) == ("divergence", "gp", math.inf)


def test_d_wins_is_off_without_d_real_and_d_fake():
    """A loss without probabilities (a Wasserstein critic's): no d-wins, the other detectors as before."""
    events, records = stream(STATS)
    without, without_records = stream(("d_loss", "g_loss", "d_grad_norm", "g_grad_norm"))
    assert without == events[1:] and without_records == records
    assert steps.check_divergence({"d_loss": np.ones(5)}, 1.0, 1000.0) is None  # no gradient norms: not checked


def test_divergence_stops_even_when_the_action_is_warn():
    mon = monitors(action="warn")
    [event] = mon.observe_steps(rows(g_loss=np.nan), 1.0)
    assert (event.status, event.action, mon.action) == ("diverged", "stop", "stop")
    assert event.to_json()["value"] == "nan" and event.to_json()["threshold"] is None
    json.dumps(event.to_json(), allow_nan=False)  # run.json stays strict JSON


def test_actions_follow_act_on_and_rollbacks_end_in_keep_best():
    mon = monitors(action="stop", act_on=["collapsed"])
    [event] = mon.observe_steps(rows(d_grad_norm=1e5), 1.0)
    assert event.action == "warn" and mon.action is None  # diverged is not in act_on
    mon = monitors(action="rollback", max_rollbacks=1, warmup_steps=0)
    [first] = mon.observe_samples(500, m.SampleStats(0.1))
    assert first.action == "rollback" and mon.action == "rollback"
    mon.seen_step = 600
    assert mon.rolled_back() == pytest.approx(0.5) and mon.action is None
    assert mon.events[0].until_step == 600 and mon.health == "healthy"  # a rollback ends episodes
    [second] = mon.observe_samples(1000, m.SampleStats(0.1))
    assert second.action == "keep-best" and mon.action == "keep-best"


def test_collapse_waits_for_warmup_and_tracks_the_best_ring_modes():
    mon = m.Monitors(MonitorConfig(warmup_steps=1000), STATS, 100, ("high_quality", True))
    assert mon.observe_samples(500, m.SampleStats(0.1, modes_covered=7)) == []
    assert mon.observe_samples(1000, m.SampleStats(0.9, modes_covered=5)) == []
    assert mon.observe_samples(1500, m.SampleStats(0.9, modes_covered=3)) == []  # one probe: a hop
    assert mon.observe_samples(2000, m.SampleStats(0.9, modes_covered=6)) == []
    assert mon.observe_samples(2500, m.SampleStats(0.9, modes_covered=4)) == []
    [event] = mon.observe_samples(3000, m.SampleStats(0.9, modes_covered=3))  # two in a row
    assert (event.signal, event.value, event.threshold) == ("modes_covered", 3, 4)
    assert [r["diversity"] for r in mon.drain_records()] == [0.1, 0.9, 0.9, 0.9, 0.9, 0.9] and mon.records == []


def test_oscillation_fires_on_a_sudden_swing_but_not_on_slow_growth():
    rng = np.random.default_rng(0)
    mon = monitors(every=50, warmup_steps=0, oscillation_span=250, oscillation_history=1000)
    events = []
    for k in range(60):  # G loss noise grows slowly, 3x over 3,000 steps
        chunk = rows()
        chunk[:, 1] += rng.normal(size=50) * 0.1 * (1 + 2 * k / 60)
        events += mon.observe_steps(chunk, 1.0)
    assert events == []
    for k in range(10):  # then swings 20x wider
        chunk = rows()
        chunk[:, 1] += rng.normal(size=50) * 2.0
        events += mon.observe_steps(chunk, 1.0)
    assert [(e.monitor, e.signal, e.status) for e in events] == [("oscillation", "g_loss_variance", "unstable")]
    ratios = [r["g_loss_variance_ratio"] for r in mon.drain_records()]
    assert max(ratios[:40]) < 5 and max(ratios) > 10


def test_regression_and_memorisation_from_evaluations():
    mon = monitors(regression_evals=2)
    events = [e for step, fid in enumerate([90, 40, 60, 70], 1) for e in mon.observe_eval(step * 100, {"fid": fid})]
    assert [(e.step, e.status, e.value) for e in events] == [(400, "regressed", 70.0)]
    [event] = mon.observe_eval(500, {"fid": 41.0, "memorisation": 0.5})  # FID back within 20%
    assert event.status == "memorised" and mon.events[0].until_step == 500
    assert (mon.health, mon.health_worst) == ("memorised", "regressed")


def test_health_precedence():
    def event(status: str) -> m.Event:
        return m.Event(1, 1, 0.1, "x", "y", 1.0, 1.0, "", status)

    assert m.health([]) == "healthy"
    assert m.health([event("unstable"), event("d-wins"), event("regressed")]) == "d-wins"
    assert m.health([event("collapsed"), event("diverged")]) == "diverged"
    assert list(m.HEALTH_ORDER) == [
        "diverged", "collapsed", "d-wins", "partial-collapse", "regressed", "memorised", "unstable", "healthy"
    ]
    from typing import get_args

    from ganlab.config import HealthStatus

    assert list(get_args(HealthStatus)) == list(m.HEALTH_ORDER[:-1]) == list(dict.fromkeys(m.STATUS.values()))


def test_state_dict_round_trip_continues_the_same_history():
    def feed(mon: m.Monitors, start: int, stop: int) -> list[m.Event]:
        out = []
        for k in range(start, stop):
            out += mon.observe_steps(rows(37, d_loss=0.01, d_real=0.99, d_fake=0.01), 1.0)
            out += mon.observe_eval(k, {"fid": 10.0 + k})
        return out

    whole = monitors(d_wins_steps=300)
    expected = feed(whole, 0, 12)
    first = monitors(d_wins_steps=300)
    before = feed(first, 0, 5)
    resumed = monitors(d_wins_steps=300)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert before + feed(resumed, 5, 12) == expected
    assert resumed.state_dict() == whole.state_dict()
    assert {e.monitor for e in expected} == {"d-wins", "regression"}


def test_monitor_config_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"monitor\.action: .*'warn', 'stop', 'rollback' or 'keep-best'"):
        load_preset("ring", ["monitor.action=panic"])
    with pytest.raises(ConfigError, match=r"monitor\.act_on\.0: .*got 'exploded'"):
        load_preset("ring", ["monitor.act_on=[exploded]"])
    with pytest.raises(ConfigError, match=r"monitor\.treshold: unknown key"):
        load_preset("ring", ["monitor.treshold=3"])
    assert load_preset("ring", ["monitor.every=10"]).monitor.every == 10


def test_plots_mark_events(tmp_path: Path):
    from ganlab.report.plots import plot_losses, plot_metrics

    records = [{"kind": "epoch", "epoch": e, "step": e * 10, **dict.fromkeys(STATS, 0.5)} for e in (1, 2, 3)]
    records += [{"kind": "eval", "epoch": e, "step": e * 10, "fid": 50.0 - e} for e in (1, 2, 3)]
    events = [
        m.Event(25, 3, 2.5, "collapse", "diversity", 0.1, 0.5, "", "collapsed", until_step=28, until_x=2.8).to_json(),
        m.Event(15, 2, 1.5, "d-wins", "d_loss", 0.01, 0.1, "", "d-wins", "stop").to_json(),
    ]
    plot_losses(records, tmp_path / "losses.png", events=events)
    plot_metrics(records, tmp_path / "metrics.png", events=events)
    plot_losses(records, tmp_path / "plain.png")
    assert (tmp_path / "losses.png").stat().st_size > (tmp_path / "plain.png").stat().st_size
    assert (tmp_path / "metrics.png").stat().st_size > 1000


# Training runs ---------------------------------------------------------------------------------


def test_building_the_monitors_leaves_the_training_rng_alone(tmp_path: Path):
    """The MNIST probe builds the evaluator network (initialised from the RNG, then loaded)."""
    from ganlab.metrics.evaluator import WEIGHTS_PATH, default_evaluator
    from ganlab.train.bundle import build_bundle
    from ganlab.train.progress import Progress
    from ganlab.train.watch import Watch

    if not WEIGHTS_PATH.is_file():
        pytest.skip(f"evaluator weights not found at {WEIGHTS_PATH}")
    x = torch.randint(0, 256, (600, 1, 28, 28), dtype=torch.uint8)
    bundle = build_bundle(load_preset("fc"), torch.device("cpu"))
    default_evaluator.cache_clear()  # build it here, not in an earlier test
    torch.manual_seed(0)
    before = torch.get_rng_state()
    watch = Watch.build(bundle, RunDir(tmp_path), Progress("quiet", 1, 0, 1), x, 469)
    assert torch.equal(torch.get_rng_state(), before)
    assert watch.probe is not None and watch.probe.evaluator is not None and watch.probe.real_diversity > 0


class Replay(torch.nn.Module):
    """A "generator" that draws the given real data (scaled like G's output) whatever z is."""

    def __init__(self, x: torch.Tensor):
        super().__init__()
        self.x = x

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.x[: len(z)]


def test_the_probe_judges_the_trained_g_not_its_lagging_average(tmp_path: Path, one_thread):
    """With `train.ema` 0.999 the average still holds 37% of its initial weights after 1,000
    steps, and its samples look collapsed while G draws every digit (seen on every EMA run at
    step 1,000): the collapse checks judge the G being trained."""
    from ganlab.train.bundle import build_bundle
    from ganlab.train.progress import Progress
    from ganlab.train.watch import Watch

    x = torch.randint(0, 256, (600, 1, 28, 28), dtype=torch.uint8)
    config = load_preset("fc", ["train.ema=0.999"])
    bundle, run = build_bundle(config, torch.device("cpu")), RunDir(tmp_path)
    run.create(config)
    watch = Watch.build(bundle, run, Progress("quiet", 1, 0, 1), x, 469)
    diverse = x.float() / 127.5 - 1  # the real batch in G's units: as diverse as real data
    bundle.modules["g"], bundle.modules["g_ema"] = Replay(diverse), Replay(torch.full_like(diverse, -1.0))
    watch.check(bundle, 1000, [torch.zeros(len(bundle.objective.stat_names))] * 1000)
    assert watch.monitors.records[-1]["diversity"] == pytest.approx(1.0)
    assert not any(e.signal == "diversity" for e in watch.monitors.events)


def test_the_ring_probe_counts_modes_on_the_points():
    """Fresh ring points standing in for samples cover all 8 modes as diversely as real data;
    points all at one spot cover one mode with no diversity."""
    from ganlab.data import sample_ring

    real = sample_ring(500, torch.Generator().manual_seed(0))
    probe = m.SampleProbe(load_preset("ring"), real, torch.device("cpu"))
    fresh = probe(Replay(sample_ring(500, torch.Generator().manual_seed(1))))
    assert fresh.modes_covered == 8 and 0.9 < fresh.diversity < 1.1 and fresh.classes_covered is None, fresh
    one = probe(Replay(real[:1].repeat(500, 1)))
    assert one.modes_covered == 1 and one.diversity == pytest.approx(0.0, abs=1e-6), one
    assert probe(Replay(torch.full((500, 2), math.nan))) is None  # divergence reports that


def test_real_digits_pass_the_mnist_collapse_checks_and_ones_alone_do_not(mnist_dir: Path):
    """The probe on real test digits standing in for samples: no alarm. On the test set's 1s
    alone (a generator collapsed onto one digit, as the fc baseline is in its first epochs): all
    three collapse signals."""
    from ganlab.data.mnist import load_mnist
    from ganlab.data.scaling import scale
    from ganlab.metrics.evaluator import WEIGHTS_PATH, default_evaluator

    if not WEIGHTS_PATH.is_file():
        pytest.skip(f"evaluator weights not found at {WEIGHTS_PATH}")
    config = load_preset("fc")
    train_images = load_mnist("train", data_dir=mnist_dir).images[:500]
    test = load_mnist("test", data_dir=mnist_dir)
    probe = m.SampleProbe(config, train_images, torch.device("cpu"), default_evaluator("cpu"))
    real = probe(Replay(scale(test.images[:500], "symmetric")))
    assert real.classes_covered == 10 and real.class_entropy > 2.2 and 0.9 < real.diversity < 1.1, real
    assert samples.check_collapse(real, 0, CONFIG) == []
    ones = probe(Replay(scale(test.images[test.labels == 1][:500], "symmetric")))
    signals = {s.signal for s in samples.check_collapse(ones, 0, CONFIG)}
    assert signals == {"diversity", "classes_covered", "class_entropy"}, ones


def test_monitors_do_not_change_the_training(tmp_path: Path, one_thread):
    small = ["train.epochs=2", "train.ring_size=5120", "monitor.every=10", "monitor.sample_every=20"]
    small += ["monitor.warmup_steps=0"]
    on = train(load_preset("ring", small), tmp_path / "on", progress="quiet")
    off = train(load_preset("ring", small + ["monitor.enabled=false"]), tmp_path / "off", progress="quiet")
    a, b = load_file(on.weights("final")), load_file(off.weights("final"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(r["kind"] == "monitor" for r in on.read_metrics())
    assert not any(r["kind"] == "monitor" for r in off.read_metrics())


@pytest.mark.parametrize(
    "preset, status, monitor",
    [
        ("fail-diverge", "diverged", "divergence"),
        ("fail-d-wins", "d-wins", "d-wins"),
        ("fail-collapse", "collapsed", "collapse"),
    ],
)
def test_failure_presets_are_caught_with_the_right_status(tmp_path: Path, one_thread, preset, status, monitor):
    run = train(load_preset(preset), tmp_path / preset, progress="quiet")
    info = run.read_info()
    assert info["health"] == info["health_worst"] == status and info["status"] == "complete", info["events"]
    first = info["events"][0]
    assert (first["monitor"], first["status"], first["action"]) == (monitor, status, "stop")
    assert info["steps"] == first["step"] and info["epochs_done"] < load_preset(preset).train.epochs
    assert info["final_weights"] == "last" and run.weights("final").is_file()
    assert (run.plots / "losses.png").is_file()


def test_healthy_ring_runs_raise_no_alarm(tmp_path: Path, one_thread):
    """Two seeds, 2,000 steps each: past the warmup, with collapse and oscillation verdicts.
    Seed 1 hops from 8 modes to 5 at step 2,000, a single probe that the patience absorbs (seed 2,
    by contrast, really loses half the ring later on: see `ganlab.train.monitors.samples`)."""
    for seed in (1, 4):
        config = load_preset("ring", [f"train.seed={seed}", "train.epochs=2", "train.ring_size=256000"])
        run = train(config, tmp_path / f"seed{seed}", progress="quiet")
        info = run.read_info()
        assert info["health"] == info["health_worst"] == "healthy" and info["events"] == [], (seed, info["events"])
        kinds = [r for r in run.read_metrics() if r["kind"] == "monitor"]
        assert sum("diversity" in r for r in kinds) == 4 and any("g_loss_variance_ratio" in r for r in kinds)


def test_rollback_then_keep_best(tmp_path: Path, one_thread):
    """D wins (fail-d-wins, sped up): roll back to the best checkpoint with half the learning
    rates; D wins again, the rollbacks are used up, and the run ends with the best weights."""
    overrides = [
        "train.ring_size=12800", "train.epochs=8", "train.eval_every=1", "monitor.every=10",
        "monitor.d_wins_steps=50", "monitor.action=rollback", "monitor.max_rollbacks=1",
    ]
    run = train(load_preset("fail-d-wins", overrides), tmp_path / "run", progress="quiet")
    info = run.read_info()
    assert [(e["monitor"], e["action"]) for e in info["events"]] == [("d-wins", "rollback"), ("d-wins", "keep-best")]
    assert info["health"] == "d-wins" and info["final_weights"] == f"best (epoch {info['best']['epoch']})"
    # Each event sits where the trainer logged its step, though the first epoch was cut short.
    steps = {r["step"]: r for r in run.read_metrics() if r["kind"] == "step"}
    assert [(e["epoch"], e["x"]) for e in info["events"]] == [
        (steps[e["step"]]["epoch"], round(steps[e["step"]]["x"], 4)) for e in info["events"]
    ]
    best, final = load_file(run.best_checkpoint), load_file(run.weights("final"))
    assert all(torch.equal(best[k], final[k]) for k in final)
    last = load_file(run.checkpoint)
    assert not all(torch.equal(last[k], final[k]) for k in final)
    from safetensors import safe_open

    with safe_open(str(run.checkpoint), "pt") as f:
        groups = json.loads(f.metadata()["optimizers"])
    assert groups["g"]["param_groups"][0]["lr"] == pytest.approx(0.0001 * 0.5)
    assert groups["d"]["param_groups"][0]["lr"] == pytest.approx(0.001 * 0.5)


def test_resume_keeps_the_monitors_history(tmp_path: Path, one_thread, monkeypatch: pytest.MonkeyPatch):
    """Interrupted after epoch 1, resumed: the D-wins streak that began before the interruption
    counts, so the events and weights match an uninterrupted run's."""
    overrides = ["train.ring_size=12800", "train.epochs=3", "monitor.every=10", "monitor.d_wins_steps=100"]
    config = load_preset("fail-d-wins", overrides + ["monitor.action=warn"])
    whole = train(config, tmp_path / "whole", progress="quiet")

    from ganlab.train import progress

    def interrupt(self, epoch, *args):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(progress.Progress, "epoch_done", interrupt)
        with pytest.raises(KeyboardInterrupt):
            train(config, tmp_path / "cut", progress="quiet")
    assert RunDir(tmp_path / "cut").read_info()["status"] == "interrupted"
    resumed = resume(tmp_path / "cut", progress="quiet")

    events = whole.read_info()["events"]
    assert events and events == resumed.read_info()["events"]
    assert events[0]["step"] < 100 + 50, "the streak must have begun before the interruption"
    a, b = load_file(whole.weights("final")), load_file(resumed.weights("final"))
    assert all(torch.equal(a[k], b[k]) for k in a)
