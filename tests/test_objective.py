"""The objective seam: every loss x penalty x architecture, and every step-level switch with the
losses it suits, takes a training step on the ring's and MNIST's shapes; registries and config
names agree; n_critic D steps per G step."""

from __future__ import annotations

import itertools

import pytest
import torch

from ganlab.config import LOSS_NAMES, PENALTY_NAMES, ConfigError, load_preset
from ganlab.models import DISCRIMINATORS, GENERATORS
from ganlab.train.bundle import build_bundle
from ganlab.train.losses import LOSSES
from ganlab.train.penalties import PENALTIES
from ganlab.train.step import train_step

CPU = torch.device("cpu")
# Small networks of every registered kind (the conv ones need images).
G_KINDS = {
    "mlp": ["model.g={kind: mlp, hidden: [16]}"],
    "conv": ["model.g={kind: conv, filters: [4]}"],
    "dcgan": ["model.g={kind: dcgan, filters: [8, 4]}"],
}
D_KINDS = {
    "mlp": ["model.d={kind: mlp, hidden: [16]}"],
    "conv": ["model.d={kind: conv, filters: [4, 8]}"],
    "dcgan": ["model.d={kind: dcgan, filters: [4, 8]}"],
}
IMAGE_ONLY = {"conv", "dcgan"}
SMALL = ["model.d.hidden=[16]", "noise.dim=8", "train.batch_size=8"]


def test_config_names_match_the_registries():
    assert set(LOSS_NAMES) == set(LOSSES)
    assert set(PENALTY_NAMES) == set(PENALTIES)
    assert set(G_KINDS) == set(GENERATORS) and set(D_KINDS) == set(DISCRIMINATORS)


def _batches(config, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    shape = (2,) if config.data.dataset == "ring" else (1, 28, 28)
    gen = torch.Generator().manual_seed(0)
    batch = config.train.batch_size
    return [(torch.rand(batch, *shape, generator=gen) * 2 - 1, torch.randint(10, (batch,), generator=gen)) for _ in range(n)]


COMBINATIONS = [
    (dataset, g, d, loss, penalty)
    for dataset, g, d, loss, penalty in itertools.product(
        ["ring", "mnist"], G_KINDS, D_KINDS, LOSS_NAMES, [None, *PENALTY_NAMES]
    )
    if not (dataset == "ring" and IMAGE_ONLY & {g, d})
]


@pytest.mark.parametrize("dataset,g,d,loss,penalty", COMBINATIONS)
def test_one_step_of_every_loss_penalty_and_architecture(dataset, g, d, loss, penalty, one_thread):
    overrides = [f"data.dataset={dataset}", *SMALL, *G_KINDS[g], *D_KINDS[d], f"train.loss={loss}"]
    if penalty:
        overrides.append(f"train.penalties.{penalty}=1.0")
    config = load_preset("ring" if dataset == "ring" else "fc", overrides)
    torch.manual_seed(0)
    bundle = build_bundle(config, CPU)
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in bundle.modules.items()}
    stats = train_step(bundle, _batches(config, 1))
    names = bundle.objective.stat_names
    assert stats.shape == (len(names),) and torch.isfinite(stats).all()
    assert (penalty in names) == bool(penalty)
    for name, module in bundle.modules.items():
        moved = [not torch.equal(a, b) for a, b in zip(before[name], module.parameters())]
        assert sum(moved) >= len(moved) - 1, f"{name}: {moved}"  # (hinge: D's output bias can cancel)


# Step-level switches (the train: and optim: sections), each with the losses it makes sense for.
LABEL_LOSSES = [name for name, loss in LOSSES.items() if loss.labels]
SWITCHES = {
    "clip": (["train.clip=0.01"], ["wasserstein"]),
    "label_smoothing": (["train.label_smoothing=0.1"], LABEL_LOSSES),
    "label_flip": (["train.label_flip=0.2"], LABEL_LOSSES),
    "instance_noise": (["train.instance_noise=0.5"], ["ns", "ragan"]),
    "replay": (["train.replay=0.5", "train.replay_size=12"], ["ns"]),
    "ema": (["train.ema=0.9"], ["ns"]),
    "decay": (["optim.decay=linear"], ["ns"]),
    "all": (
        ["train.label_smoothing=0.1", "train.label_flip=0.1", "train.instance_noise=0.5", "train.replay=0.25",
         "train.ema=0.9", "optim.decay=linear", "train.penalties.r1=1", "train.n_critic=2"],
        ["ns", "ragan"],
    ),
}  # fmt: skip
SWITCH_COMBINATIONS = [
    (dataset, g, d, switch, loss)
    for dataset, g, d, switch in itertools.product(["ring", "mnist"], G_KINDS, D_KINDS, SWITCHES)
    for loss in SWITCHES[switch][1]
    if not (dataset == "ring" and IMAGE_ONLY & {g, d})
]


