"""Stacked training: K runs as one model end with the weights of their single runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganlab.config import load_preset
from ganlab.data.datasets import scale
from ganlab.errors import GanlabError
from ganlab.train.stacked import build_stacked, check_stackable, stacked_train_step, train_stacked
from ganlab.train.trainer import build_gan, train, train_step

SMALL_RING = ["train.epochs=2", "train.ring_size=2560"]  # 2 epochs of 10 steps



def test_stacked_members_end_with_their_single_runs_weights(tmp_path: Path, one_thread):
    # Member 1 differs in everything a member may: seed, lr, betas, D dropout, noise distribution.
    configs = [
        load_preset("ring", SMALL_RING + ["train.seed=0"]),
        load_preset(
            "ring",
            SMALL_RING
            + [
                "train.seed=1",
                "optim.g.lr=0.0005",
                "optim.d.betas=[0.9,0.99]",
                "model.d.dropout=0.2",
                "noise.distribution=uniform",
            ],
        ),
    ]
    singles = [
        load_file(train(c, tmp_path / f"single{i}", progress="quiet").weights("final")) for i, c in enumerate(configs)
    ]
    train_stacked(configs, [tmp_path / "stacked0", tmp_path / "stacked1"])
    for i, single in enumerate(singles):
        stacked = load_file(tmp_path / f"stacked{i}" / "weights" / "final.safetensors")
        assert sorted(stacked) == sorted(single)
        for key in single:
            torch.testing.assert_close(stacked[key], single[key], rtol=1e-5, atol=1e-5)
    # The two members really are different runs.
    assert not torch.allclose(singles[0]["g.head.weight"], singles[1]["g.head.weight"])
    info = json.loads((tmp_path / "stacked1" / "run.json").read_text())
    assert info["status"] == "complete" and info["steps"] == 20 and info["stacked"] == {"members": 2, "index": 1}
    epochs = [json.loads(line) for line in (tmp_path / "stacked1" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in epochs if r["kind"] == "epoch"] == [1, 2]
    assert sum(r["kind"] == "step" for r in epochs) == 20


def test_stacked_conv_generator_steps_like_single_runs(one_thread):
    small = ["model.g.filters=[4,8]", "model.d.hidden=[64,32]", "noise.dim=16", "train.batch_size=16"]
    configs = [
        load_preset("conv-g", small + ["train.seed=3"]),  # D dropout 30%, as in the study's conv-G experiment
        load_preset("conv-g", small + ["train.seed=4", "optim.d.lr=0.001", "model.d.dropout=0", "data.scaling=unit"]),
    ]
    pixels = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(9))
    singles = []
    for config in configs:
        torch.manual_seed(config.train.seed)  # as `train()` seeds before building
        gan = build_gan(config, torch.device("cpu"))
        for _ in range(4):
            stats = train_step(gan, scale(pixels, config.data.scaling), config)
        singles.append((gan, stats))
    sgan = build_stacked(configs, torch.device("cpu"))
    x_real = torch.stack([scale(pixels, c.data.scaling) for c in configs])
    for _ in range(4):
        stacked_stats = stacked_train_step(sgan, x_real)
    for i, (gan, stats) in enumerate(singles):
        member = sgan.member(i)
        for module, single in ((member.g, gan.g), (member.d, gan.d)):
            for (key, a), b in zip(module.state_dict().items(), single.state_dict().values()):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=key)
        torch.testing.assert_close(stacked_stats[i], stats, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "overrides",
    [
        ["optim.d.name=sgd", "optim.d.lr=0.01", "optim.d.momentum=0.9"],  # SGD with momentum for D
        ["train.g_noise=reuse", "model.g.dropout=0.3"],  # the G step reuses the fake batch; G dropout
    ],
)
def test_stacked_steps_match_single_steps(overrides, one_thread):
    configs = [
        load_preset("ring", overrides + [f"train.seed={seed}", f"optim.g.lr={lr}"])
        for seed, lr in ((0, 1e-3), (7, 3e-3))
    ]
    x_real = torch.randn(256, 2, generator=torch.Generator().manual_seed(1))
    singles = []
    for config in configs:
        torch.manual_seed(config.train.seed)
        gan = build_gan(config, torch.device("cpu"))
        for _ in range(5):
            train_step(gan, x_real, config)
        singles.append(gan)
    sgan = build_stacked(configs, torch.device("cpu"))
    for _ in range(5):
        stacked_train_step(sgan, torch.stack([x_real, x_real]))
    for i, gan in enumerate(singles):
        member = sgan.member(i)
        for a, b in zip([*member.g.parameters(), *member.d.parameters()], [*gan.g.parameters(), *gan.d.parameters()]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # 1% of an Adam step at lr 1e-3


def test_stacking_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_stacked([load_preset("ring", ["train.seed=5"])], torch.device("cpu"))
    assert torch.equal(torch.rand(3), expected)


def test_unstackable_configs_name_the_field():
    with pytest.raises(GanlabError, match=r"config 1 \(ring\) cannot be stacked .*train\.batch_size is 64, not 256"):
        check_stackable([load_preset("ring"), load_preset("ring", ["train.batch_size=64"])])
    with pytest.raises(GanlabError, match="batch norm cannot be stacked"):
        check_stackable([load_preset("fc-batchnorm-g")])
    with pytest.raises(GanlabError, match="at least one config"):
        check_stackable([])
