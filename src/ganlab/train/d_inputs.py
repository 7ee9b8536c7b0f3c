"""What D judges, beyond the batches themselves: instance noise and replayed fakes.

Instance noise (Sonderby et al. 2016; Arjovsky & Bottou 2017): Gaussian noise added to every input
of D, real and fake, in the D and the G step, so that the two distributions overlap and D's
gradient stays informative early on; its std decays linearly to 0 over the run
(`train.instance_noise`, `Bundle.noise_std`).

Experience replay (ganhacks tip 15; Shrivastava et al. 2017): D's fake batch mixes fresh fakes
with fakes of earlier steps, so that G cannot win by hopping back to a mode D has forgotten.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def add_instance_noise(x: Tensor, std: float) -> Tensor:
    """x + std * N(0, 1) noise of x's shape, from the global RNG; x itself when std is 0."""
    return x + std * torch.randn_like(x) if std else x


class ReplayBuffer:
    """The last `capacity` fakes of earlier D updates, on the device, overwritten oldest first.

    `mix` replaces the first round(fraction * B) rows of a fake batch (B, *shape) with fakes drawn
    uniformly, with replacement, from the buffer (from the global RNG), then stores the fresh ones.
    A conditional D gets the real batch's labels for the replayed fakes too. The buffer belongs
    in the checkpoint (`state_dict`), so a resumed run replays what it would have.
    """

    def __init__(self, fraction: float, capacity: int) -> None:
        self.fraction, self.capacity = fraction, capacity
        self.fakes: Tensor | None = None  # (capacity, *shape), allocated by the first batch
        self.count, self.position = 0, 0  # rows filled; the next row to write

    def mix(self, x_fake: Tensor) -> Tensor:
        """The batch D judges as fake: old fakes in its first rows, then fresh ones."""
        fresh = x_fake.detach()
        old = round(self.fraction * len(fresh))
        if self.count and old:
            index = torch.randint(self.count, (old,), device=fresh.device)
            x_fake = torch.cat([self.fakes[index], fresh[old:]])
        self._store(fresh)
        return x_fake

    def _store(self, fresh: Tensor) -> None:
        if self.fakes is None:
            self.fakes = fresh.new_empty((self.capacity, *fresh.shape[1:]))
        n = min(len(fresh), self.capacity)
        rows = (self.position + torch.arange(n, device=fresh.device)) % self.capacity
        self.fakes[rows] = fresh[:n]
        self.position = (self.position + n) % self.capacity
        self.count = min(self.count + n, self.capacity)

    def state_dict(self) -> dict[str, Tensor]:
        """The filled rows and the counters, as tensors for the checkpoint ({} while empty)."""
        if self.fakes is None:
            return {}
        return {"fakes": self.fakes[: self.count], "counters": torch.tensor([self.count, self.position])}

    def load_state_dict(self, state: dict[str, Tensor], device: torch.device) -> None:
        """Restore what `state_dict` saved onto `device` ({}: an empty buffer)."""
        self.fakes, self.count, self.position = None, 0, 0
        if state:
            fakes = state["fakes"].to(device)
            self.fakes = fakes.new_empty((self.capacity, *fakes.shape[1:]))
            self.fakes[: len(fakes)] = fakes
            self.count, self.position = (int(v) for v in state["counters"])