@pytest.mark.parametrize("dataset,g,d,switch,loss", SWITCH_COMBINATIONS)
def test_two_steps_with_every_step_switch_and_architecture(dataset, g, d, switch, loss, one_thread):
    overrides = [f"data.dataset={dataset}", *SMALL, *G_KINDS[g], *D_KINDS[d], f"train.loss={loss}", *SWITCHES[switch][0]]
    config = load_preset("ring" if dataset == "ring" else "fc", overrides)
    torch.manual_seed(0)
    bundle = build_bundle(config, CPU)
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in bundle.modules.items()}
    for step in range(2):  # the second step replays the first one's fakes
        bundle.at_step(step + 1, 4)
        stats = train_step(bundle, _batches(config, config.train.n_critic))
        assert stats.shape == (len(bundle.objective.stat_names),) and torch.isfinite(stats).all()
    for name, module in bundle.modules.items():
        moved = [not torch.equal(a, b) for a, b in zip(before[name], module.parameters())]
        assert sum(moved) >= len(moved) - 1, f"{name}: {moved}"
    if config.train.clip:
        assert all(p.abs().max() <= 0.01 for p in bundle.d.parameters())
    if config.train.replay:
        assert bundle.replay.count == min(2 * config.train.n_critic * 8, config.train.replay_size)
    if config.optim.decay == "linear":  # step 2 of 4: half the configured rates
        assert bundle.optimizers["d"].param_groups[0]["lr"] == config.optim.d.lr * 0.5
    assert bundle.noise_std == config.train.instance_noise * 0.5


def test_n_critic_takes_that_many_d_steps_per_g_step(one_thread):
    config = load_preset("ring", ["train.n_critic=3", *SMALL])
    torch.manual_seed(0)
    bundle = build_bundle(config, CPU)
    steps = {"g": 0, "d": 0}
    for name, optimizer in bundle.optimizers.items():
        optimizer.register_step_post_hook(lambda *_, name=name: steps.__setitem__(name, steps[name] + 1))
    train_step(bundle, _batches(config, 3))
    assert steps == {"g": 1, "d": 3}


def test_a_conv_generator_on_points_is_refused_naming_the_field():
    config = load_preset("ring", ['model.g={kind: conv}'])
    with pytest.raises(ConfigError, match="model.g.kind: the conv generator needs image data"):
        build_bundle(config, CPU)


def test_an_unknown_loss_or_penalty_names_the_known_ones():
    with pytest.raises(ConfigError, match="train.loss: unknown loss 'wgan-typo'; known: ns"):
        load_preset("ring", ["train.loss=wgan-typo"])
    with pytest.raises(ConfigError, match="train.penalties: unknown penalty 'nope'"):
        load_preset("ring", ["train.penalties.nope=1"])


def test_hinge_loss_is_its_formula():
    from ganlab.train.losses import hinge_d, hinge_g

    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-3.0, 0.0, 1.0])
    # max(0, 1 - real): 0, 0.5, 2 -> mean 0.8333; max(0, 1 + fake): 0, 1, 2 -> mean 1
    torch.testing.assert_close(hinge_d(real, fake), torch.tensor(0.5 / 3 + 2 / 3 + 1.0))
    torch.testing.assert_close(hinge_g(fake), torch.tensor(2.0 / 3))


def test_r1_is_half_the_squared_input_gradient_and_zero_for_a_flat_d():
    from ganlab.train.penalties import r1

    w = torch.tensor([3.0, -4.0])
    x = torch.randn(5, 2)
    linear = lambda x, y: x @ w + 1.0  # grad_x D = w everywhere: R1 = |w|^2 / 2 = 12.5
    torch.testing.assert_close(r1(linear, x, x, None), torch.tensor(12.5))
    flat = lambda x, y: x.sum(1) * 0.0 + 2.0
    assert r1(flat, x, x, None).item() == 0.0


def test_a_whole_run_with_another_loss_a_penalty_and_n_critic(tmp_path, capsys, one_thread):
    from ganlab.api import train

    config = load_preset(
        "ring", ["train.loss=hinge", "train.penalties.r1=1", "train.n_critic=2", "train.ring_size=2560", "train.epochs=2"]
    )
    run = train(config, tmp_path / "run", progress="plain", device="cpu")
    epochs = [r for r in run.read_metrics() if r["kind"] == "epoch"]
    assert [r["step"] for r in epochs] == [5, 10]  # 10 batches of 256 per epoch, 2 per step
    assert {"critic_real", "critic_fake", "r1"} <= set(epochs[-1]) and "d_real" not in epochs[-1]
    assert "critic_real" in capsys.readouterr().err
    assert run.info["status"] == "complete" and (run.plots / "losses.png").is_file()
