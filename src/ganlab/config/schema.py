"""Every knob of a run, as frozen pydantic models, one per config section (`RunConfig` is the whole).

A bad value fails validation with the field's dotted name and the reason (`ganlab.config.loading`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ganlab.names import ALL_METRICS

# Upper bounds on what sizes memory or work: far above any config that trains on one machine, so
# that a typo (1e11 for 1e5) is a one-line error, not a process that grows until it is killed.
MAX_WIDTH = 65_536
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
Width = Annotated[int, Field(gt=0, le=MAX_WIDTH)]
Layers = Annotated[list[Width], Field(max_length=64)]  # hidden widths or filter counts, one per layer


class _Section(BaseModel):
    # No NaN or infinity anywhere: a learning rate of inf passes `gt=0`.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class DataConfig(_Section):
    dataset: str = "mnist"  # a name in `ganlab.data.registry.DATASETS`, checked when the run is built
    # The study compared inputs in [-1, 1] ("symmetric", matching tanh) with the original range.
    scaling: Literal["symmetric", "unit", "raw"] = "symmetric"
    # Your own images (`ganlab.data.image_folder`; the other datasets refuse these keys): PNG or
    # JPEG files in `folder`, or in one subfolder per class, resized to channels x size x size.
    folder: Path | None = None
    channels: Literal[1, 3] = 1  # 1: grey, 3: RGB
    size: Annotated[int, Field(ge=4, le=1024)] = 28
    skip_bad: bool = False  # skip unreadable, non-image and non-square files (counted), not fail

    @field_validator("folder")
    @classmethod
    def _absolute(cls, folder: Path | None) -> Path | None:
        # Saved in the run's config.yaml: a relative path would change meaning with the directory.
        return None if folder is None else folder.expanduser().absolute()


class NoiseConfig(_Section):
    # uniform is U(-1, 1); spherical is a Gaussian scaled onto the sphere of radius sqrt(dim)
    # (White 2016, ganhacks tip 3): every z has the root-mean-square norm of a Gaussian z.
    distribution: Literal["gaussian", "uniform", "spherical"] = "gaussian"
    dim: Width = 100


class MLPGeneratorConfig(_Section):
    kind: Literal["mlp"] = "mlp"
    hidden: Layers = [128, 256, 512, 1024]
    slope: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.2
    dropout: Probability = 0.0
    batch_norm: bool = False
    output: Literal["tanh", "sigmoid", "linear"] = "tanh"
    spectral_norm: bool = False  # as the discriminator's, on G's layers (Zhang et al. 2019)
    # Keep the dropout on when drawing samples too (ganhacks tip 17, after Isola et al. 2017):
    # samples then vary with the dropout masks as well as z. Off: sampling runs G in eval mode.
    dropout_at_sampling: bool = False

    @field_validator("dropout_at_sampling")
    @classmethod
    def _dropout_to_keep(cls, keep: bool, info: ValidationInfo) -> bool:
        if keep and info.data.get("dropout") == 0:
            raise ValueError("needs model.g.dropout > 0: there is no dropout to keep")
        return keep


class ConvGeneratorConfig(_Section):
    """The study's conv generator: Dense 784 -> 1x28x28 -> 3x3 'same' convs -> 1 channel."""

    kind: Literal["conv"] = "conv"
    filters: Layers = [8, 16, 32]
    slope: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.2
    output: Literal["tanh", "sigmoid", "linear"] = "tanh"
    spectral_norm: bool = False  # as the discriminator's, on G's layers (Zhang et al. 2019)


class _DiscriminatorSection(_Section):
    """The stabilisation switches every discriminator takes (`ganlab.models.minibatch`,
    `ganlab.models.spectral`). All off by default, as in the study."""

    kind: str  # each architecture's own Literal; declared here so that it stays the first key
    # Miyato et al. 2018: every Linear and Conv weight divided by its largest singular value,
    # estimated by one power iteration per training forward.
    spectral_norm: bool = False
    # Karras et al. 2018: one more feature before D's last layer, the std of the features across
    # a group of samples, averaged; groups never mix real and fake samples.
    minibatch_std: bool = False
    minibatch_std_group: Width = 4  # StyleGAN's group size
    # PacGAN (Lin et al. 2018): D judges packs of this many samples, all real or all fake; 1: off.
    pack: Width = 1


class MLPDiscriminatorConfig(_DiscriminatorSection):
    kind: Literal["mlp"] = "mlp"
    hidden: Layers = [1024, 512, 256, 128]
    slope: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.2
    dropout: Probability = 0.0
    batch_norm: bool = False


