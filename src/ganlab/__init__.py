"""ganlab: train, measure and compare GANs on small image datasets."""

__version__ = "0.1.0"
