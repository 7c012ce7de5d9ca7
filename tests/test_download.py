import contextlib
import functools
import gzip
import hashlib
import http.server
import shutil
import socketserver
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
import yaml

from stages.download import __main__ as download
from stages.download import settings as download_settings
from stages.download import sources
from stages.shared import fashion_mnist, idx
from stages.shared.errors import DataError, ParamsError
from tests.helpers.ports import free_ports
from tests.helpers.tiny import encode_idx


def _cfg(
    sources, sha256, timeout=5.0
) -> tuple[download_settings.Dataset, download_settings.Download]:
    """The stage's two settings: dataset.yaml's (`sources`, `sha256`) and params.yaml's."""
    dataset = download_settings.Dataset(sources=[str(s) for s in sources], sha256=sha256)
    return dataset, download_settings.Download(timeout=timeout)


@pytest.fixture
def http_mirror(tiny_source):
    """The tiny .gz files served over real HTTP on a free loopback port."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tiny_source.directory)
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def tcp_server():
    """Start servers on free loopback ports, each answering every connection with
    `answer(connection, stop)`; their URLs. All are stopped at the end."""
    stop, servers = threading.Event(), []

    def start(answer: Callable) -> str:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.recv(65536)  # the request
                with contextlib.suppress(OSError):  # the client went away
                    answer(self.request, stop)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    stop.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def _garbage(connection, stop) -> None:
    connection.sendall(b"GARBAGE\r\n\r\n")


def _dripping(interval: float, headers_too: bool) -> Callable:
    """An answer of 100,000 bytes, one every `interval` seconds (the headers at once, or also
    dripped)."""
    headers = b"HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\n"

    def answer(connection, stop) -> None:
        if not headers_too:
            connection.sendall(headers)
        for byte in (headers if headers_too else b"") + bytes(100_000):
            if stop.wait(interval):
                return
            connection.sendall(bytes([byte]))

    return answer


def _closed_port_url() -> str:
    (port,) = free_ports(1)
    return f"http://127.0.0.1:{port}"


def _run(tmp_path, source, sha256) -> None:
    """The stage's main, with `source` the one source of its dataset file."""
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump({"download": {"timeout": 5}}))
    dataset_path = tmp_path / "dataset.yaml"
    dataset_path.write_text(
        yaml.safe_dump({"dataset": {"sources": [str(source)], "sha256": sha256}})
    )
    download.main(
        [f"--dataset={dataset_path}", f"--raw={tmp_path / 'raw'}", f"--params={params_path}"]
    )


def test_local_directory_gives_verified_decompressed_files(tmp_path, tiny_source):
    cfg = _cfg([tmp_path / "missing-dir", tiny_source.directory], tiny_source.sha256)
    for name in fashion_mnist.RAW_FILES:
        assert sources.fetch_from_first_source(name, *cfg, tmp_path) == str(tiny_source.directory)
        content = (tmp_path / name).read_bytes()
        assert hashlib.sha256(content).hexdigest() == tiny_source.sha256[name]


def test_http_mirror_is_used_when_no_local_copy(tmp_path, tiny_source, http_mirror):
    cfg = _cfg([tmp_path / "missing-dir", http_mirror], tiny_source.sha256)
    name = fashion_mnist.TRAIN_IMAGES
    assert sources.fetch_from_first_source(name, *cfg, tmp_path) == http_mirror
    assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == tiny_source.sha256[name]
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no .part file left


def test_mismatching_copy_is_skipped_for_the_next_source(tmp_path, tiny_source):
    impostor = tmp_path / "impostor"
    impostor.mkdir()
    name = fashion_mnist.TEST_LABELS
    (impostor / f"{name}.gz").write_bytes(gzip.compress(encode_idx(np.zeros(50, np.uint8))))
    out = tmp_path / "out"
    out.mkdir()
    cfg = _cfg([impostor, tiny_source.directory], tiny_source.sha256)
    assert sources.fetch_from_first_source(name, *cfg, out) == str(tiny_source.directory)