class ConvDiscriminatorConfig(_DiscriminatorSection):
    """Strided 4x4 convolutions (each halves the image), LeakyReLU, then a linear logit."""

    kind: Literal["conv"] = "conv"
    filters: Layers = [64, 128]
    slope: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.2
    dropout: Probability = 0.0


class DCGANGeneratorConfig(_Section):
    """DCGAN's generator (Radford et al. 2016): project z and reshape to filters[0] channels at
    1/2^len(filters) of the image's size, then per filter count a 4x4 transposed convolution of
    stride 2 (doubling H and W) with batch norm (when on) and ReLU, the last one to the image's
    channels."""

    kind: Literal["dcgan"] = "dcgan"
    filters: Layers = [128, 64]  # 28x28: 128 channels at 7x7, 64 at 14x14, then the image
    output: Literal["tanh", "sigmoid", "linear"] = "tanh"
    spectral_norm: bool = False  # as the discriminator's, on G's layers (Zhang et al. 2019)
    # DCGAN's; off, the projection and the convolutions get biases instead and ReLU follows them.
    batch_norm: bool = True
    # Off, DCGAN's: the last transposed convolution makes the image, each pixel from 2x2 of the
    # features below. On: it upsamples to filters[-1] // 2 channels (batch norm, ReLU) and a 3x3
    # convolution at full size makes the image, as most later generators do.
    output_conv: bool = False


class DCGANDiscriminatorConfig(_DiscriminatorSection):
    """DCGAN's discriminator: strided 4x4 convolutions with LeakyReLU, batch norm after all but
    the first, no pooling, then a linear logit."""

    kind: Literal["dcgan"] = "dcgan"
    filters: Layers = [64, 128]
    slope: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.2
    # Off for a critic with a gradient penalty (wgan-gp, r1): batch norm makes one sample's
    # gradient depend on the rest of its batch (Gulrajani et al. 2017, section 4).
    batch_norm: bool = True


GeneratorConfig = Annotated[
    MLPGeneratorConfig | ConvGeneratorConfig | DCGANGeneratorConfig, Field(discriminator="kind")
]
DiscriminatorConfig = Annotated[
    MLPDiscriminatorConfig | ConvDiscriminatorConfig | DCGANDiscriminatorConfig, Field(discriminator="kind")
]
# The discriminators that take class labels (`ganlab.models.conditional`).
CONDITIONAL_D_KINDS: tuple[str, ...] = ("mlp", "dcgan")


class ModelConfig(_Section):
    g: GeneratorConfig = MLPGeneratorConfig()
    d: DiscriminatorConfig = MLPDiscriminatorConfig()
    # "glorot": Glorot-uniform weights and zero biases, Keras' default and so the study's; it
    # trains the study's FC GAN markedly faster than "torch" (PyTorch's own default init).
    init: Literal["glorot", "torch"] = "glorot"
    # Class labels into both networks (`ganlab.models.conditional`), for a labelled dataset:
    # "none": unconditional, the study's; "projection": a learned embedding of y concatenated to
    # z, and D's logit plus <embed(y), D's features> (Miyato & Koyama 2018); "concat": the
    # classic cGAN (Mirza & Osindero 2014), one-hot y concatenated to z and to D's input.
    conditional: Literal["none", "projection", "concat"] = "none"

    @field_validator("conditional")
    @classmethod
    def _labels_fit_d(cls, conditional: str, info: ValidationInfo) -> str:
        d = info.data.get("d")
        if conditional != "none" and d is not None:
            if d.kind not in CONDITIONAL_D_KINDS:
                kinds = " or ".join(CONDITIONAL_D_KINDS)
                raise ValueError(f"the {d.kind} discriminator takes no labels; use model.d.kind {kinds}")
            if d.pack > 1:  # a pack's samples would need one label between them
                raise ValueError(f"needs model.d.pack 1 (packs of samples have no single label), got {d.pack}")
        return conditional


class OptimizerConfig(_Section):
    name: Literal["adam", "sgd"] = "adam"
    lr: Annotated[float, Field(gt=0.0)] = 2e-4
    betas: tuple[Annotated[float, Field(ge=0.0, lt=1.0)], Annotated[float, Field(ge=0.0, lt=1.0)]] = (
        0.5,
        0.999,
    )
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0  # SGD only


class OptimConfig(_Section):
    g: OptimizerConfig = OptimizerConfig()
    d: OptimizerConfig = OptimizerConfig()
    # "none", the study's; "linear": lr x (1 - step / total steps), set before every step
    decay: Literal["none", "linear"] = "none"


