"""Where a training step's time goes (`ganlab bench PRESET --profile`): `torch.profiler` over
ganlab's real step, each op's self time put in one category.

Matrix products are told apart by what they compute, seen once per step by a dispatch mode (the
profiler sees the same products in the same order): a product outside the backward pass is a
forward one; in the backward pass, one whose right operand is a parameter (the weight) is an input
gradient, any other a weight gradient. Their FLOPs give each kind's achieved GFLOP/s. The other
categories go by op name, or by the scope an op runs in (the optimizer's step, the loss, the
logged gradient norms, a bias gradient's sum). What no op accounts for, the wall time less every
op's self time, is Python and dispatch between ops. The profiler adds a little to every op, so the
record has the step's time without it too. The record:

    {PRESET: {THREADS: {"step_ms", "matmul_peak_gflop_per_s", "profiled_step_ms", "page_faults_per_step",
                        "categories": {NAME: {"ms", "share"}},
                        "matmul": {KIND: {"ms", "gflop", "gflop_per_s"}},
                        "matmul_shapes": [{"kind", "m_k_n", "ms", "gflop_per_s"}], "other_ops": {OP: ms}}}}

with times per step and shares of the profiled step.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from pathlib import Path

import torch
from rich.console import Console
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode

from ganlab.bench.matmul import matmul_gflops
from ganlab.bench.runner import BenchData, bench_data, ganlab_run
from ganlab.bench.tables import print_profile
from ganlab.config import RunConfig, load_preset
from ganlab.errors import GanlabError
from ganlab.train.allocator import keep_freed_memory

aten = torch.ops.aten
MATMULS = {"aten::mm": aten.mm.default, "aten::addmm": aten.addmm.default}
FORWARD, WEIGHT_GRAD, INPUT_GRAD = "matmul, forward", "matmul, weight gradients", "matmul, input gradients"
BETWEEN = "Python and dispatch between ops"

# Op names (without "aten::") by category; an op in none of them is "other ops".
BY_NAME = {
    "convolutions": {"convolution", "_convolution", "mkldnn_convolution", "convolution_backward", "_mkldnn_convolution"},
    "activations": {
        "leaky_relu", "leaky_relu_", "leaky_relu_backward", "tanh", "tanh_", "tanh_backward", "sigmoid",
        "sigmoid_backward", "relu", "relu_", "threshold_backward", "native_dropout", "native_dropout_backward",
        "bernoulli_", "dropout",
    },
    "allocation and fill": {
        "empty", "empty_strided", "empty_like", "zeros", "zeros_like", "ones_like", "full", "full_like",
        "new_empty", "new_empty_strided", "new_zeros", "resize_", "zero_", "fill_",
    },
    "views and copies": {
        "t", "transpose", "view", "_unsafe_view", "reshape", "_reshape_alias", "as_strided", "expand", "detach",
        "alias", "slice", "select", "squeeze", "unsqueeze", "flatten", "permute", "contiguous", "clone", "copy_",
        "_to_copy", "to", "lift_fresh", "unflatten",
    },
    "data and noise": {"randn", "normal_", "uniform_", "index", "randperm", "cat", "div", "sub", "_index_put_impl_"},
    "autograd engine": {"torch::autograd::AccumulateGrad"},
}  # fmt: skip
# Scopes whose whole time (every op inside them) is one category, outermost first.
SCOPES = {
    "Optimizer.step": "optimizer updates",
    "Optimizer.zero_grad": "optimizer updates",
    "aten::binary_cross_entropy_with_logits": "loss",
    "aten::_foreach_norm": "gradient norms (logged)",
    "aten::linalg_vector_norm": "gradient norms (logged)",
}


class _MatmulKinds(TorchDispatchMode):
    """Records the kind and shape of every mm and addmm, in order (see the module's docstring)."""

    def __init__(self, parameters: set[int]):
        super().__init__()
        self.parameters = parameters  # data pointers of every trained parameter
        self.kinds: list[tuple[str, tuple[int, int, int]]] = []  # kind, (m, k, n) of (m, k) @ (k, n)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if func in MATMULS.values():
            mat1, mat2 = args[-2:] if func is aten.mm.default else args[1:3]
            if torch._C._current_autograd_node() is None:
                kind = FORWARD
            else:
                kind = INPUT_GRAD if mat2.data_ptr() in self.parameters else WEIGHT_GRAD
            self.kinds.append((kind, (mat1.shape[0], mat1.shape[1], mat2.shape[1])))
        return func(*args, **(kwargs or {}))


def _category(event) -> str:  # type: ignore[no-untyped-def]
    """The category of a profiler event's self time (matmuls are counted apart)."""
    scope = _scope(event.name)
    parent = event.cpu_parent
    while parent is not None:  # walking outwards: the outermost scope wins
        if parent.name.endswith("AddmmBackward0") and event.name == "aten::sum":
            scope = "bias gradients"
        scope = _scope(parent.name) or scope
        parent = parent.cpu_parent
    if scope is not None:
        return scope
    if event.name.startswith("autograd::engine::evaluate_function") or "Backward" in event.name:
        return "autograd engine"
    name = event.name.removeprefix("aten::")
    return next((c for c, names in BY_NAME.items() if name in names or event.name in names), "other ops")


def _scope(name: str) -> str | None:
    return next((category for prefix, category in SCOPES.items() if name.startswith(prefix)), None)


def profile_step(config: RunConfig, data: BenchData, threads: int, steps: int) -> dict:
    """The profile record of `steps` ganlab training steps of `config` with `threads` threads,
    with freed memory kept as the trainer keeps it (otherwise every op that writes a fresh buffer
    is charged for faulting it in: 67,000 page faults a step on dcgan, 1.8x its time)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    keep_freed_memory()
    try:
        bundle, run = ganlab_run(config, data, torch.device("cpu"))
        run(3)  # first calls allocate and pick kernels
        before = _page_faults()
        start = time.perf_counter()
        run(steps)
        step_ms = (time.perf_counter() - start) / steps * 1e3
        after = _page_faults()
        faults = None if before is None or after is None else (after - before) / steps
        kinds = _MatmulKinds({p.data_ptr() for m in bundle.modules.values() for p in m.parameters()})
        with kinds:
            run(1)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            run(steps)
            profiled_ms = (time.perf_counter() - start) / steps * 1e3
    finally:
        torch.set_num_threads(previous)
    return _tally(list(prof.events()), kinds.kinds, steps, step_ms, profiled_ms) | {"page_faults_per_step": faults}


def _page_faults() -> int | None:
    """Minor page faults of this process so far (None where `resource` is missing: Windows)."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _tally(events: list, kinds: list[tuple[str, tuple[int, int, int]]], steps: int, step_ms: float, profiled_ms: float) -> dict:
    """Per-step milliseconds by category (and by kind and shape of matmul) from the profiler's events."""
    ms: dict[str, float] = defaultdict(float)
    other: dict[str, float] = defaultdict(float)
    matmul_ms: dict[str, float] = defaultdict(float)
    shape_ms: dict[tuple[str, tuple[int, int, int]], float] = defaultdict(float)
    matmuls = sorted((e for e in events if e.name in MATMULS), key=lambda e: e.time_range.start)
    labelled = len(matmuls) == steps * len(kinds)  # else the step's products changed between passes
    for i, event in enumerate(matmuls):
        kind, shape = kinds[i % len(kinds)] if labelled else ("matmul (kind unknown)", (0, 0, 0))
        matmul_ms[kind] += event.self_cpu_time_total / 1e3 / steps
        shape_ms[kind, shape] += event.self_cpu_time_total / 1e3 / steps
    for event in events:
        if event.name in MATMULS:
            continue
        category = _category(event)
        ms[category] += event.self_cpu_time_total / 1e3 / steps
        if category == "other ops":
            other[event.name] += event.self_cpu_time_total / 1e3 / steps
    ms |= matmul_ms
    ms[BETWEEN] = max(0.0, profiled_ms - sum(ms.values()))
    flops: dict[str, float] = defaultdict(float)
    for kind, (m, k, n) in kinds:
        flops[kind] += 2.0 * m * k * n
    shape_flops = {key: 2.0 * key[1][0] * key[1][1] * key[1][2] * kinds.count(key) for key in shape_ms}
    return {
        "step_ms": step_ms,
        "profiled_step_ms": profiled_ms,
        "categories": {
            name: {"ms": value, "share": value / profiled_ms} for name, value in sorted(ms.items(), key=lambda kv: -kv[1])
        },
        "matmul": {
            kind: {"ms": matmul_ms[kind], "gflop": flops[kind] / 1e9, "gflop_per_s": flops[kind] / matmul_ms[kind] / 1e6}
            for kind in matmul_ms
            if labelled
        },
        "matmul_shapes": [
            {"kind": kind, "m_k_n": list(shape), "ms": t, "gflop_per_s": shape_flops[kind, shape] / t / 1e6}
            for (kind, shape), t in sorted(shape_ms.items(), key=lambda kv: -kv[1])
            if labelled
        ],
        "other_ops": dict(sorted(other.items(), key=lambda kv: -kv[1])[:8]),
    }


def profile_presets(target: str) -> dict[str, RunConfig]:
    """The presets `target` names ("all": those `bench all` times), checked before anything runs:
    the step is fed MNIST, as the rest of `ganlab bench` feeds it."""
    from ganlab.bench.suite import ALL
    from ganlab.data.mnist import MNIST
    from ganlab.data.registry import dataset_spec

    presets = {name: load_preset(name) for name in (ALL if target == "all" else [target])}
    for name, config in presets.items():
        if dataset_spec(config.data.dataset) is not MNIST:
            raise GanlabError(f"bench {name} --profile: profiles MNIST steps, not dataset {config.data.dataset}")
    return presets


def run_profile(
    presets: dict[str, RunConfig], threads: list[int], steps: int, data_dir: Path | None, console: Console
) -> dict:
    """Profile each preset at each thread count, with the machine's matmul peak at that count
    (`matmul.py`) beside it; print a table per preset on `console` and return
    {"date", "machine", "settings": {steps, data}, "profile": the module docstring's record}."""
    from ganlab.bench.suite import machine_info

    data = bench_data(data_dir)
    console.print(f"profiling {', '.join(presets)}: {steps} steps at {', '.join(map(str, threads))} thread(s); data: {data.source}")
    record: dict = {}
    for name, config in presets.items():
        record[name] = {}
        for n in threads:
            record[name][n] = profile_step(config, data, n, steps)
            record[name][n]["matmul_peak_gflop_per_s"] = _peak(n)
        print_profile(console, name, record[name])
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(torch.device("cpu")),
        "settings": {"steps": steps, "data": data.source},
        "profile": record,
    }


def _peak(threads: int) -> float:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return max(matmul_gflops() for _ in range(3))
    finally:
        torch.set_num_threads(previous)
