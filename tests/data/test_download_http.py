"""Real downloads over HTTP from a server on 127.0.0.1: good, corrupt, cut short, interrupted.

The server (``http.server`` in a thread, ephemeral port) serves a small fixture tree made in
``tmp_path``; a catalogue of test files is injected into ``CATALOG``. Nothing reaches beyond
127.0.0.1 and nothing is written into the data root (each test's data dir is in tmp_path).
"""

import gzip
import hashlib
from pathlib import Path

import pytest

from icml22dl.data import catalog
from icml22dl.data.catalog import CATALOG, DataFile, DataSet
from icml22dl.data.checksums import ChecksumError
from icml22dl.data.download import DownloadError, fetch_file, fetch_sets, mirror_from_env, source_url
from tests.data.local_http import QuietHandler, serve_tree

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, several chunks
JSON = b'{"y": [[1, 2], [3, 4]]}\n' * 1000


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(QuietHandler):
    """Serves the fixture tree; ``/cut/<path>`` announces the full length, sends half, then closes."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        if not self.path.startswith("/cut/"):
            return super().do_GET()
        data = (Path(self.directory) / self.path[len("/cut/") :]).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def server(tmp_path):
    """A served tree: ``toy/blob.bin``, ``toy/bad.bin`` (other bytes) and ``raw/data.json``; yields the base URL."""
    tree = tmp_path / "served"
    (tree / "toy").mkdir(parents=True)
    (tree / "raw").mkdir()
    (tree / "toy" / "blob.bin").write_bytes(PAYLOAD)
    (tree / "toy" / "bad.bin").write_bytes(PAYLOAD[::-1])
    (tree / "raw" / "data.json").write_bytes(JSON)
    with serve_tree(tree, _Handler) as url:
        yield url


def _blob(url: str, relpath: str = "toy/blob.bin") -> DataFile:
    return DataFile(relpath, len(PAYLOAD), (_sha(PAYLOAD),), url)


def _leftovers(folder: Path) -> list[str]:
    """Every file and folder below ``folder`` (a failed download leaves not even the folders it made)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) if folder.exists() else []


def test_good_fetch_places_the_verified_file(server, tmp_path):
    data = tmp_path / "data"
    path = fetch_file(_blob(f"{server}/toy/blob.bin"), data)
    assert path == data / "toy" / "blob.bin"
    assert path.read_bytes() == PAYLOAD
    assert _leftovers(data) == ["toy", "toy/blob.bin"]  # no temporary file left


def test_checksum_mismatch_leaves_nothing_and_names_both_digests(server, tmp_path):
    data = tmp_path / "data"
    with pytest.raises(ChecksumError) as info:
        fetch_file(_blob(f"{server}/toy/bad.bin"), data)
    message = str(info.value)
    assert f"{server}/toy/bad.bin" in message
    assert _sha(PAYLOAD) in message and _sha(PAYLOAD[::-1]) in message
    assert _leftovers(data) == []


def test_a_transfer_cut_midway_leaves_nothing(server, tmp_path):
    data = tmp_path / "data"
    with pytest.raises(DownloadError, match=rf"was cut: got {len(PAYLOAD) // 2} of {len(PAYLOAD)} bytes"):
        fetch_file(_blob(f"{server}/cut/toy/blob.bin"), data)
    assert _leftovers(data) == []


def test_a_refused_connection_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match=f"download of http://127.0.0.1:{port}/toy/blob.bin failed"):
        fetch_file(_blob(f"http://127.0.0.1:{port}/toy/blob.bin"), tmp_path / "data")
    assert _leftovers(tmp_path / "data") == []


def test_an_interrupted_download_leaves_nothing(server, tmp_path, monkeypatch):
    download_module = __import__("icml22dl.data.download", fromlist=["tqdm"])

    class Interrupting(download_module.tqdm):
        def update(self, n=1):
            raise KeyboardInterrupt  # as Ctrl-C in the middle of the transfer

    monkeypatch.setattr(download_module, "tqdm", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        fetch_file(_blob(f"{server}/toy/blob.bin"), tmp_path / "data", quiet=False)
    assert _leftovers(tmp_path / "data") == []


def test_a_corrupt_copy_is_replaced_atomically(server, tmp_path):
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True)
    (data / "toy" / "blob.bin").write_bytes(b"garbage")
    file = _blob(f"{server}/toy/blob.bin")
    assert catalog.file_status(file, data) == catalog.CORRUPT
    fetch_file(file, data)
    assert catalog.file_status(file, data) == catalog.PRESENT


def test_upstream_json_is_checked_then_gzipped(server, tmp_path):
    file = DataFile("set/data.json.gz", None, (), f"{server}/raw/data.json", decoded_sha256=_sha(JSON), compress=True)
    path = fetch_file(file, tmp_path / "data")
    assert gzip.decompress(path.read_bytes()) == JSON
    assert catalog.file_status(file, tmp_path / "data") == catalog.PRESENT
    wrong = DataFile("set/data.json.gz", None, (), f"{server}/raw/data.json", decoded_sha256="0" * 64, compress=True)
    with pytest.raises(ChecksumError):
        fetch_file(wrong, tmp_path / "other")
    assert _leftovers(tmp_path / "other") == []


def test_a_mirror_serves_the_data_root_layout(server, tmp_path, monkeypatch):
    # The file's own URL is unreachable; the mirror serves <mirror>/<relpath>.
    monkeypatch.setitem(CATALOG, "toy", DataSet("toy", "toy", (_blob("http://127.0.0.1:9/nowhere"),), "", ""))
    fetched = fetch_sets(["toy"], tmp_path / "data", mirror=server + "/")
    assert fetched == [tmp_path / "data" / "toy" / "blob.bin"]
    assert fetch_sets(["toy"], tmp_path / "data", mirror=server) == []  # present: nothing to do


def test_a_mirror_of_a_compressed_file_serves_the_gzip(server, tmp_path):
    # As a mirror of the data pack serves england_covid.json.gz: accepted by its decompressed digest.
    tree = tmp_path / "served"  # the fixture's tree
    (tree / "set").mkdir()
    (tree / "set" / "data.json.gz").write_bytes(gzip.compress(JSON))
    file = DataFile("set/data.json.gz", None, (), "http://127.0.0.1:9/raw", decoded_sha256=_sha(JSON), compress=True)
    path = fetch_file(file, tmp_path / "data", mirror=server)
    assert gzip.decompress(path.read_bytes()) == JSON


def test_mirror_url_composition(monkeypatch):
    file = DataFile("planetoid/ind.cora.test.index", 5000, ("ab" * 32,), "https://example.org/ind.cora.test.index")
    assert source_url(file, "http://h:1/m") == "http://h:1/m/planetoid/ind.cora.test.index"
    assert source_url(file, "http://h:1/m/") == "http://h:1/m/planetoid/ind.cora.test.index"
    assert source_url(file) == "https://example.org/ind.cora.test.index"
    assert source_url(DataFile("a b/c#d", 1, (), None), "file:///srv") == "file:///srv/a%20b/c%23d"
    with pytest.raises(ValueError, match="no upstream source.*--mirror"):
        source_url(DataFile("cifar10-jpeg/test.tar.gz", 1, (), None))
    monkeypatch.setenv("ICML22DL_MIRROR", "http://env:2")
    assert mirror_from_env(None) == "http://env:2"
    assert mirror_from_env("http://arg:3") == "http://arg:3"
    monkeypatch.setenv("ICML22DL_MIRROR", "")
    assert mirror_from_env(None) is None