# The names registered in `ganlab.train.losses.LOSSES` and `ganlab.train.penalties.PENALTIES`
# (tests/test_objective.py keeps them equal): here, so that a config validates without torch.
LOSS_NAMES: tuple[str, ...] = ("ns", "minimax", "hinge", "wasserstein", "lsgan", "ragan")
PENALTY_NAMES: tuple[str, ...] = ("r1", "r2", "wgan-gp")


def _one_of(kind: str, names: tuple[str, ...], value: str) -> str:
    if value not in names:
        raise ValueError(f"unknown {kind} {value!r}; known: {', '.join(names) or 'none yet'}")
    return value


class TrainConfig(_Section):
    epochs: Annotated[int, Field(gt=0, le=100_000)] = 30
    batch_size: Width = 128
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0  # NumPy's seed range
    loss: str = "ns"  # "ns": non-saturating (Goodfellow et al. 2014), the study's; see LOSS_NAMES
    # Penalties added to D's loss, name -> weight, e.g. --set train.penalties.r1=10 (wgan-gp: 10)
    penalties: dict[str, Annotated[float, Field(gt=0.0)]] = {}
    n_critic: Annotated[int, Field(ge=1, le=100)] = 1  # D steps (each on its own real batch) per G step
    # Step-level stabilisers (ganlab.train.step), all off by default as in the study:
    clip: Annotated[float, Field(gt=0.0)] | None = None  # WGAN: D's weights in [-clip, clip] (0.01)
    # Losses with targets only: D's real target 1 - smoothing (0.1, ganhacks 6); flipped fraction
    label_smoothing: Annotated[float, Field(ge=0.0, lt=0.5)] = 0.0
    label_flip: Annotated[float, Field(ge=0.0, lt=0.5)] = 0.0
    instance_noise: Annotated[float, Field(ge=0.0)] = 0.0  # std on D's inputs, linearly to 0
    replay: Probability = 0.0  # fraction of D's fakes drawn from the last `replay_size` fakes
    replay_size: Width = 1024
    ema: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None  # decay of G's average, g_ema (0.999)
    # With ema: the decay at step t is min(ema, (1 + t) / (10 + t)), so an early average is not
    # mostly G's random start (0.999 after 1,407 steps still holds 24% of it), as TensorFlow's
    # ExponentialMovingAverage with num_updates does.
    ema_warmup: bool = False
    # "fresh": the G step draws new noise, as the study's Keras loop did.
    # "reuse": the G step reuses the D step's noise, saving one G forward per step.
    g_noise: Literal["fresh", "reuse"] = "fresh"
    # Steps per epoch for the 2-D ring, which has no natural epoch.
    ring_size: Annotated[int, Field(gt=0, le=10_000_000)] = 25_600
    log_every: Width = 1  # steps between per-step metric records
    # Sample-quality metrics during training (the ring always reports its mode statistics).
    eval_every: Annotated[int, Field(ge=0)] = 0  # epochs between evaluations; 0: never
    # 1,000 samples keep an evaluation to a few seconds on a CPU; final scores use `ganlab eval`.
    eval_samples: Annotated[int, Field(ge=11, le=100_000)] = 1000  # as ganlab eval --n
    eval_metrics: list[str] = ["fid", "coverage", "classes_covered"]
    # Epochs after which G's and D's weights are kept (weights/epoch_NNN.safetensors), also
    # evaluated then: a study scores a shorter config of the same run there (`ganlab.study.tasks`).
    keep_weights_at: list[Width] = []
    # How the step is computed (ganlab.train.engine): "auto" is fp32 and eager on a CPU, bf16
    # autocast and CUDA graphs (torch.compile "reduce-overhead") on a GPU.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    compile: Literal["auto", "eager", "default", "reduce-overhead", "max-autotune"] = "auto"
    # Mirror metrics, samples and monitor events into RUN_DIR/tensorboard (ganlab[tensorboard]).
    tensorboard: bool = False

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, name: str) -> str:
        return _one_of("loss", LOSS_NAMES, name)

    @field_validator("penalties")
    @classmethod
    def _known_penalties(cls, penalties: dict[str, float]) -> dict[str, float]:
        for name in penalties:
            _one_of("penalty", PENALTY_NAMES, name)
        return penalties

    @field_validator("ema_warmup")
    @classmethod
    def _average_to_warm(cls, warmup: bool, info: ValidationInfo) -> bool:
        if warmup and info.data.get("ema") is None:
            raise ValueError("needs train.ema: there is no average of G to warm up")
        return warmup

    @field_validator("eval_metrics")
    @classmethod
    def _known_metrics(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in ALL_METRICS]
        if unknown or not names:
            raise ValueError(f"expected names from {', '.join(ALL_METRICS)}, got {unknown or 'none'}")
        return names

    @field_validator("keep_weights_at")
    @classmethod
    def _within_the_run(cls, epochs: list[int], info: ValidationInfo) -> list[int]:
        total = info.data.get("epochs")
        beyond = [e for e in epochs if total is not None and e > total]
        if beyond:
            raise ValueError(f"expected epochs in 1..{total} (train.epochs)")
        return sorted(set(epochs))


