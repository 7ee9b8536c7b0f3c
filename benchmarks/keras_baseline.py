"""The study's own framework: its FC GAN and conv generator in Keras 3, trained as the study did.

The study's loop, as Keras GAN code of its time writes it: D and the combined model G -> D are
compiled with Adam and binary cross-entropy (D with a sigmoid output), D is frozen
(`trainable = False`) before the combined model is compiled, and each step is

    fake = G.predict_on_batch(noise)
    D.trainable = True;  D.train_on_batch(real, ones);  D.train_on_batch(fake, zeros)
    D.trainable = False; combined.train_on_batch(fresh noise, ones)   # only G's weights move

Keras 3 fixes each model's trainable weights when it is compiled, so toggling `trainable` in the
loop matches each model's compiled state (no recompilation, no warning); `--check` verifies that a
D step moves only D and a G step only G. Batches are 128 random rows of the training set, so every
batch has one shape and nothing is traced twice. Variants: `train_on_batch` as above (TensorFlow
graphs), and `--xla`: every model compiled with `jit_compile=True`.

    python benchmarks/keras_baseline.py [fc|conv-g] [--xla] [--steps N]  # prints ms/step, s/epoch
    python benchmarks/keras_baseline.py conv-g --check                   # the trainable flags work

Needs TensorFlow (`pip install 'ganlab[keras]'`) and ganlab's config (which imports no torch:
TensorFlow and torch must not share a process, their thread pools fight). `ganlab bench` runs it
with `--serve`: one JSON line sets it up ({"config", "xla", "images": .npy of uint8 pixels,
"threads", "seed"}); it answers `ready {"build_seconds", "first_step_seconds"}`, then `done
SECONDS` to each `steps N`, until `quit`; a failure is one line `error MESSAGE`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np

from ganlab.config import RunConfig, load_preset

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up banner, not its errors


def build_generator(config: RunConfig, keras: Any) -> Any:
    """The study's G: Dense layers with LeakyReLU and a tanh output (fc), or a Dense to 28x28 and
    3x3 'same' convolutions (conv), as ganlab's `mlp` and `conv` generators. z (B, dim) -> (B, 784)."""
    layers, g = keras.layers, config.model.g
    stack: list[Any] = [keras.Input((config.noise.dim,))]
    if g.kind == "conv":
        stack += [layers.Dense(784), layers.LeakyReLU(g.slope), layers.Reshape((28, 28, 1))]
        for filters in g.filters:
            stack += [layers.Conv2D(filters, 3, padding="same"), layers.LeakyReLU(g.slope)]
        stack += [layers.Conv2D(1, 3, padding="same", activation=g.output), layers.Flatten()]
    elif g.kind == "mlp" and not g.batch_norm and g.dropout == 0:
        for width in g.hidden:
            stack += [layers.Dense(width), layers.LeakyReLU(g.slope)]
        stack.append(layers.Dense(784, activation=g.output))
    else:
        raise ValueError(f"the Keras baseline has the study's fc and conv generators, not {g}")
    return keras.Sequential(stack, name="G")


def build_discriminator(config: RunConfig, keras: Any) -> Any:
    """The study's D: Dense layers with LeakyReLU [and Dropout], a sigmoid output. (B, 784) -> (B, 1)."""
    layers, d = keras.layers, config.model.d
    if d.kind != "mlp" or d.batch_norm or d.pack != 1 or d.minibatch_std:
        raise ValueError(f"the Keras baseline has the study's MLP discriminator, not {d}")
    stack: list[Any] = [keras.Input((784,))]
    for width in d.hidden:
        stack += [layers.Dense(width), layers.LeakyReLU(d.slope)]
        stack += [layers.Dropout(d.dropout)] if d.dropout > 0 else []
    stack.append(layers.Dense(1, activation="sigmoid"))
    return keras.Sequential(stack, name="D")


