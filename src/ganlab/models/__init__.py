"""Generators and discriminators: architectures in a registry by kind (`ganlab.models.registry`)."""

from ganlab.models.registry import DISCRIMINATORS, GENERATORS, build_discriminator, build_generator

__all__ = ["DISCRIMINATORS", "GENERATORS", "build_discriminator", "build_generator"]
