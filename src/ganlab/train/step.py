"""One training step: `n_critic` D updates, then one G update."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ganlab.models.noise import sample_noise
from ganlab.train.bundle import Bundle
from ganlab.train.d_inputs import add_instance_noise
from ganlab.train.ema import update_average

Tensor = torch.Tensor
Batch = tuple[Tensor, Tensor]  # x (B, *shape) float, already scaled; y (B,) int64 labels


def train_step(bundle: Bundle, batches: Sequence[Batch]) -> Tensor:
    """D takes one update per batch of `batches` (`train.n_critic` of them), then G one
    (Goodfellow et al. 2014, Algorithm 1, with k = n_critic).

    A conditional G draws its fakes for the labels of the real batch. Returns the statistics
    named by `bundle.objective.stat_names` (of the last D update), shape (len,), on the device.
    """
    objective, engine, noise, train = bundle.objective, bundle.engine, bundle.config.noise, bundle.config.train
    engine.begin_step()
    for x_real, y in batches:
        batch = x_real.shape[0]
        z = sample_noise(batch, noise, x_real.device)
        with engine.autocast():  # forward passes only: backward follows the forward's dtypes
            x_fake = bundle.step_g(z, y)
            # D judges real and (some replayed) fakes, under instance noise when on.
            x_fake_d = x_fake.detach() if bundle.replay is None else bundle.replay.mix(x_fake)
            x_d = add_instance_noise(torch.cat([x_real, x_fake_d]), bundle.noise_std)
            # D: minimise the loss on real and fake, in one pass (one set of matmuls).
            logits = bundle.step_d(x_d, torch.cat([y, y]))
            half = logits.shape[0] // 2  # B, or B / pack when D judges packs of samples
            d_loss = objective.d_loss(logits[:half], logits[half:])
        with torch.no_grad():  # now: a CUDA graph's next replay may reuse the logits' memory
            d_real, d_fake = objective.summarise(logits[:half]), objective.summarise(logits[half:])
        d_total = d_loss
        penalties: list[Tensor] = []
        if objective.penalties:  # on the plain D: compiled graphs do not take double backward
            weighted, penalties = objective.penalise(bundle.d, x_d[:batch], x_d[batch:].detach(), y)
            d_total = d_loss + weighted
        bundle.optimizers["d"].zero_grad(set_to_none=True)
        d_total.backward()
        d_grad_norm = torch.nn.utils.get_total_norm([p.grad for p in bundle.d.parameters()])
        bundle.optimizers["d"].step()
        if train.clip is not None:  # the original WGAN's Lipschitz constraint, after each D update
            with torch.no_grad():
                torch._foreach_clamp_min_(params := list(bundle.d.parameters()), -train.clip)
                torch._foreach_clamp_max_(params, train.clip)

    # G: minimise its loss on D's view of fresh fakes (or of the last D update's, g_noise=reuse).
    # D's weights need no gradient here.
    bundle.d.requires_grad_(False)
    with engine.autocast():
        if train.g_noise == "fresh":
            x_fake = bundle.step_g(sample_noise(batch, noise, x_real.device), y)
        real_logits = bundle.step_d(add_instance_noise(x_real, bundle.noise_std), y) if objective.loss.g_needs_real else None
        g_loss = objective.loss.g(bundle.step_d(add_instance_noise(x_fake, bundle.noise_std), y), real_logits)
    bundle.optimizers["g"].zero_grad(set_to_none=True)
    g_loss.backward()
    bundle.d.requires_grad_(True)
    g_grad_norm = torch.nn.utils.get_total_norm([p.grad for p in bundle.g.parameters()])
    bundle.optimizers["g"].step()
    if train.ema is not None:  # the average of G's weights follows each G update
        update_average(bundle.modules["g_ema"], bundle.g, bundle.ema_decay)

    return torch.stack([d_loss, g_loss, d_real, d_fake, *penalties, d_grad_norm, g_grad_norm]).detach()