def test_when_every_source_fails_each_is_named_with_its_reason(tmp_path, tiny_source):
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    name = fashion_mnist.TRAIN_IMAGES
    gz = (tiny_source.directory / f"{name}.gz").read_bytes()
    (truncated / f"{name}.gz").write_bytes(gz[: len(gz) // 2])
    dead_mirror = _closed_port_url()
    started = time.monotonic()
    with pytest.raises(DataError) as error:
        sources.fetch_from_first_source(
            name, *_cfg([truncated, dead_mirror], tiny_source.sha256), tmp_path
        )
    assert time.monotonic() - started < 5
    message = str(error.value)
    assert f"{name}: no source has a verified copy" in message
    assert f"{truncated}: not a complete gzip file" in message
    assert f"{dead_mirror}: " in message and "refused" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert list(tmp_path.glob("*-ubyte*")) == []


def test_checksum_mismatch_is_reported_and_nothing_kept(tmp_path, tiny_source):
    wrong_sum = dict(tiny_source.sha256, **{fashion_mnist.TRAIN_LABELS: "0" * 64})
    cfg = _cfg([tiny_source.directory], wrong_sum)
    with pytest.raises(DataError, match="SHA-256 .* does not match 000000000000"):
        sources.fetch_from_first_source(fashion_mnist.TRAIN_LABELS, *cfg, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_main_writes_all_four_files_atomically(tmp_path, tiny_source):
    _run(tmp_path, tiny_source.directory, tiny_source.sha256)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == sorted(fashion_mnist.RAW_FILES)


def test_main_needs_the_dataset_file_named(tmp_path, capsys):
    """No default: a stage run by hand never falls back to the real sources."""
    with pytest.raises(SystemExit) as exit_:
        download.main([f"--raw={tmp_path / 'raw'}"])
    assert exit_.value.code == 2
    assert "the following arguments are required: --dataset" in capsys.readouterr().err


def test_main_refuses_a_bad_dataset_file_in_one_line_before_writing(tmp_path, tiny_source):
    sha256 = dict(tiny_source.sha256, **{fashion_mnist.TEST_LABELS: "abc"})
    with pytest.raises(ParamsError) as error:
        _run(tmp_path, tiny_source.directory, sha256)
    assert str(error.value) == (
        f"{tmp_path / 'dataset.yaml'}: dataset.sha256.{fashion_mnist.TEST_LABELS}='abc': must be "
        "64 hex digits"
    )
    assert not (tmp_path / "raw").exists()


def test_main_failing_on_the_last_file_leaves_no_raw_directory(tmp_path, tiny_source):
    partial = tmp_path / "partial"
    shutil.copytree(tiny_source.directory, partial)
    (partial / f"{fashion_mnist.TEST_LABELS}.gz").unlink()
    with pytest.raises(DataError, match=fashion_mnist.TEST_LABELS):
        _run(tmp_path, partial, tiny_source.sha256)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset.yaml", "params.yaml", "partial"]


def _gzip_of(header_items: int, body: bytes, path) -> None:
    header = encode_idx(np.zeros((header_items, 28, 28), np.uint8))[:16]
    path.write_bytes(gzip.compress(header + body, compresslevel=1))


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (2, "decompresses to more than the 1,584 bytes its header declares"),
        (60_001, r"its header declares \(60001, 28, 28\), expected at most \(60000, 28, 28\)"),
    ],
)
def test_a_decompression_bomb_is_stopped_at_the_size_its_header_declares(
    tmp_path, monkeypatch, items, message
):
    """100 MB of zeros in a 100 KB gzip: reading stops within one chunk of the declared size."""
    source = tmp_path / "mirror"
    source.mkdir()
    _gzip_of(items, bytes(100_000_000), source / f"{fashion_mnist.TRAIN_IMAGES}.gz")
    read = []
    chunks = sources.decompressed_chunks
    monkeypatch.setattr(
        sources, "decompressed_chunks", lambda p: (read.append(len(c)) or c for c in chunks(p))
    )
    with pytest.raises(DataError, match=message):
        sources.fetch_verified(
            fashion_mnist.TRAIN_IMAGES, str(source), "0" * 64, tmp_path, timeout=5, deadline=100
        )
    assert sum(read) <= 2 * sources._CHUNK  # not the 100 MB
    assert list(tmp_path.glob("*-ubyte*")) == []


def test_a_mirror_serving_more_than_the_real_file_is_cut_off(tmp_path, tiny_source, http_mirror):
    limit = idx.max_raw_size(fashion_mnist.TRAIN_LABELS) * 101 // 100
    served = tiny_source.directory / f"{fashion_mnist.TRAIN_LABELS}.gz"
    assert served.stat().st_size < limit  # the tiny file passes; a real-sized one more than 1%
    with pytest.raises(DataError, match="more than 20 bytes: larger than the real file"):
        sources.fetch_url(f"{http_mirror}{served.name}", tmp_path / "part", 5, 100, limit=20)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (None, "BadStatusLine: GARBAGE"),  # a server that answers what is not HTTP
        ("http://[::1/x", "ValueError: Invalid IPv6 URL"),
        ("http://127.0.0.1:port", "InvalidURL: nonnumeric port: 'port'"),
    ],
    ids=["not-http", "bracket-open", "port-not-a-number"],
)
def test_a_source_failing_in_any_way_is_left_for_the_next(
    tmp_path, tiny_source, tcp_server, bad, reason
):
    bad = bad or tcp_server(_garbage)
    name = fashion_mnist.TRAIN_LABELS
    dataset = download_settings.Dataset.model_construct(  # unchecked, as if the file were
        sources=[bad, str(tiny_source.directory)], sha256=tiny_source.sha256
    )
    cfg = download_settings.Download(timeout=5.0)
    found = sources.fetch_from_first_source(name, dataset, cfg, tmp_path)
    assert found == str(tiny_source.directory)
    alone = dataset.model_copy(update={"sources": [bad]})
    (tmp_path / "alone").mkdir()
    with pytest.raises(DataError) as error:
        sources.fetch_from_first_source(name, alone, cfg, tmp_path / "alone")
    assert f"\n  - {bad}: {reason}\n" in str(error.value)
    assert list((tmp_path / "alone").iterdir()) == []


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_dripping_mirror_is_given_up_at_the_deadline(tmp_path, tcp_server, headers_too):
    """One byte every 0.2 s: each read is within the 2 s timeout, the whole is not within 1 s."""
    url = tcp_server(_dripping(0.2, headers_too))
    started = time.monotonic()
    with pytest.raises(DataError) as error:
        sources.fetch_url(f"{url}/f.gz", tmp_path / "part", timeout=2, deadline=1, limit=10**6)
    assert time.monotonic() - started < 2.5
    assert str(error.value) == (
        "still arriving after 1 s, the deadline for one file (20 × download.timeout)"
    )


def test_after_a_dripping_mirror_the_next_source_is_used(tmp_path, tiny_source, tcp_server):
    """download.timeout 0.1 s: the dripping mirror is given up after 2 s in all (20 × 0.1)."""
    dripping = tcp_server(_dripping(0.05, headers_too=False))
    cfg = _cfg([dripping, tiny_source.directory], tiny_source.sha256, timeout=0.1)
    started = time.monotonic()
    name = fashion_mnist.TEST_LABELS
    assert sources.fetch_from_first_source(name, *cfg, tmp_path) == str(tiny_source.directory)
    assert time.monotonic() - started < 4
