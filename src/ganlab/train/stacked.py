"""K runs that share an architecture, trained as one stacked model in one process.

Every weight gets a leading member axis K: a Linear layer's products are one `torch.baddbmm`
over all members, and the conv generator's convolutions one grouped convolution (groups=K). One
Python step then drives K runs: what a GPU needs to be busy with these small networks. On a CPU
it saves per-op overhead only, which matters for small networks (fc-width-128, K=4: 1.10x the
rate of the same runs one after another, one thread) and not for the study's FC GAN, whose
time is all in matrix products (K=2 and K=4: 1.00x).

Members may differ in what does not change shapes: seed, learning rates, betas, momentum, dropout
rates, noise distribution and input scaling. Each member is the run it would be alone:

- its weights are initialised as `train()` initialises them: `torch.manual_seed(seed)`, then
  `build_gan` (same modules, same init order), and copied into the stacked tensors;
- from then on it draws everything (epoch permutations, noise, dropout masks) from its own
  `torch.Generator`, which starts where the global RNG stood after that init, so it draws the
  same numbers in the same order as the single run does from the global RNG;
- its optimizer is the one `build_optimizer` gives its single run, updating its slices in place.

On the CPU a member therefore ends with the weights of its single run up to float rounding (the
batched products sum in another order; tested). On CUDA, dropout masks come from a different
kernel than `nn.Dropout`'s, so members match their single runs in distribution only.

Not stacked: batch norm (per-member batch statistics are not implemented). Stacked runs write
their run directories at the end of each epoch but keep no checkpoint: an interrupted stack is
trained again from the start.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganlab.config import RunConfig
from ganlab.data.datasets import scale
from ganlab.errors import GanlabError
from ganlab.losses import LOSSES, AdversarialLoss
from ganlab.models import DATA_SHAPES
from ganlab.models.noise import sample_noise
from ganlab.train.engine import default_device
from ganlab.train.trainer import (
    FIXED_NOISE_SIZE,
    GAN,
    build_gan,
    build_optimizer,
    draw,
    load_training_data,
    stats_records,
)

# Dotted config fields in which members may differ; every other field must be equal.
MAY_DIFFER = (
    "name",
    "description",
    "train.seed",
    "train.log_every",
    "train.eval_every",
    "train.eval_samples",
    "train.eval_metrics",
    "optim.g.lr",
    "optim.g.betas",
    "optim.g.momentum",
    "optim.d.lr",
    "optim.d.betas",
    "optim.d.momentum",
    "model.g.dropout",
    "model.d.dropout",
    "noise.distribution",
    "data.scaling",
)
_OUTPUTS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda x: x}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_stackable(configs: list[RunConfig]) -> None:
    """Raise GanlabError, naming the field, unless the configs can train as one stacked model."""
    if not configs:
        raise GanlabError("stacked training needs at least one config")
    first = _flatten(configs[0].model_dump(mode="json"))
    for i, config in enumerate(configs):
        if (config.model.g.kind == "mlp" and config.model.g.batch_norm) or config.model.d.batch_norm:
            raise GanlabError(f"config {i} ({config.name}): batch norm cannot be stacked; train it on its own")
        fields = _flatten(config.model_dump(mode="json"))
        for key in sorted(set(first) | set(fields)):
            if key not in MAY_DIFFER and first.get(key) != fields.get(key):
                raise GanlabError(
                    f"config {i} ({config.name}) cannot be stacked with config 0 ({configs[0].name}): "
                    f"{key} is {fields.get(key)!r}, not {first.get(key)!r}; stacked runs may differ only in "
                    + ", ".join(MAY_DIFFER[2:])
                )


# Stacked layers ------------------------------------------------------------------------------


class StackedLinear(nn.Module):
    """K Linear layers: x (K, N, in) -> (K, N, out), one batched product.

    The weight is stored transposed, (K, in, out), so that x @ weight needs no transposed
    operand and its gradient x^T @ grad comes out in the weight's own layout (no copy);
    `nn.Linear`'s (out, in) weight is `weight_t[k].T`.
    """

    def __init__(self, k: int, in_features: int, out_features: int):
        super().__init__()
        self.weight_t = nn.Parameter(torch.empty(k, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(k, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight_t)


class StackedDropout(nn.Module):
    """Each member's dropout, with its own rate and masks from its own generator.

    The arithmetic is `nn.Dropout`'s on the CPU: mask = bernoulli(1 - p) / (1 - p), out = x * mask,
    with the mask drawn for the member's (N, features) slice, so the draws match its single run.
    A member with rate 0 draws nothing, as its single run has no Dropout layer.
    """

    def __init__(self, rates: list[float], generators: list[torch.Generator]):
        super().__init__()
        self.rates, self.generators = rates, generators

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        masks = [
            torch.empty(x.shape[1:], device=x.device, dtype=x.dtype).bernoulli_(1 - p, generator=gen).div_(1 - p)
            if p > 0
            else torch.ones(x.shape[1:], device=x.device, dtype=x.dtype)
            for p, gen in zip(self.rates, self.generators)
        ]
        return x * torch.stack(masks)


def _mlp(
    k: int, widths: list[int], slope: float, rates: list[float], generators: list[torch.Generator]
) -> nn.Sequential:
    """Hidden layers as `models.mlp.hidden_stack` builds them, stacked (parameters in the same order)."""
    layers: list[nn.Module] = []
    for a, b in zip(widths, widths[1:]):
        layers += [StackedLinear(k, a, b), nn.LeakyReLU(slope)]
        if any(p > 0 for p in rates):
            layers.append(StackedDropout(rates, generators))
    return nn.Sequential(*layers)


class StackedMLPGenerator(nn.Module):
    """z (K, B, latent_dim) -> x (K, B, *data_shape)."""

    def __init__(self, configs: list[RunConfig], generators: list[torch.Generator]):
        super().__init__()
        g, k = configs[0].model.g, len(configs)
        self.data_shape = DATA_SHAPES[configs[0].data.dataset]
        rates = [c.model.g.dropout for c in configs]
        self.body = _mlp(k, [configs[0].noise.dim, *g.hidden], g.slope, rates, generators)
        self.head = StackedLinear(k, g.hidden[-1], math.prod(self.data_shape))
        self.output = _OUTPUTS[g.output]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.output(self.head(self.body(z)))
        return x.view(*z.shape[:2], *self.data_shape)


class StackedConvGenerator(nn.Module):
    """The study's conv generator, K at once: one grouped convolution (groups=K) per layer."""

    def __init__(self, configs: list[RunConfig]):
        super().__init__()
        g, k = configs[0].model.g, len(configs)
        self.k, self.slope, self.output = k, g.slope, _OUTPUTS[g.output]
        self.data_shape = DATA_SHAPES[configs[0].data.dataset]
        self.dense = StackedLinear(k, configs[0].noise.dim, math.prod(self.data_shape))
        channels = [self.data_shape[0], *g.filters, self.data_shape[0]]
        self.weights = nn.ParameterList()
        for c_in, c_out in zip(channels, channels[1:]):
            self.weights.append(nn.Parameter(torch.empty(k, c_out, c_in, 3, 3)))
            self.weights.append(nn.Parameter(torch.empty(k, c_out)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        k, b = z.shape[:2]
        c, h, w = self.data_shape
        x = F.leaky_relu(self.dense(z), self.slope)  # (K, B, C*H*W)
        x = x.view(k, b, c, h, w).transpose(0, 1).reshape(b, k * c, h, w)  # members as channel groups
        n_layers = len(self.weights) // 2
        for i in range(n_layers):
            weight, bias = self.weights[2 * i], self.weights[2 * i + 1]
            x = F.conv2d(x, weight.flatten(0, 1), bias.flatten(), padding=1, groups=k)
            x = F.leaky_relu(x, self.slope) if i < n_layers - 1 else self.output(x)
        return x.view(b, k, c, h, w).transpose(0, 1)  # (K, B, C, H, W)


class StackedDiscriminator(nn.Module):
    """x (K, N, *data_shape) -> logits (K, N)."""

    def __init__(self, configs: list[RunConfig], generators: list[torch.Generator]):
        super().__init__()
        d, k = configs[0].model.d, len(configs)
        rates = [c.model.d.dropout for c in configs]
        self.body = _mlp(k, [math.prod(DATA_SHAPES[configs[0].data.dataset]), *d.hidden], d.slope, rates, generators)
        self.head = StackedLinear(k, d.hidden[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.flatten(2))).squeeze(2)


# Optimizer -------------------------------------------------------------------------------------


class StackedOptimizer:
    """Each member's own optimizer, built by the trainer's `build_optimizer` from its config, over
    views of the stacked parameters: the update arithmetic (kernels included) is the single run's.

    Every member parameter is an `nn.Parameter` sharing storage with its slice of the stacked
    tensor; `step()` hands it its slice of the stacked gradient, so the optimizer updates the
    stacked weights in place. `optimizers[k]` holds member k's state as a single run's would.
    """

    def __init__(self, params: list[nn.Parameter], configs: list[RunConfig], network: str):
        self.params = params
        self.members = [[nn.Parameter(p.detach()[k]) for p in params] for k in range(len(configs))]
        self.optimizers = [
            build_optimizer(views, getattr(config.optim, network)) for views, config in zip(self.members, configs)
        ]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        for k, (views, optimizer) in enumerate(zip(self.members, self.optimizers)):
            for view, p in zip(views, self.params):
                view.grad = p.grad[k]
            optimizer.step()
            for view in views:
                view.grad = None


# The stacked GAN -------------------------------------------------------------------------------


@dataclass
class StackedGAN:
    """K members' networks, optimizers, loss and random generators, as one model."""

    configs: list[RunConfig]
    g: nn.Module
    d: nn.Module
    opt_g: StackedOptimizer
    opt_d: StackedOptimizer
    loss: AdversarialLoss
    generators: list[torch.Generator]

    @property
    def k(self) -> int:
        return len(self.configs)

    def noise(self, batch: int, device: torch.device) -> torch.Tensor:
        """z (K, batch, dim): each member's noise, from its generator and distribution."""
        return torch.stack(
            [sample_noise(batch, c.noise, device, generator=gen) for c, gen in zip(self.configs, self.generators)]
        )

    def member(self, i: int) -> GAN:
        """Member i as an ordinary GAN (modules with its weights; fresh optimizers), e.g. to save."""
        config = self.configs[i]
        with torch.random.fork_rng(devices=[]):
            single = build_gan(config, self.g_device)
        with torch.no_grad():
            for stacked, module in ((self.g, single.g), (self.d, single.d)):
                for (name, p_stacked), p in zip(stacked.named_parameters(), module.parameters(), strict=True):
                    p.copy_(_to_member(name, p_stacked[i], p))
        return single

    @property
    def g_device(self) -> torch.device:
        return next(self.g.parameters()).device


def _to_stacked(name: str, p: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
    """A member's parameter in the layout of its slot in the stacked parameter `name`."""
    return p.t() if name.endswith("weight_t") else p.view_as(slot)


def _to_member(name: str, slot: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Inverse of `_to_stacked`."""
    return slot.t() if name.endswith("weight_t") else slot.view_as(p)


def build_stacked(configs: list[RunConfig], device: torch.device) -> StackedGAN:
    """Stack K members, each initialised and seeded exactly as `train()` would for its config."""
    check_stackable(configs)
    generators: list[torch.Generator] = []
    singles: list[GAN] = []
    for config in configs:
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
            torch.manual_seed(config.train.seed)
            singles.append(build_gan(config, device))
            generator = torch.Generator(device=device)
            if device.type == "cpu":
                generator.set_state(torch.get_rng_state())  # continue the single run's stream
            else:
                generator.manual_seed(config.train.seed)  # the device RNG is untouched by the init
        generators.append(generator)
    first = configs[0]
    g: nn.Module = (
        StackedConvGenerator(configs) if first.model.g.kind == "conv" else StackedMLPGenerator(configs, generators)
    )
    d = StackedDiscriminator(configs, generators)
    g, d = g.to(device), d.to(device)
    with torch.no_grad():
        for stacked, modules in ((g, [s.g for s in singles]), (d, [s.d for s in singles])):
            member_params = [list(m.parameters()) for m in modules]
            for j, (name, p_stacked) in enumerate(stacked.named_parameters()):
                for i, params in enumerate(member_params):
                    p_stacked[i].copy_(_to_stacked(name, params[j], p_stacked[i]))
    return StackedGAN(
        configs=configs,
        g=g,
        d=d,
        opt_g=StackedOptimizer(list(g.parameters()), configs, "g"),
        opt_d=StackedOptimizer(list(d.parameters()), configs, "d"),
        loss=LOSSES[first.train.loss],
        generators=generators,
    )


def _grad_norms(params: list[nn.Parameter]) -> torch.Tensor:
    """(K,) each member's gradient 2-norm over all its tensors, as `get_total_norm` gives it."""
    per_tensor = torch.stack([p.grad.flatten(1).norm(dim=1) for p in params])  # (tensors, K)
    return per_tensor.norm(dim=0)


def stacked_train_step(sgan: StackedGAN, x_real: torch.Tensor) -> torch.Tensor:
    """One D update then one G update of every member: `train_step`, K at a time.

    x_real: (K, B, *data_shape) float, each member's batch scaled its way. Returns (K, len(STATS)).
    """
    k, batch = x_real.shape[:2]
    device = x_real.device
    x_fake = sgan.g(sgan.noise(batch, device))

    # D: maximise log D(x) + log(1 - D(G(z))) per member; the sum's gradient is each member's own.
    logits = sgan.d(torch.cat([x_real, x_fake.detach()], dim=1))  # (K, 2B)
    d_losses = [sgan.loss.d(row[:batch], row[batch:]) for row in logits]
    sgan.opt_d.zero_grad(set_to_none=True)
    torch.stack([loss.total for loss in d_losses]).sum().backward()
    d_grad_norm = _grad_norms(sgan.opt_d.params)
    sgan.opt_d.step()

    # G: maximise log D(G(z)) (non-saturating), with no weight gradients for D.
    if sgan.configs[0].train.g_noise == "fresh":
        x_fake = sgan.g(sgan.noise(batch, device))
    sgan.d.requires_grad_(False)
    fake_logits = sgan.d(x_fake)
    g_losses = torch.stack([sgan.loss.g(row) for row in fake_logits])
    sgan.opt_g.zero_grad(set_to_none=True)
    g_losses.sum().backward()
    sgan.d.requires_grad_(True)
    g_grad_norm = _grad_norms(sgan.opt_g.params)
    sgan.opt_g.step()

    with torch.no_grad():
        d_real = torch.sigmoid(logits[:, :batch]).mean(dim=1)
        d_fake = torch.sigmoid(logits[:, batch:]).mean(dim=1)
        d_total = torch.stack([loss.total for loss in d_losses])
        return torch.stack([d_total, g_losses, d_real, d_fake, d_grad_norm, g_grad_norm], dim=1).detach()


# Data and the loop -----------------------------------------------------------------------------


class StackedData:
    """Each member's training set (one shared tensor when identical, as MNIST is) and its epoch
    permutation. x: (K, N, ...) per member, or (1, N, ...) shared by all."""

    def __init__(self, configs: list[RunConfig], x: torch.Tensor):
        self.configs, self.x, self.n = configs, x, x.shape[1]
        self.perm: torch.Tensor | None = None

    @classmethod
    def load(cls, configs: list[RunConfig], device: torch.device, data_dir: Path | None) -> "StackedData":
        """The members' training sets as `train()` loads them (the ring is drawn from each seed)."""
        if configs[0].data.dataset == "ring":
            return cls(configs, torch.stack([load_training_data(c, device, data_dir) for c in configs]))
        return cls(configs, load_training_data(configs[0], device, data_dir).unsqueeze(0))

    def shuffle(self, generators: list[torch.Generator]) -> None:
        """A new permutation per member, drawn as `train()` draws it at the start of an epoch."""
        device = self.x.device
        self.perm = torch.stack([torch.randperm(self.n, device=device, generator=gen) for gen in generators])

    def batch(self, start: int, stop: int) -> torch.Tensor:
        """(K, B, *data_shape): member k's rows perm[k, start:stop], scaled as member k's config says."""
        assert self.perm is not None
        index = self.perm[:, start:stop]  # (K, B)
        source = torch.arange(self.x.shape[0], device=index.device).view(-1, 1).expand_as(index)
        x = self.x[source, index]
        if x.dtype != torch.uint8:
            return x
        scalings = [c.data.scaling for c in self.configs]
        if len(set(scalings)) == 1:
            return scale(x, scalings[0])
        return torch.stack([scale(x[i], s) for i, s in enumerate(scalings)])


def train_stacked(
    configs: list[RunConfig],
    outs: list[Path] | None = None,
    *,
    data_dir: Path | None = None,
    device: torch.device | None = None,
    progress: bool = False,
) -> StackedGAN:
    """Train K stackable configs together; with `outs`, write one run directory per member.

    Each run directory holds what a single run's does at the end (config.yaml, run.json with
    `stacked: {members, index}`, metrics.jsonl with step and epoch records, samples per epoch,
    the loss plot, final weights), but no checkpoint and no in-training evaluation.
    """
    from ganlab.train.checkpoint import save_weights
    from ganlab.files import utc_now
    from ganlab.rundir import RunDir

    if outs is not None and len(outs) != len(configs):
        raise GanlabError(f"train_stacked: {len(configs)} configs but {len(outs)} run directories")
    device = device or default_device()
    runs = [RunDir(Path(out)) for out in outs] if outs is not None else []
    for run, config in zip(runs, configs):
        run.create(config)
    data = StackedData.load(configs, device, data_dir)
    sgan = build_stacked(configs, device)
    fixed_z = [
        sample_noise(FIXED_NOISE_SIZE, c.noise, generator=torch.Generator().manual_seed(c.train.seed + 1)).to(device)
        for c in configs
    ]
    batch_size, epochs = configs[0].train.batch_size, configs[0].train.epochs
    steps_per_epoch = -(-data.n // batch_size)
    for i, run in enumerate(runs):
        run.update_info(
            status="running",
            started=utc_now(),
            device=str(device),
            steps_per_epoch=steps_per_epoch,
            stacked={"members": len(configs), "index": i},
        )
    seconds: list[float] = []
    step = 0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        data.shuffle(sgan.generators)
        stats = []
        for i in range(steps_per_epoch):
            stats.append(stacked_train_step(sgan, data.batch(i * batch_size, (i + 1) * batch_size)))
            step += 1
        stats_cpu = torch.stack(stats).cpu().numpy()  # (steps, K, stats): the epoch's only host sync
        seconds.append(time.perf_counter() - start)
        if progress:
            means = stats_cpu.mean(axis=0)
            print(
                f"epoch {epoch}/{epochs}  {seconds[-1]:.1f}s  d_loss " + " ".join(f"{m[0]:.3f}" for m in means),
                flush=True,
            )
        for i, (run, config) in enumerate(zip(runs, configs)):
            _write_member_epoch(run, config, sgan.member(i), fixed_z[i], epoch, step, stats_cpu[:, i], steps_per_epoch)
            run.update_info(epochs_done=epoch, steps=step, seconds_per_epoch=seconds)
    for i, run in enumerate(runs):
        member = sgan.member(i)
        save_weights(run.weights("final"), {"g": member.g, "d": member.d}, {"epoch": str(epochs)})
        run.update_info(status="complete", ended=utc_now())
    return sgan


def _write_member_epoch(
    run: Any,
    config: RunConfig,
    gan: GAN,
    fixed_z: torch.Tensor,
    epoch: int,
    step: int,
    stats: np.ndarray,
    steps_per_epoch: int,
) -> None:
    from ganlab.pictures import image_grid, save_png, scatter_2d
    from ganlab.report.plots import plot_losses

    run.append_metrics(stats_records(stats, epoch, step, steps_per_epoch, config.train.log_every))
    samples = draw(gan.g, fixed_z, config)
    picture = scatter_2d(samples, title=f"epoch {epoch}") if config.data.dataset == "ring" else image_grid(samples)
    save_png(run.samples / f"epoch_{epoch:03d}.png", picture)
    plot_losses(run.read_metrics(), run.plots / "losses.png", title=f"{config.name}: losses")
