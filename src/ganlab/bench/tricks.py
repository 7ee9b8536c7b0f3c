"""`ganlab bench tricks`: what each technique of a study costs in training speed.

Every config of a study spec (by default `ganhacks`: each tip, loss and regulariser of the toolbox
as a variant of the FC baseline) is timed as ganlab's real training step on MNIST, all of them
interleaved in one process (`runner.interleave`), and reported in seconds per epoch beside its
control's: the ratio is the technique's price. Per epoch rather than per step because a config
with `n_critic` D steps per G step takes that many batches per step, and an epoch of data is what
a study pays for. The record:

    {"date", "machine", "spec", "settings": {steps, repeats, data},
     "configs": {NAME: {"seconds_per_epoch": {median, min, max}, "steps_per_epoch", "control",
                        "vs_control"}}}
"""

from __future__ import annotations

import datetime as dt

import torch
from rich.console import Console
from rich.table import Table

from ganlab.bench.runner import BenchData, Spread, ganlab_case, interleave, steps_per_epoch
from ganlab.bench.tables import spread_text
from ganlab.config import RunConfig
from ganlab.errors import GanlabError
from ganlab.study.spec import StudySpec, resolve_config


def trick_configs(spec: StudySpec) -> dict[str, RunConfig]:
    """Each config of `spec` for seed 0 at full length, checked before anything is timed: the
    bench times MNIST steps, so a config of another dataset is refused by name."""
    from ganlab.data.mnist import MNIST
    from ganlab.data.registry import dataset_spec

    configs = {name: resolve_config(spec, name, 0, 1.0) for name in spec.config_names()}
    other = [name for name, config in configs.items() if dataset_spec(config.data.dataset) is not MNIST]
    if other:
        raise GanlabError(f"bench tricks {spec.name}: times MNIST training steps; not MNIST: {', '.join(other)}")
    return configs


def controls(spec: StudySpec) -> dict[str, str]:
    """Each config's control: the control of the first experiment it is a variant in; a control
    (or a config that is never a variant) is its own."""
    found: dict[str, str] = {}
    for experiment in spec.experiments:
        found.setdefault(experiment.control, experiment.control)
        for variant in experiment.variants:
            found.setdefault(variant.config, experiment.control)
    return found


def time_tricks(
    spec: StudySpec,
    configs: dict[str, RunConfig],
    data: BenchData,
    device: torch.device,
    steps: int,
    repeats: int,
    console: Console,
) -> dict:
    """Time the configs of `spec` (`trick_configs`), interleaved; print the table on `console` and
    return the record of this module's docstring."""
    from ganlab.bench.suite import machine_info

    control_of = controls(spec)
    console.print(f"timing {len(configs)} configs of study {spec.name}: {repeats} rounds x {steps} steps each ...")
    seconds = interleave({name: ganlab_case(config, data, device) for name, config in configs.items()}, steps, repeats)
    per_epoch = {name: steps_per_epoch(config, len(data.images)) for name, config in configs.items()}
    epochs = {name: Spread.of([s * per_epoch[name] for s in values]) for name, values in seconds.items()}
    record = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(device),
        "spec": spec.name,
        "settings": {"steps": steps, "repeats": repeats, "data": data.source},
        "configs": {
            name: {
                "seconds_per_epoch": epochs[name]._asdict(),
                "steps_per_epoch": per_epoch[name],
                "control": control_of[name],
                "vs_control": epochs[name].median / epochs[control_of[name]].median,
            }
            for name in configs
        },
    }
    print_tricks(console, record)
    return record


def print_tricks(console: Console, record: dict) -> None:
    """The price of each config, slowest first: its s/epoch beside its control's (fewer G steps
    per epoch: `n_critic` D steps per G step)."""
    table = Table(title=f"study {record['spec']}: seconds per MNIST epoch of each config, against its control")
    for column in ("config", "s/epoch median (min-max)", "G steps/epoch", "control", "time vs control"):
        table.add_column(column, justify="left" if column in ("config", "control") else "right")
    rows = sorted(record["configs"].items(), key=lambda item: -item[1]["vs_control"])
    for name, row in rows:
        own = row["control"] == name
        table.add_row(
            name,
            spread_text(row["seconds_per_epoch"], "{:.1f}"),
            str(row["steps_per_epoch"]),
            "(control)" if own else row["control"],
            "1.00" if own else f"{row['vs_control']:.2f}x",
        )
    console.print(table)
