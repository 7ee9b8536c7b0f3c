"""The tables `ganlab bench` prints from its record (`suite.py`), one per preset and one for study
throughput."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def spread_text(s: dict, fmt: str) -> str:
    """"median (min-max)" of a {median, min, max} record, each number formatted by `fmt`."""
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"


CONTENDER_LABELS = {"keras": "Keras train_on_batch (the study's loop)", "keras-xla": "Keras, jit_compile=True (XLA)"}


def print_target(console: Console, name: str, rec: dict) -> None:
    """One preset's loops: seconds per epoch, GFLOP per step, GFLOP/s, fraction of matmul, speedup
    over the tutorial, and time against ganlab's (above 1: slower than ganlab)."""
    table = Table(title=f"{name}: {rec['steps_per_epoch']} steps per epoch, batch {rec['batch_size']}")
    columns = ("loop", "s/epoch median (min-max)", "GFLOP/step", "GFLOP/s", "of matmul", "speedup", "time vs ganlab")
    for column in columns:
        table.add_column(column, justify="left" if column == "loop" else "right")
    rows = [("tutorial baseline", "baseline", rec["baseline"])]
    if "baseline_glibc_malloc" in rec:
        rows.append(("tutorial, glibc malloc defaults", "baseline_glibc_malloc", rec["baseline_glibc_malloc"]))
    for g_noise, loop in rec["ganlab_by_g_noise"].items():
        label = f"ganlab, g_noise {g_noise}" + (" (preset)" if g_noise == rec["g_noise"] else "")
        rows.append((label, g_noise, loop))
    rows += [(CONTENDER_LABELS.get(key, key), key, loop) for key, loop in rec.get("contenders", {}).items()]
    baseline = rec["baseline"]["seconds_per_epoch"]["median"]
    for label, key, loop in rows:
        table.add_row(
            label,
            spread_text(loop["seconds_per_epoch"], "{:.1f}"),
            f"{loop['gflop_per_step']:.2f}",
            f"{loop['gflop_per_s']:.0f}",
            f"{loop['fraction_of_matmul']:.0%}",
            f"{baseline / loop['seconds_per_epoch']['median']:.2f}x",
            f"{rec['vs_ganlab'][key]:.2f}",
        )
    console.print(table)
    for key, loop in rec.get("contenders", {}).items():
        console.print(
            f"{key}: set-up {loop['build_seconds']:.1f} s, first step {loop['first_step_seconds']:.1f} s "
            f"(tracing and compilation {loop['tracing_seconds']:.1f} s), not in its s/epoch"
        )
    console.print(f"matmul-only floor for the preset's step: {rec['matmul_floor_seconds_per_epoch']:.1f} s/epoch")
    if "speedup_vs_glibc_malloc_baseline" in rec:
        console.print(
            f"speedup against the tutorial with glibc's malloc defaults (as a standalone script runs): "
            f"{rec['speedup_vs_glibc_malloc_baseline']:.2f}x"
        )


def print_study(console: Console, rec: dict) -> None:
    """Run-epochs per hour of each study-throughput strategy, against naive."""
    table = Table(title=f"study throughput: {rec['runs']} runs, run-epochs per hour")
    for column in ("strategy", "how", "epochs/hour median (min-max)", "vs naive"):
        table.add_column(column, justify="left" if column in ("strategy", "how") else "right")
    naive = rec["naive_epochs_per_hour"]
    for name, strategy in rec["strategies"].items():
        rate = strategy["epochs_per_hour"]
        table.add_row(name, strategy["how"], spread_text(rate, "{:.0f}"), f"{rate['median'] / naive:.2f}x")
    console.print(table)
    if rec["packed"] is not None:
        console.print(f"packed ({rec['packed']}) / naive: {rec['speedup']:.2f}x")


def print_profile(console: Console, name: str, by_threads: dict) -> None:
    """Milliseconds per step and share by category, one column pair per thread count; then the
    matmuls' achieved GFLOP/s by kind against the machine's peak."""
    table = Table(title=f"{name}: where a training step's time goes (torch.profiler, self time per op)")
    table.add_column("category")
    for threads, entry in by_threads.items():
        table.add_column(f"{threads} thread(s): ms/step", justify="right")
        table.add_column("share", justify="right")
    categories = list(next(iter(by_threads.values()))["categories"])
    for category in categories:
        cells = []
        for entry in by_threads.values():
            value = entry["categories"].get(category, {"ms": 0.0, "share": 0.0})
            cells += [f"{value['ms']:.2f}", f"{value['share']:.1%}"]
        table.add_row(category, *cells)
    cells = []
    for entry in by_threads.values():
        cells += [f"{entry['profiled_step_ms']:.2f}", f"(unprofiled {entry['step_ms']:.2f})"]
    table.add_row("step", *cells)
    console.print(table)
    for threads, entry in by_threads.items():
        kinds = ", ".join(f"{kind.removeprefix('matmul, ')} {m['gflop_per_s']:.0f}" for kind, m in entry["matmul"].items())
        console.print(
            f"{threads} thread(s): matmul GFLOP/s by kind: {kinds}; peak (1024^3) {entry['matmul_peak_gflop_per_s']:.0f}",
            soft_wrap=True,
        )
        if entry.get("page_faults_per_step") is not None:
            console.print(f"{threads} thread(s): {entry['page_faults_per_step']:,.0f} page faults a step (freed memory kept, as in training)")
