"""The objective- and step-level stabilisers of issue 12, each against its formula: the losses,
WGAN-GP and R2, weight clipping, label smoothing and flips, instance noise, experience replay,
learning-rate decay and the EMA of G; and a run with all of them that resumes bit for bit."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from ganlab.config import ConfigError, load_preset
from ganlab.train.bundle import build_bundle, sampler_name
from ganlab.train.d_inputs import ReplayBuffer, add_instance_noise
from ganlab.train.losses import LOSSES, Loss, lsgan_d, lsgan_g, minimax_g, ns_d, ns_g, ragan_d, ragan_g, wasserstein_d
from ganlab.train.objective import Objective
from ganlab.train.penalties import r1, r2, wgan_gp
from ganlab.models.noise import sample_noise
from ganlab.train.sampling import load_generator
from ganlab.train.standing_stats import STANDING_SEED, standing_statistics
from ganlab.train.step import train_step

CPU = torch.device("cpu")
REAL, FAKE = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-3.0, 0.0, 1.0])


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def close(value: torch.Tensor, expected: float) -> None:
    torch.testing.assert_close(value, torch.tensor(expected))


def test_minimax_g_is_the_mean_log_of_one_minus_d():
    # log(1 - sigmoid(f)) = -softplus(f)
    close(minimax_g(FAKE), mean(-softplus(f) for f in FAKE.tolist()))


def test_wasserstein_is_the_difference_of_the_critics_means():
    close(wasserstein_d(REAL, FAKE), (-3.0 + 0.0 + 1.0) / 3 - (2.0 + 0.5 - 1.0) / 3)  # -2/3 - 1/2
    close(LOSSES["wasserstein"].g(FAKE, None), 2.0 / 3)


def test_lsgan_is_half_the_squared_distances_to_its_targets():
    # (r - 1)^2: 1, 0.25, 4 -> 1.75; f^2: 9, 0, 1 -> 10/3
    close(lsgan_d(REAL, FAKE), (1.75 + 10 / 3) / 2)
    close(lsgan_g(FAKE), (16 + 1 + 0) / 3 / 2)
    # a real target of 0.9: (r - 0.9)^2: 1.21, 0.16, 3.61 -> 4.98 / 3
    close(lsgan_d(REAL, FAKE, torch.full((3,), 0.9), torch.zeros(3)), (4.98 / 3 + 10 / 3) / 2)


def test_ragan_compares_each_sample_with_the_other_sides_mean():
    real_mean, fake_mean = 0.5, -2 / 3
    a = [r - fake_mean for r in REAL.tolist()]  # real, relative to the average fake
    b = [f - real_mean for f in FAKE.tolist()]  # fake, relative to the average real
    # BCE(x, 1) = softplus(-x), BCE(x, 0) = softplus(x)
    close(ragan_d(REAL, FAKE), (mean(softplus(-x) for x in a) + mean(softplus(x) for x in b)) / 2)
    close(ragan_g(FAKE, REAL), (mean(softplus(-x) for x in b) + mean(softplus(x) for x in a)) / 2)
    assert LOSSES["ragan"].g_needs_real


def test_one_sided_label_smoothing_moves_only_the_real_target():
    objective = Objective.from_config(load_preset("ring", ["train.label_smoothing=0.1"]).train)
    # BCE(r, 0.9) = softplus(-r) + 0.1 r; the fakes keep target 0: softplus(f)
    expected = (mean(softplus(-r) + 0.1 * r for r in REAL.tolist()) + mean(softplus(f) for f in FAKE.tolist())) / 2
    close(objective.d_loss(REAL, FAKE), expected)
    assert Objective.from_config(load_preset("ring").train).d_loss(REAL, FAKE).item() == ns_d(REAL, FAKE).item()


def test_flipped_labels_flip_about_that_fraction_of_targets():
    seen = []
    recording = Loss(lambda r, f, real_target, fake_target: seen.append((real_target, fake_target)) or r.sum(), ns_g)
    objective = Objective(recording, real_target=0.75, flip=0.25)  # 0.75: exact in float32
    torch.manual_seed(0)
    objective.d_loss(torch.zeros(4000), torch.zeros(4000))
    real_target, fake_target = seen[0]
    # a flipped real target is 0, a flipped fake one the (smoothed) real target
    assert set(real_target.unique().tolist()) == {0.0, 0.75} and set(fake_target.unique().tolist()) == {0.0, 0.75}
    assert abs((real_target == 0).float().mean() - 0.25) < 0.03 and abs((fake_target > 0).float().mean() - 0.25) < 0.03


def test_label_tricks_with_a_loss_without_targets_name_the_field():
    with pytest.raises(ConfigError, match=r"train.label_smoothing: needs a loss with targets \(ns, minimax"):
        Objective.from_config(load_preset("ring", ["train.loss=hinge", "train.label_smoothing=0.1"]).train)
    with pytest.raises(ConfigError, match="train.label_flip: .* got loss 'wasserstein'"):
        build_bundle(load_preset("ring", ["train.loss=wasserstein", "train.label_flip=0.1"]), CPU)


def test_wgan_gp_is_the_squared_distance_of_the_gradient_norm_from_one():
    x_real, x_fake = torch.randn(6, 2), torch.randn(6, 2)
    linear = lambda x, y: x @ torch.tensor([3.0, -4.0]) + 1.0  # |grad| = 5 everywhere: (5 - 1)^2
    close(wgan_gp(linear, x_real, x_fake, None), 16.0)
    unit = lambda x, y: x @ torch.tensor([0.6, 0.8])  # already 1-Lipschitz: zero
    assert wgan_gp(unit, x_real, x_fake, None).item() == 0.0
    # D = |x|^2 / 2 has grad x: with x_real = x_fake every interpolate is x, the penalty mean (|x| - 1)^2
    x = torch.tensor([[3.0, 4.0], [0.0, 0.5], [1.0, 0.0]])
    square = lambda x, y: 0.5 * x.pow(2).sum(1)
    close(wgan_gp(square, x, x, None), ((5 - 1) ** 2 + 0.5**2 + 0.0) / 3)


def test_wgan_gp_takes_its_gradient_at_interpolates_of_real_and_fake():
    x_real, x_fake = torch.full((4, 1, 2, 2), 1.0), torch.full((4, 1, 2, 2), -1.0)
    seen = []
    d = lambda x, y: seen.append(x.detach().clone()) or x.flatten(1).sum(1)
    torch.manual_seed(0)
    wgan_gp(d, x_real, x_fake, None)
    e = seen[0][:, :, :1, :1]  # x_hat = e - (1 - e) = 2e - 1, constant within each sample
    assert torch.equal(seen[0], e.expand_as(seen[0])) and bool((e > -1).all() and (e < 1).all())


def test_r1_and_r2_are_zero_where_d_is_flat_on_their_side():
    d = lambda x, y: torch.relu(x.sum(1))  # flat for negative sums, slope (1, 1) for positive
    x_real, x_fake = -torch.rand(5, 2) - 0.1, torch.rand(5, 2) + 0.1
    assert r1(d, x_real, x_fake, None).item() == 0.0 and r2(d, x_fake, x_real, None).item() == 0.0
    close(r2(d, x_real, x_fake, None), 1.0)  # (1/2) |(1, 1)|^2
    close(r1(d, x_fake, x_real, None), 1.0)


def test_instance_noise_has_its_std_and_decays_linearly_to_zero():
    x = torch.zeros(20000)
    torch.manual_seed(0)
    assert abs(add_instance_noise(x, 0.3).std() - 0.3) < 0.01 and add_instance_noise(x, 0.0) is x
    bundle = build_bundle(load_preset("ring", ["train.instance_noise=0.4"]), CPU)
    stds = []
    for step in (0, 25, 75):
        bundle.at_step(step, 100)
        stds.append(bundle.noise_std)
    assert stds == pytest.approx([0.4, 0.3, 0.1])


def test_linear_decay_scales_the_learning_rates_and_keeps_a_rollbacks_scale():
    config = load_preset("ring", ["optim.decay=linear", "optim.d.lr=0.004"])
    bundle = build_bundle(config, CPU)
    bundle.at_step(30, 40)
    assert bundle.optimizers["d"].param_groups[0]["lr"] == pytest.approx(0.001)
    bundle.set_lr_scale(0.5)  # a rollback
    bundle.at_step(20, 40)
    assert bundle.optimizers["d"].param_groups[0]["lr"] == pytest.approx(0.001)
    assert bundle.optimizers["g"].param_groups[0]["lr"] == pytest.approx(config.optim.g.lr / 4)


def test_replay_mixes_old_fakes_into_the_first_rows_and_keeps_the_newest():
    buffer = ReplayBuffer(0.5, capacity=6)
    first = torch.arange(4.0).unsqueeze(1)  # fakes 0..3
    assert torch.equal(buffer.mix(first), first)  # nothing to replay yet
    second = torch.arange(10.0, 14.0).unsqueeze(1)
    mixed = buffer.mix(second)
    assert set(mixed[:2, 0].tolist()) <= {0, 1, 2, 3} and torch.equal(mixed[2:], second[2:])
    assert buffer.count == 6 and sorted(buffer.fakes[:, 0].tolist()) == [2, 3, 10, 11, 12, 13]
    restored = ReplayBuffer(0.5, capacity=6)
    restored.load_state_dict(buffer.state_dict(), CPU)
    assert torch.equal(restored.fakes, buffer.fakes) and (restored.count, restored.position) == (6, 2)


def test_ema_is_its_closed_form_after_a_few_steps(one_thread):
    decay = 0.8
    config = load_preset("ring", [f"train.ema={decay}", "model.g.hidden=[8]", "model.d.hidden=[8]", "train.batch_size=16"])
    assert sampler_name(config) == "g_ema"
    torch.manual_seed(0)
    bundle = build_bundle(config, CPU)
    thetas = [[p.detach().clone() for p in bundle.g.parameters()]]  # theta_0, then after each G step
    x = torch.randn(16, 2)
    for _ in range(3):
        train_step(bundle, [(x, torch.zeros(16, dtype=torch.int64))])
        thetas.append([p.detach().clone() for p in bundle.g.parameters()])
    assert bundle.sampler is bundle.modules["g_ema"]
    for i, average in enumerate(bundle.sampler.parameters()):
        k = 3  # beta^k theta_0 + (1 - beta) sum_{j=1..k} beta^(k-j) theta_j
        expected = decay**k * thetas[0][i] + sum((1 - decay) * decay ** (k - j) * thetas[j][i] for j in range(1, k + 1))
        torch.testing.assert_close(average, expected)
        assert not torch.equal(average, thetas[-1][i])


def test_ema_warmup_caps_the_decay_early_and_is_refused_without_an_average(one_thread):
    decay = 0.8  # warmed up: min(0.8, (1 + t) / (10 + t)) = 0.1, 2/11, 0.25 for the updates after steps 0, 1, 2
    config = load_preset("ring", [f"train.ema={decay}", "train.ema_warmup=true", "model.g.hidden=[8]", "model.d.hidden=[8]"])
    torch.manual_seed(0)
    bundle = build_bundle(config, CPU)
    expected = [p.detach().clone() for p in bundle.g.parameters()]
    x = torch.randn(16, 2)
    for step in range(3):
        bundle.at_step(step, 100)
        assert bundle.ema_decay == pytest.approx(min(decay, (1 + step) / (10 + step)))
        train_step(bundle, [(x, torch.zeros(16, dtype=torch.int64))])
        expected = [bundle.ema_decay * e + (1 - bundle.ema_decay) * p.detach() for e, p in zip(expected, bundle.g.parameters())]
    for average, value in zip(bundle.sampler.parameters(), expected):
        torch.testing.assert_close(average, value)
    bundle.at_step(1000, 2000)
    assert bundle.ema_decay == decay  # the cap is gone once (1 + t) / (10 + t) passes the decay
    with pytest.raises(ConfigError, match="train.ema_warmup.*needs train.ema"):
        load_preset("ring", ["train.ema_warmup=true"])



def test_standing_statistics_are_the_averages_own_batch_statistics(one_thread):
    config = load_preset("ring", ["train.ema=0.8", "model.g.batch_norm=true", "model.g.hidden=[8]", "model.d.hidden=[8]", "train.batch_size=16"])
    torch.manual_seed(0)
    bundle = build_bundle(config, CPU)
    for _ in range(3):
        train_step(bundle, [(torch.randn(16, 2), torch.zeros(16, dtype=torch.int64))])
    average, norm = bundle.sampler, bundle.sampler.body[1]
    assert torch.equal(norm.running_mean, bundle.g.body[1].running_mean)  # copied from the raw G until now
    rng, mode = torch.get_rng_state(), average.training
    standing_statistics(average, config, CPU, samples=64)
    assert torch.equal(torch.get_rng_state(), rng) and average.training == mode and norm.momentum == 0.1
    generator = torch.Generator().manual_seed(config.train.seed + STANDING_SEED)  # generate's noise, 4 batches of 16
    with torch.no_grad():
        h = [average.body[0](sample_noise(16, config.noise, generator=generator)) for _ in range(4)]
    torch.testing.assert_close(norm.running_mean, torch.stack([b.mean(0) for b in h]).mean(0))
    torch.testing.assert_close(norm.running_var, torch.stack([b.var(0) for b in h]).mean(0))
    assert not torch.allclose(norm.running_mean, bundle.g.body[1].running_mean)
    plain = build_bundle(load_preset("ring", ["train.ema=0.8"]), CPU).sampler  # no batch norm: untouched
    before = {k: v.clone() for k, v in plain.state_dict().items()}
    standing_statistics(plain, config, CPU, samples=64)
    assert all(torch.equal(v, before[k]) for k, v in plain.state_dict().items())


ALL_ON = [
    "train.ema=0.9", "train.ema_warmup=true", "train.replay=0.25", "train.replay_size=64", "optim.decay=linear", "train.instance_noise=0.3",
    "train.label_smoothing=0.1", "train.label_flip=0.05", "train.penalties.wgan-gp=1", "train.eval_every=1",
    "train.epochs=3", "train.ring_size=2048", "model.g.hidden=[32]", "model.d.hidden=[32]", "model.g.batch_norm=true",
]  # fmt: skip


def test_a_run_with_every_switch_resumes_bit_for_bit(tmp_path, monkeypatch, one_thread):
    from ganlab.api import resume, train
    from ganlab.train import loop

    config = load_preset("ring", ALL_ON)
    whole = train(config, tmp_path / "whole", progress="quiet", device="cpu")
    write_samples = loop.write_samples

    def die_in_epoch_3(run, epoch, picture):  # after epoch 2's checkpoint, before epoch 3's
        if epoch == 3:
            raise KeyboardInterrupt
        write_samples(run, epoch, picture)

    monkeypatch.setattr(loop, "write_samples", die_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "killed", progress="quiet", device="cpu")
    monkeypatch.undo()
    resumed = resume(tmp_path / "killed", progress="quiet", device="cpu")
    a, b = load_file(whole.weights("final")), load_file(resumed.weights("final"))
    assert {"g_ema.head.weight", "g.head.weight"} <= set(a) and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.allclose(a["g_ema.body.1.running_mean"], a["g.body.1.running_mean"])  # its standing statistics
    assert (tmp_path / "whole/metrics.jsonl").read_bytes() == (tmp_path / "killed/metrics.jsonl").read_bytes()
    evals = [r for r in whole.read_metrics() if r["kind"] == "eval"]
    assert len(evals) == 3 and {"modes_covered", "raw_modes_covered"} <= set(evals[-1])
    g, _ = load_generator(whole.path)  # sampling, like evaluation, uses the average
    assert torch.equal(g.state_dict()["head.weight"], a["g_ema.head.weight"])


def test_the_original_wgan_runs_with_clipped_weights(tmp_path, one_thread):
    from ganlab.api import train

    overrides = ["train.loss=wasserstein", "train.clip=0.0625", "train.n_critic=5", "train.ring_size=2560", "train.epochs=1"]
    run = train(load_preset("ring", overrides), tmp_path / "run", progress="quiet", device="cpu")
    weights = load_file(run.weights("final"))
    assert run.info["status"] == "complete" and [r["step"] for r in run.read_metrics() if r["kind"] == "epoch"] == [2]
    assert max(v.abs().max().item() for k, v in weights.items() if k.startswith("d.")) <= 0.0625  # exact in float32


def test_the_ttur_preset_is_the_baseline_with_its_learning_rates():
    ttur, fc = load_preset("ttur"), load_preset("fc")
    assert (ttur.optim.d.lr, ttur.optim.g.lr) == (4e-4, 1e-4)
    assert ttur.model_dump(exclude={"name", "description", "optim"}) == fc.model_dump(exclude={"name", "description", "optim"})
    assert ttur.optim.g.betas == fc.optim.g.betas and ttur.optim.decay == "none"
