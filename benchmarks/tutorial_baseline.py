"""The tutorial-style PyTorch GAN loop that `ganlab bench` compares ganlab's training step against.

Written the way a PyTorch tutorial writes it, kept simple and honest: a DataLoader over a
TensorDataset of pre-scaled float images (shuffled each epoch), `nn.Sequential` networks with the
study's layers, a Sigmoid on D with `nn.BCELoss`, two Adam optimizers with torch's default
kernels, D fitted on a real and a fake forward pass, then a fresh G forward for the G step, and
the losses read back with `.item()` each step to track them. Nothing here is slow on purpose:
it is what most GAN code on the internet does.

    python benchmarks/tutorial_baseline.py [fc|conv-g|dcgan] [--steps N]   # times N steps, prints s/epoch

For the `dcgan` kinds the networks are the PyTorch DCGAN tutorial's (pytorch/examples `dcgan`),
sized as the config says for 28x28: G a transposed conv from z (B, nz, 1, 1) to 7x7, then 4x4
transposed convs of stride 2 with batch norm and ReLU, Tanh; D 4x4 convs of stride 2 with
LeakyReLU and batch norm after the first, a 7x7 conv to one probability; weights N(0, 0.02). Its
G step draws fresh noise like the loop above (the DCGAN tutorial reuses D's fakes instead: compare
it with ganlab's `g_noise: reuse` figure, which `ganlab bench` reports too).

`ganlab bench` imports `TutorialGAN` from this file; it must stay importable on its own (torch
and ganlab's config only).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ganlab.config import RunConfig, load_preset

OUTPUTS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}


def mlp_layers(in_features: int, widths: list[int], slope: float, dropout: float) -> list[nn.Module]:
    """Linear -> LeakyReLU -> [Dropout] for each width, as in the study's Keras code."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(in_features, width), nn.LeakyReLU(slope)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_features = width
    return layers


def make_dcgan_generator(config: RunConfig) -> nn.Sequential:
    """The DCGAN tutorial's generator for 28x28: z (B, dim) -> images (B, 1, 28, 28)."""
    g, dim = config.model.g, config.noise.dim
    side = 28 // 2 ** len(g.filters)
    layers: list[nn.Module] = [nn.Unflatten(1, (dim, 1, 1))]  # z as a 1x1 image, as in the tutorial
    layers += [nn.ConvTranspose2d(dim, g.filters[0], side, 1, 0, bias=False), nn.BatchNorm2d(g.filters[0]), nn.ReLU(True)]
    for c_in, c_out in zip(g.filters, g.filters[1:]):
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
    return nn.Sequential(*layers, nn.ConvTranspose2d(g.filters[-1], 1, 4, 2, 1, bias=False), nn.Tanh())


def make_dcgan_discriminator(config: RunConfig) -> nn.Sequential:
    """The DCGAN tutorial's discriminator for 28x28: images (B, 1, 28, 28) -> probability (B, 1)."""
    d = config.model.d
    layers: list[nn.Module] = [nn.Conv2d(1, d.filters[0], 4, 2, 1, bias=False), nn.LeakyReLU(d.slope, inplace=True)]
    for c_in, c_out in zip(d.filters, d.filters[1:]):
        layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out)]
        layers.append(nn.LeakyReLU(d.slope, inplace=True))
    side = math.ceil(28 / 2 ** len(d.filters))
    return nn.Sequential(*layers, nn.Conv2d(d.filters[-1], 1, side, 1, 0, bias=False), nn.Sigmoid(), nn.Flatten())


def weights_init(m: nn.Module) -> None:
    """The DCGAN tutorial's initialisation: convolutions N(0, 0.02), batch norm N(1, 0.02) and 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def make_generator(config: RunConfig) -> nn.Sequential:
    """The study's generator as one nn.Sequential: z (B, dim) -> images (B, 784) or (B, 1, 28, 28)."""
    g, dim = config.model.g, config.noise.dim
    if g.kind == "dcgan":
        return make_dcgan_generator(config)
    if g.kind == "conv":
        layers: list[nn.Module] = [nn.Linear(dim, 784), nn.LeakyReLU(g.slope), nn.Unflatten(1, (1, 28, 28))]
        channels = 1
        for filters in g.filters:
            layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.LeakyReLU(g.slope)]
            channels = filters
        layers += [nn.Conv2d(channels, 1, 3, padding=1), OUTPUTS[g.output](), nn.Flatten()]
        return nn.Sequential(*layers)
    if g.batch_norm:
        raise ValueError("the tutorial baseline covers the study's FC and conv generators without batch norm")
    layers = mlp_layers(dim, g.hidden, g.slope, g.dropout)
    return nn.Sequential(*layers, nn.Linear(g.hidden[-1], 784), OUTPUTS[g.output]())


