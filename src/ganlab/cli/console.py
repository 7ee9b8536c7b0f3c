"""What every CLI command shares: user errors as one line with exit code 2, and common options."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Callable, Optional, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperOption

from ganlab.cli.bounds import THREADS
from ganlab.errors import GanlabError

F = TypeVar("F", bound=Callable[..., object])


def _value_name(self: TyperOption, ctx: typer.Context) -> str | None:
    """The value column of an option in help: nothing for a flag, which takes no value (typer
    shows `<bool>`), and one item for a repeatable option, which takes one per use (typer shows
    `<list[str]>`)."""
    if self.metavar is not None:
        return self.metavar
    if self.is_flag:
        return None
    shown = self.display_type(ctx)
    return f"<{shown[len('<list['):-len(']>')]}>" if shown.startswith("<list[") else shown


# Every ganlab command's help goes through this module's options, so the one patch covers them all.
TyperOption.display_type_rich = _value_name  # type: ignore[method-assign]

DataDirOption = Annotated[
    Optional[Path],
    typer.Option(
        "--data-dir",
        help="Data root holding mnist/ with the four IDX files (default: $GANLAB_DATA_DIR, then the cache).",
        exists=True,  # $GANLAB_DATA_DIR is read where the data is found, and may be stale
        file_okay=False,
    ),
]


def _check_device(value: Optional[str]) -> Optional[str]:
    """A --device that torch can parse and this machine has; None stays None (the default)."""
    if value is None:
        return None
    import torch

    try:
        device = torch.device(value)
    except RuntimeError as err:
        raise typer.BadParameter(f"{value!r} is not a torch device ({err}); try cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise typer.BadParameter(f"{value!r}: CUDA is not available here (torch {torch.__version__})")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise typer.BadParameter(f"{value!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type not in ("cpu", "cuda"):
        raise typer.BadParameter(f"{value!r}: ganlab runs on cpu or cuda")
    return value


DeviceOption = Annotated[
    Optional[str],
    typer.Option("--device", help="torch device (default: cuda when present, else cpu).", callback=_check_device),
]
# Checked by each command with bounds.bounded(threads=THREADS), which prints the error in one line.
ThreadsOption = Annotated[
    Optional[int], typer.Option("--threads", help=f"CPU threads for torch, {THREADS} (default: torch's choice).")
]


def user_errors(func: F) -> F:
    """Turn a GanlabError into `error: ...` on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except GanlabError as err:
            Console(stderr=True).print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]