# The run statuses a monitor event can give, most severe first (see `ganlab.train.monitors`).
HealthStatus = Literal["diverged", "collapsed", "d-wins", "partial-collapse", "regressed", "memorised", "unstable"]
Positive = Annotated[float, Field(gt=0.0)]
Steps = Annotated[int, Field(ge=1)]


class MonitorConfig(_Section):
    """Online failure diagnosis during training. The detectors, and why each default is what it is,
    are documented in `ganlab.train.monitors`; every threshold can be changed here."""

    enabled: bool = True
    every: Steps = 50  # steps per window of per-step stats (one host sync per window)
    # What to do when an event with a status in `act_on` fires: only warn; stop the run;
    # roll back to the best checkpoint and continue with lower learning rates; or end the run
    # keeping the best checkpoint's weights as the final ones.
    action: Literal["warn", "stop", "rollback", "keep-best"] = "warn"
    act_on: list[HealthStatus] = ["diverged", "collapsed", "d-wins", "regressed"]
    warmup_steps: Annotated[int, Field(ge=0)] = 1000  # no collapse or oscillation verdicts before
    # divergence: any NaN/inf, or the window's median gradient norm of D or G above this
    grad_norm_max: Positive = 1000.0
    # D wins: window medians of D loss, D(x) and D(G(z)) past these, for `d_wins_steps` in a row
    d_wins_loss: Positive = 0.1
    d_wins_real: Probability = 0.9
    d_wins_fake: Probability = 0.1
    d_wins_steps: Steps = 500
    # oscillation: a loss's variance over `oscillation_span` steps above `oscillation_factor` x
    # its median over the `oscillation_history` steps before
    oscillation_factor: Annotated[float, Field(gt=1.0)] = 10.0
    oscillation_span: Steps = 500
    oscillation_history: Steps = 2500
    # collapse, from a batch of `sample_size` samples of fixed noise every `sample_every` steps
    sample_every: Steps = 500
    sample_size: Annotated[int, Field(ge=20)] = 500
    diversity_min: Probability = 0.5  # mean pairwise distance, as a fraction of real data's
    min_classes: Annotated[int, Field(ge=0, le=10)] = 8  # MNIST, evaluator classes covered
    # nats; uniform over 10 is 2.30. The study's baseline at FID 70 (epoch 30) hovers at 1.73-1.78
    # (many 1s, every class present): 1.5 flags a real collapse, not that imbalance.
    class_entropy_min: Annotated[float, Field(ge=0.0)] = 1.5
    # partial collapse: the class histogram's KL to MNIST's labels (nats), averaged over the
    # last `class_kl_probes` probes, above this. The baseline's 30 epochs (a third of its
    # samples 1s) ends at 0.47, the other runs at 0.22-0.34 (see ganlab.train.monitors.samples).
    class_kl_max: Positive = 0.4
    class_kl_probes: Steps = 3
    ring_mode_drop: Steps = 3  # ring: modes covered this far below the run's best ...
    ring_mode_patience: Steps = 2  # ... at this many probes in a row (single probes hop)
    # regression: the best-by metric worse than its best by this fraction, evaluations in a row;
    # None: the metric's own default (FID 0.2; the ring's noisier high_quality 0.5)
    regression_tolerance: Positive | None = None
    regression_evals: Steps = 3
    # memorisation: the `memorisation` eval score (needs it in train.eval_metrics) below this
    memorisation_min: Positive = 0.8
    # rollback: learning rates times this per rollback; after `max_rollbacks`, keep-best
    rollback_lr_factor: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    max_rollbacks: Annotated[int, Field(ge=0)] = 3


class RunConfig(_Section):
    """A whole run. `name` and `description` label it; everything else changes the result."""

    name: str = "custom"
    description: str = ""
    data: DataConfig = DataConfig()
    noise: NoiseConfig = NoiseConfig()
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    monitor: MonitorConfig = MonitorConfig()

    @field_validator("name")
    @classmethod
    def _one_folder_name(cls, name: str) -> str:
        # The name becomes the run's folder (runs/<name>-<time>): never a path that leaves it.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}", name):
            raise ValueError("expected a single folder name: letters, digits and . _ + - (at most 100)")
        return name