def make_discriminator(config: RunConfig) -> nn.Sequential:
    """The study's discriminator: flat images (B, 784) -> probability (B, 1), Sigmoid last."""
    d = config.model.d
    if d.kind == "dcgan":
        return make_dcgan_discriminator(config)
    layers = mlp_layers(784, d.hidden, d.slope, d.dropout)
    return nn.Sequential(*layers, nn.Linear(d.hidden[-1], 1), nn.Sigmoid())


class TutorialGAN:
    """G, D, two Adams, BCELoss and a DataLoader, stepped one batch at a time by `step()`."""

    def __init__(self, config: RunConfig, images: torch.Tensor, seed: int = 0, device: str | torch.device = "cpu"):
        """images: uint8 (N, 1, 28, 28) MNIST pixels on the CPU; scaled to [-1, 1] floats once, up front.
        Batches go to `device` one at a time, as in a tutorial."""
        if config.data.dataset != "mnist":
            raise ValueError(f"the tutorial baseline trains on MNIST, got dataset {config.data.dataset!r}")
        torch.manual_seed(seed)
        self.latent_dim = config.noise.dim
        self.device = torch.device(device)
        self.G = make_generator(config).to(self.device)
        self.D = make_discriminator(config).to(self.device)
        dcgan = config.model.d.kind == "dcgan"
        if dcgan:
            self.G.apply(weights_init)
            self.D.apply(weights_init)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.optim.g.lr, betas=config.optim.g.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.optim.d.lr, betas=config.optim.d.betas)
        self.criterion = nn.BCELoss()
        data = images.float().div(127.5).sub(1)
        data = data if dcgan else data.view(len(images), -1)  # the DCGAN's D reads images, the MLP flat
        self.loader = DataLoader(TensorDataset(data), batch_size=config.train.batch_size, shuffle=True)
        self.steps_per_epoch = len(self.loader)
        self.batches: Iterator = iter(self.loader)
        self.history: list[tuple[float, float]] = []

    def next_batch(self) -> torch.Tensor:
        try:
            (real,) = next(self.batches)
        except StopIteration:  # a new epoch: a new shuffle
            self.batches = iter(self.loader)
            (real,) = next(self.batches)
        return real

    def step(self) -> None:
        real = self.next_batch().to(self.device)
        b = real.size(0)
        ones = torch.ones(b, 1, device=self.device)
        zeros = torch.zeros(b, 1, device=self.device)

        # Train D: maximise log D(x) + log(1 - D(G(z)))
        self.opt_d.zero_grad()
        fake = self.G(torch.randn(b, self.latent_dim, device=self.device))
        loss_real = self.criterion(self.D(real), ones)
        loss_fake = self.criterion(self.D(fake.detach()), zeros)
        d_loss = (loss_real + loss_fake) / 2
        d_loss.backward()
        self.opt_d.step()

        # Train G: maximise log D(G(z)), on a fresh batch of noise
        self.opt_g.zero_grad()
        fake = self.G(torch.randn(b, self.latent_dim, device=self.device))
        g_loss = self.criterion(self.D(fake), ones)
        g_loss.backward()
        self.opt_g.step()

        self.history.append((d_loss.item(), g_loss.item()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", nargs="?", default="fc", choices=["fc", "conv-g", "dcgan", "dcgan-small"])
    parser.add_argument("--steps", type=int, default=50, help="steps to time")
    args = parser.parse_args()
    config = load_preset(args.preset)
    images = torch.randint(0, 256, (60_000, 1, 28, 28), dtype=torch.uint8)  # timing only: pixels don't matter
    gan = TutorialGAN(config, images)
    for _ in range(3):
        gan.step()
    start = time.perf_counter()
    for _ in range(args.steps):
        gan.step()
    per_step = (time.perf_counter() - start) / args.steps
    epoch = math.ceil(60_000 / config.train.batch_size)
    print(f"{args.preset}: {per_step * 1e3:.1f} ms/step, {per_step * epoch:.1f} s/epoch ({epoch} steps)")


if __name__ == "__main__":
    main()
