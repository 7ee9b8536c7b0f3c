"""Datasets: specs and their registry, file sets and the verified source chain, IDX files, MNIST,
Stacked MNIST, the 2-D ring, and pixel scaling."""

from ganlab.data.fileset import FileSet, FileSpec, NpmPackage
from ganlab.data.idx import IDXError, read_idx, write_idx
from ganlab.data.mnist import MNIST, MNIST_FILE_SET, ImageDataset, load_mnist
from ganlab.data.registry import DATASETS, dataset_spec
from ganlab.data.ring import (
    RING,
    RING_MODES,
    RING_RADIUS,
    RING_STD,
    RingModeStats,
    ring_centers,
    ring_mode_stats,
    sample_ring,
    sample_ring_labelled,
)
from ganlab.data.scaling import Scaling, scale, unscale
from ganlab.data.sources import CachedFile, DataError, VerifiedFiles, cache_dir, cache_info, find_files
from ganlab.data.spec import DatasetSpec, Split
from ganlab.data.stacked_mnist import STACKED_MODES, StackedDataset, load_stacked_mnist, stack_digits

__all__ = [
    "DATASETS",
    "MNIST",
    "MNIST_FILE_SET",
    "RING",
    "RING_MODES",
    "RING_RADIUS",
    "RING_STD",
    "STACKED_MODES",
    "CachedFile",
    "DataError",
    "DatasetSpec",
    "FileSet",
    "FileSpec",
    "IDXError",
    "ImageDataset",
    "NpmPackage",
    "RingModeStats",
    "Scaling",
    "Split",
    "StackedDataset",
    "VerifiedFiles",
    "cache_dir",
    "cache_info",
    "dataset_spec",
    "find_files",
    "load_mnist",
    "load_stacked_mnist",
    "read_idx",
    "ring_centers",
    "ring_mode_stats",
    "sample_ring",
    "sample_ring_labelled",
    "scale",
    "stack_digits",
    "unscale",
    "write_idx",
]
