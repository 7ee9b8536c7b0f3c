"""One training step: `n_critic` D updates, then one G update."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ganlab.models.noise import sample_noise
from ganlab.train.bundle import Bundle

Tensor = torch.Tensor
Batch = tuple[Tensor, Tensor]  # x (B, *shape) float, already scaled; y (B,) int64 labels


def train_step(bundle: Bundle, batches: Sequence[Batch]) -> Tensor:
    """D takes one update per batch of `batches` (`train.n_critic` of them), then G one
    (Goodfellow et al. 2014, Algorithm 1, with k = n_critic).

    A conditional G draws its fakes for the labels of the real batch. Returns the statistics
    named by `bundle.objective.stat_names` (of the last D update), shape (len,), on the device.
    """
    objective, engine, noise = bundle.objective, bundle.engine, bundle.config.noise
    engine.begin_step()
    for x_real, y in batches:
        batch = x_real.shape[0]
        z = sample_noise(batch, noise, x_real.device)
        with engine.autocast():  # forward passes only: backward follows the forward's dtypes
            x_fake = bundle.step_g(z, y)
            # D: minimise the loss on real and fake, in one pass (one set of matmuls).
            logits = bundle.step_d(torch.cat([x_real, x_fake.detach()]), torch.cat([y, y]))
            d_loss = objective.loss.d(logits[:batch], logits[batch:])
        with torch.no_grad():  # now: a CUDA graph's next replay may reuse the logits' memory
            d_real, d_fake = objective.summarise(logits[:batch]), objective.summarise(logits[batch:])
        d_total = d_loss
        penalties: list[Tensor] = []
        if objective.penalties:  # on the plain D: compiled graphs do not take double backward
            weighted, penalties = objective.penalise(bundle.d, x_real, x_fake.detach(), y)
            d_total = d_loss + weighted
        bundle.optimizers["d"].zero_grad(set_to_none=True)
        d_total.backward()
        d_grad_norm = torch.nn.utils.get_total_norm([p.grad for p in bundle.d.parameters()])
        bundle.optimizers["d"].step()

    # G: minimise its loss on D's view of fresh fakes (or of the last D update's, g_noise=reuse).
    # D's weights need no gradient here.
    bundle.d.requires_grad_(False)
    with engine.autocast():
        if bundle.config.train.g_noise == "fresh":
            x_fake = bundle.step_g(sample_noise(batch, noise, x_real.device), y)
        real_logits = bundle.step_d(x_real, y) if objective.loss.g_needs_real else None
        g_loss = objective.loss.g(bundle.step_d(x_fake, y), real_logits)
    bundle.optimizers["g"].zero_grad(set_to_none=True)
    g_loss.backward()
    bundle.d.requires_grad_(True)
    g_grad_norm = torch.nn.utils.get_total_norm([p.grad for p in bundle.g.parameters()])
    bundle.optimizers["g"].step()

    return torch.stack([d_loss, g_loss, d_real, d_fake, *penalties, d_grad_norm, g_grad_norm]).detach()
