"""The model-level stabilisation switches (issue 12): spectral normalisation, the minibatch standard
deviation, PacGAN packing, spherical z and dropout at sampling time. One training step of each on
the ring's and MNIST's shapes; what each computes; checkpoints and resumes with them on."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganlab import api
from ganlab.config import ConfigError, load_preset
from ganlab.data.ring import ring_mode_stats, sample_ring
from ganlab.models import build_discriminator, build_generator
from ganlab.models.minibatch import _pack_indices, minibatch_std
from ganlab.models.noise import sample_noise
from ganlab.train.bundle import build_bundle
from ganlab.train.sampling import generate
from ganlab.train.step import train_step

CPU = torch.device("cpu")
G_KINDS = {"mlp": "model.g={kind: mlp, hidden: [16], dropout: 0.2}", "conv": "model.g={kind: conv, filters: [4]}"}
D_KINDS = {"mlp": "model.d={kind: mlp, hidden: [16]}", "conv": "model.d={kind: conv, filters: [4, 8]}"}
# batch_size 10: packs of 3 and groups of 4 do not divide its halves, so the leftovers are taken too.
SMALL = ["noise.dim=8", "train.batch_size=10"]
SWITCHES = {
    "d-spectral-norm": ["model.d.spectral_norm=true"],
    "g-spectral-norm": ["model.g.spectral_norm=true"],
    "minibatch-std": ["model.d.minibatch_std=true"],
    "minibatch-std-group-2": ["model.d.minibatch_std=true", "model.d.minibatch_std_group=2"],
    "pack-2": ["model.d.pack=2"],
    "pack-3": ["model.d.pack=3"],
    "spherical-z": ["noise.distribution=spherical"],
    "dropout-at-sampling": ["model.g.dropout_at_sampling=true"],
    "all": [
        "model.d.spectral_norm=true", "model.g.spectral_norm=true", "model.d.minibatch_std=true",
        "model.d.pack=2", "noise.distribution=spherical",
    ],
}  # fmt: skip
COMBINATIONS = [
    (dataset, g, d, switch)
    for dataset, g, d, switch in itertools.product(["ring", "mnist"], G_KINDS, D_KINDS, SWITCHES)
    if not (dataset == "ring" and "conv" in (g, d)) and not (switch == "dropout-at-sampling" and g == "conv")
]


def _config(dataset: str, *overrides: str):
    return load_preset("ring" if dataset == "ring" else "fc", [f"data.dataset={dataset}", *overrides])


def _batch(config) -> list[tuple[torch.Tensor, torch.Tensor]]:
    shape = (2,) if config.data.dataset == "ring" else (1, 28, 28)
    gen, n = torch.Generator().manual_seed(0), config.train.batch_size
    return [(torch.rand(n, *shape, generator=gen) * 2 - 1, torch.randint(10, (n,), generator=gen))]


@pytest.mark.parametrize("dataset,g,d,switch", COMBINATIONS)
def test_one_step_with_each_switch(dataset, g, d, switch, one_thread):
    config = _config(dataset, *SMALL, G_KINDS[g], D_KINDS[d], *SWITCHES[switch])
    torch.manual_seed(0)
    bundle = build_bundle(config, CPU)
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in bundle.modules.items()}
    stats = train_step(bundle, _batch(config))
    assert stats.shape == (len(bundle.objective.stat_names),) and torch.isfinite(stats).all()
    for name, module in bundle.modules.items():
        moved = [not torch.equal(a, b) for a, b in zip(before[name], module.parameters())]
        assert all(moved), f"{name}: {moved}"


def test_switches_off_build_the_same_networks_from_the_same_draws():
    """The defaults create no layer and draw nothing more: the golden digests rely on it."""
    config = load_preset("ring")
    explicit = load_preset("ring", ["model.d.pack=1", "model.d.minibatch_std=false", "model.d.spectral_norm=false"])
    nets = []
    for c in (config, explicit):
        torch.manual_seed(0)
        nets.append((build_generator(c).state_dict(), build_discriminator(c).state_dict(), torch.rand(1)))
    (g1, d1, r1), (g2, d2, r2) = nets
    assert list(d1) == list(d2) == ["body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias", "head.weight", "head.bias"]
    assert all(torch.equal(g1[k], g2[k]) for k in g1) and all(torch.equal(d1[k], d2[k]) for k in d1)
    assert torch.equal(r1, r2)


@pytest.mark.parametrize("d", ["mlp", "conv"])
def test_spectral_norm_brings_every_layer_to_norm_one(d):
    config = _config("mnist", D_KINDS[d], "model.d.spectral_norm=true")
    torch.manual_seed(0)
    disc = build_discriminator(config)
    x = torch.rand(8, 1, 28, 28)
    for _ in range(30):  # one power iteration per forward in train mode
        disc(x)
    layers = [m for m in disc.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    assert len(layers) == (2 if d == "mlp" else 3)
    for layer in layers:
        assert torch.nn.utils.parametrize.is_parametrized(layer, "weight")
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=1e-3), layer
    # The plain weights are not normalised: the parametrisation divides them.
    original = disc.head.parametrizations.weight.original
    assert torch.linalg.matrix_norm(original.detach(), ord=2) != pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("d, switches, pack", [
    ("mlp", ["model.d.pack=4"], 4),
    ("mlp", ["model.d.pack=5"], 5),
    ("mlp", ["model.d.minibatch_std=true"], 1),
    ("conv", ["model.d.pack=5", "model.d.minibatch_std=true"], 5),
    ("conv", ["model.d.pack=3", "model.d.minibatch_std=true", "model.d.minibatch_std_group=8"], 3),
])  # fmt: skip
@pytest.mark.parametrize("batch", [128, 96])  # a full MNIST batch and the last one of an epoch
def test_real_logits_never_see_the_fakes(d, switches, pack, batch):
    """D judges cat([real, fake]) in one pass: the real half's logits (the first half of them,
    one per pack) must not depend on the fakes, and must be those of the real batch alone."""
    torch.manual_seed(0)
    disc = build_discriminator(_config("mnist", D_KINDS[d], *switches))
    real, fake, other = torch.rand(3, batch, 1, 28, 28).unbind()
    a, b = disc(torch.cat([real, fake])), disc(torch.cat([real, other]))
    half = math.ceil(batch / pack)
    assert a.shape == (2 * half,)
    assert torch.equal(a[:half], b[:half]) and not torch.equal(a[half:], b[half:])
    if batch // 2 % pack == 0 and "model.d.minibatch_std=true" not in switches:
        # (judged alone, the real batch is split in halves too: the same packs if m divides them)
        assert torch.allclose(a[:half], disc(real), atol=1e-6)


@pytest.mark.parametrize("n, m", [(256, 2), (256, 4), (192, 5), (20, 3), (7, 2), (3, 4)])
def test_packs_stay_in_their_half_and_judge_every_sample(n, m):
    packs = _pack_indices(n, m, CPU)
    halves = (n // 2, n // 2) if n % 2 == 0 else (n,)
    assert packs.shape == (sum(math.ceil(h / m) for h in halves), m)
    first = packs[: math.ceil(halves[0] / m)]
    assert bool((first < halves[0]).all()) and bool((packs[len(first) :] >= halves[0]).all())
    assert set(packs.flatten().tolist()) == set(range(n))
    if n % (2 * m) == 0:  # the plain case: consecutive samples, each in one pack
        assert torch.equal(packs.flatten(), torch.arange(n))


def test_minibatch_std_is_the_mean_feature_std_of_each_group_and_zero_for_identical_samples():
    h = torch.randn(16, 3, 5, 5)
    h[:8] = h[0]  # the real half: one sample repeated, no diversity
    out = minibatch_std(h, 4)
    assert out.shape == (16, 4, 5, 5) and torch.equal(out[:, :3], h)
    stat = out[:, 3]
    assert (stat.flatten(1) == stat[:, :1, :1].flatten(1)).all()  # one number per sample
    assert torch.allclose(stat[:8], torch.full((8, 5, 5), 1e-4))  # sqrt of the epsilon
    expected = h[8:12].std(0, unbiased=False).mean()
    assert torch.allclose(stat[8:12], expected.expand(4, 5, 5), rtol=1e-5)
    assert not torch.allclose(stat[8], stat[12])


def test_spherical_z_is_the_gaussian_draw_on_the_sphere():
    gaussian, spherical = (
        sample_noise(500, load_preset("fc", [f"noise.distribution={kind}"]).noise, generator=torch.Generator().manual_seed(3))
        for kind in ("gaussian", "spherical")
    )
    assert torch.allclose(spherical.norm(dim=1), torch.full((500,), 10.0))
    assert torch.allclose(spherical, gaussian * 10 / gaussian.norm(dim=1, keepdim=True))


@pytest.mark.parametrize("keep", [True, False])
def test_dropout_at_sampling_makes_samples_of_the_same_noise_differ(keep):
    config = load_preset("fc", ["model.g.dropout=0.3", f"model.g.dropout_at_sampling={keep}"])
    torch.manual_seed(0)
    g = build_generator(config).eval()
    first, second = generate(g, config, 8, seed=1), generate(g, config, 8, seed=1)
    assert torch.equal(first, second) is not keep
    assert not g.training and not g.body[0].training  # only the dropout layers stay on
    assert all(m.training is keep for m in g.modules() if isinstance(m, torch.nn.Dropout))


def test_dropout_at_sampling_without_dropout_is_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"model\.g\.dropout_at_sampling: needs model\.g\.dropout > 0"):
        load_preset("fc", ["model.g.dropout_at_sampling=true"])


def test_a_spectrally_normalised_run_resumes_bit_identical(tmp_path: Path, one_thread, monkeypatch):
    """The power iteration's u and v are in the checkpoints: a run stopped after epoch 2 and
    resumed ends with the weights, u and v of a run that never stopped."""
    import ganlab.train.loop as loop

    overrides = [
        "model.d.spectral_norm=true", "model.g.spectral_norm=true", "model.d.pack=2", "model.d.minibatch_std=true",
        "train.epochs=4", "train.ring_size=2560",
    ]  # fmt: skip
    config = load_preset("ring", overrides)
    whole = api.train(config, tmp_path / "whole", progress="quiet", device="cpu")

    save = loop.save_epoch_checkpoint

    def save_then_stop(run, bundle, epoch, *rest):
        save(run, bundle, epoch, *rest)
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_epoch_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        api.train(config, tmp_path / "stopped", progress="quiet", device="cpu")
    monkeypatch.setattr(loop, "save_epoch_checkpoint", save)
    resumed = api.resume(tmp_path / "stopped", progress="quiet", device="cpu")

    a, b = load_file(whole.weights("final")), load_file(resumed.weights("final"))
    assert a.keys() == b.keys() and "d.body.0.parametrizations.weight.0._u" in a
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (whole.path / "metrics.jsonl").read_bytes() == (resumed.path / "metrics.jsonl").read_bytes()
    assert resumed.sample(4).shape == (4, 2)


def _ring_modes(preset: str, overrides: list[str], seed: int, steps: int) -> int:
    """Modes of the ring covered (VEEGAN's count, 2,000 samples) after `steps` training steps of
    `preset` on fresh ring batches of 256, from `seed`."""
    config = load_preset(preset, [*overrides, f"train.seed={seed}"])
    torch.manual_seed(seed)
    bundle = build_bundle(config, CPU)
    data, y = torch.Generator().manual_seed(seed), torch.zeros(256, dtype=torch.long)
    for _ in range(steps):
        train_step(bundle, [(sample_ring(256, data), y)])
    return ring_mode_stats(generate(bundle.g.eval(), config, 2000))["modes_covered"]


PACKED = ["model.d.pack=2"]


def test_packing_covers_the_ring_where_fail_collapse_does_not(one_thread):
    """One seed, to stay under 20 s on a CPU: PacGAN's D (packs of 2, the ring preset otherwise)
    covers all 8 modes after 2,000 steps; fail-collapse (G 300x faster than a nearly frozen D) has
    lost the ring by step 500. Five seeds of each technique: `ganlab study run ring-toolbox`."""
    assert _ring_modes("ring", PACKED, seed=0, steps=2000) == 8
    assert _ring_modes("fail-collapse", [], seed=0, steps=500) < 8