class KerasGAN:
    """G, D and the combined model, compiled as the study compiled them, stepped by `step()`."""

    def __init__(self, config: RunConfig, images: np.ndarray, xla: bool, seed: int = 0):
        """images: uint8 (N, ...) pixels, 784 per image; scaled to [-1, 1] floats once."""
        import keras

        keras.utils.set_random_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.batch, self.dim = config.train.batch_size, config.noise.dim
        self.data = (images.reshape(len(images), 784).astype(np.float32) / 127.5 - 1.0).astype(np.float32)
        self.G, self.D = build_generator(config, keras), build_discriminator(config, keras)

        def adam(name: str) -> Any:
            optim = getattr(config.optim, name)
            return keras.optimizers.Adam(optim.lr, beta_1=optim.betas[0], beta_2=optim.betas[1])

        self.G.compile(jit_compile=xla)  # only for predict_on_batch: G trains through `combined`
        self.D.compile(adam("d"), "binary_crossentropy", jit_compile=xla)
        self.D.trainable = False  # frozen inside the combined model, as compiled next
        self.combined = keras.Sequential([keras.Input((self.dim,)), self.G, self.D], name="combined")
        self.combined.compile(adam("g"), "binary_crossentropy", jit_compile=xla)
        self.ones = np.ones((self.batch, 1), np.float32)
        self.zeros = np.zeros((self.batch, 1), np.float32)

    def noise(self) -> np.ndarray:
        return self.rng.standard_normal((self.batch, self.dim), dtype=np.float32)

    def train_d(self) -> float:
        """D: minimise BCE on a real batch (targets 1), then on a fake one (targets 0)."""
        real = self.data[self.rng.integers(0, len(self.data), self.batch)]
        fake = self.G.predict_on_batch(self.noise())
        self.D.trainable = True
        loss_real = self.D.train_on_batch(real, self.ones)
        loss_fake = self.D.train_on_batch(fake, self.zeros)
        return (float(loss_real) + float(loss_fake)) / 2

    def train_g(self) -> float:
        """G: minimise BCE of D's view of fresh fakes against targets 1 (the non-saturating loss)."""
        self.D.trainable = False
        return float(self.combined.train_on_batch(self.noise(), self.ones))

    def step(self) -> None:
        self.train_d()
        self.train_g()


def seconds_of(gan: KerasGAN, steps: int) -> float:
    """Wall seconds of `steps` training steps."""
    start = time.perf_counter()
    for _ in range(steps):
        gan.step()
    return time.perf_counter() - start


def configure_threads(threads: int) -> None:
    """TensorFlow's op pools at `threads` threads each, before its runtime starts."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def check_trainable(gan: KerasGAN) -> None:
    """A D step moves D's weights and not G's; a G step moves G's and not D's."""

    def weights(model: Any) -> list[np.ndarray]:
        return [w.numpy() for w in model.weights]

    def moved(before: list[np.ndarray], model: Any) -> bool:
        return any(not np.array_equal(a, b) for a, b in zip(before, weights(model)))

    g, d = weights(gan.G), weights(gan.D)
    gan.train_d()
    assert moved(d, gan.D) and not moved(g, gan.G), "a D step must move D only"
    g, d = weights(gan.G), weights(gan.D)
    gan.train_g()
    assert moved(g, gan.G) and not moved(d, gan.D), "a G step must move G only"


def serve() -> None:
    """The `ganlab bench` protocol on stdin/stdout (see the module's docstring)."""
    try:
        setup = json.loads(sys.stdin.readline())
        configure_threads(setup["threads"])
        start = time.perf_counter()
        config = RunConfig.model_validate(setup["config"])
        gan = KerasGAN(config, np.load(setup["images"]), setup["xla"], setup["seed"])
        built = time.perf_counter()
        gan.step()  # traces every function (and compiles them with XLA)
        ready = {"build_seconds": built - start, "first_step_seconds": time.perf_counter() - built}
    except Exception as err:  # the parent shows this line; the traceback goes to stderr
        print(f"error {type(err).__name__}: {err}".replace("\n", " "), flush=True)
        raise
    print("ready " + json.dumps(ready), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        print(f"done {seconds_of(gan, int(line.split()[1]))}", flush=True)  # to "steps N"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", nargs="?", default="fc", choices=["fc", "conv-g"])
    parser.add_argument("--xla", action="store_true", help="compile with jit_compile=True")
    parser.add_argument("--steps", type=int, default=50, help="steps to time")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="TensorFlow threads per pool")
    parser.add_argument("--check", action="store_true", help="check that each step moves only its network")
    parser.add_argument("--serve", action="store_true", help="take commands on stdin (ganlab bench)")
    args = parser.parse_args()
    if args.serve:
        return serve()
    configure_threads(args.threads)
    config = load_preset(args.preset)
    images = np.random.default_rng(0).integers(0, 256, (60_000, 784), dtype=np.uint8)  # timing only
    gan = KerasGAN(config, images, args.xla)
    if args.check:
        check_trainable(gan)
        print(f"{args.preset}: a D step moves only D, a G step only G")
        return
    first = seconds_of(gan, 1)  # tracing (and XLA compilation) included
    seconds_of(gan, 2)
    per_step = seconds_of(gan, args.steps) / args.steps
    epoch = math.ceil(60_000 / config.train.batch_size)
    variant = "xla" if args.xla else "train_on_batch"
    print(f"{args.preset} ({variant}): first step {first:.1f} s, {per_step * 1e3:.1f} ms/step, {per_step * epoch:.1f} s/epoch")


if __name__ == "__main__":
    main()
