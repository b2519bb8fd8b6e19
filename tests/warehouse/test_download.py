"""Downloads against a real HTTP server on 127.0.0.1, serving the real source file.

The server is started by the test itself (port 0, a daemon thread) and never
any other address is contacted. Everything is bounded: no backoff between the
retries, and a cap of a few seconds on every request of the session.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from schemas.catalogue import CatalogueEntry
from warehouse.sources import download_sources, http_session, recognise

SOURCES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sources"
FICHIER = "LFI_2020_Credits.csv"
SHA256 = "59073f37153b728182653a3ee9de942d8bf2ef9a70bf32f81c471569bc17c67b"
PATH = "/data/" + FICHIER
TIMEOUT = 5.0


# --- the server ------------------------------------------------------------------------------------------------

Reply = Callable[[BaseHTTPRequestHandler], None]


def ok(body: bytes) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return reply


def status(code: int) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        body = f"error {code}".encode()
        handler.send_response(code)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return reply


def cut_short(body: bytes) -> Reply:
    """Announce the whole body, send half of it, then close the connection."""

    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()

    return reply


@dataclass
class Server:
    """A local server: ``routes[path]`` is the list of replies, the last one repeated."""

    base: str
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base + path

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits.count(path)

    def next_reply(self, path: str) -> Reply:
        with self.lock:
            self.hits.append(path)
            replies = self.routes.get(path)
            if not replies:
                return status(404)
            return replies.pop(0) if len(replies) > 1 else replies[0]


@pytest.fixture
def server() -> Iterator[Server]:
    holder: dict[str, Server] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = TIMEOUT  # a stuck connection never holds a server thread for long

        def do_GET(self) -> None:
            holder["server"].next_reply(self.path)(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    host, port = httpd.server_address[:2]
    holder["server"] = Server(base=f"http://{host}:{port}")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield holder["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=TIMEOUT)


# --- helpers ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def original() -> Path:
    path = SOURCES / FICHIER
    assert SOURCES.is_dir(), f"the real source files are missing: {SOURCES}"
    assert path.is_file(), f"missing real source file: {path}"
    return path


@pytest.fixture(scope="module")
def content(original: Path) -> bytes:
    data = original.read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256
    return data


def bounded_session() -> requests.Session:
    """``http_session(retries=3, backoff=0)``, each request capped at ``TIMEOUT`` seconds.

    ``download_sources`` passes no timeout of its own to ``download`` (60 s by
    default): the cap keeps a misbehaving download from holding the test.
    """
    session = http_session(retries=3, backoff=0)
    request = session.request

    def capped(method, url, *args, **kwargs):
        assert url.startswith("http://127.0.0.1:"), f"a test must only contact its own server: {url}"
        timeout = kwargs.get("timeout")
        kwargs["timeout"] = TIMEOUT if timeout is None else min(timeout, TIMEOUT)
        return request(method, url, *args, **kwargs)

    session.request = capped
    return session


def entry_for(url: str) -> CatalogueEntry:
    return CatalogueEntry(
        id="lfi-2020-test",
        fichier=FICHIER,
        exercice=2020,
        phases=("LFI",),
        famille="credits_codes",
        sha256=SHA256,
        url=url,
    )


def names_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# --- the tests -------------------------------------------------------------------------------------------------


def test_download_of_the_real_file_into_the_cache(server: Server, content: bytes, tmp_path: Path) -> None:
    server.routes[PATH] = [ok(content)]
    cache = tmp_path / "cache"
    entry = entry_for(server.url(PATH))

    files, failures = download_sources(cache, [entry], bounded_session())

    assert failures == []
    assert len(files) == 1
    source = files[0]
    target = cache / FICHIER
    assert target.is_file()
    assert target.read_bytes() == content
    assert source.chemin == target
    assert source.fichier == FICHIER
    assert source.sha256 == SHA256
    assert source.octets == len(content) == target.stat().st_size
    assert source.source_id == "lfi-2020-test"
    assert source.url == server.url(PATH)
    assert source.entree is entry
    assert server.count(PATH) == 1
    assert names_in(cache) == [FICHIER], "a temporary file was left in the cache"
    assert recognise(source).famille == "credits_codes"


def test_retries_after_two_503(server: Server, content: bytes, tmp_path: Path) -> None:
    server.routes[PATH] = [status(503), status(503), ok(content)]
    cache = tmp_path / "cache"

    files, failures = download_sources(cache, [entry_for(server.url(PATH))], bounded_session())

    assert failures == []
    assert server.count(PATH) == 3
    assert [f.sha256 for f in files] == [SHA256]
    assert (cache / FICHIER).read_bytes() == content
    assert names_in(cache) == [FICHIER]


@pytest.mark.parametrize(
    ("reply", "requests_made", "in_message"),
    [
        pytest.param(status(404), 1, "404", id="404"),
        pytest.param(status(500), 4, "500", id="always-500"),  # the first request and 3 retries
    ],
)
def test_http_error_is_a_failure_and_leaves_nothing(
    server: Server, tmp_path: Path, reply: Reply, requests_made: int, in_message: str
) -> None:
    server.routes[PATH] = [reply]
    cache = tmp_path / "cache"
    entry = entry_for(server.url(PATH))

    files, failures = download_sources(cache, [entry], bounded_session())

    assert files == []
    assert len(failures) == 1
    failed, message = failures[0]
    assert failed is entry
    assert failed.id == "lfi-2020-test"
    assert in_message in message
    assert PATH in message
    assert server.count(PATH) == requests_made
    assert not (cache / FICHIER).exists()
    assert names_in(cache) == [], "a temporary file was left in the cache"


def test_body_cut_short_is_a_failure_and_leaves_nothing(server: Server, content: bytes, tmp_path: Path) -> None:
    server.routes[PATH] = [cut_short(content)]
    cache = tmp_path / "cache"
    entry = entry_for(server.url(PATH))

    files, failures = download_sources(cache, [entry], bounded_session())

    assert files == []
    assert [failed for failed, _ in failures] == [entry]
    assert failures[0][1], "the failure has no message"
    assert server.count(PATH) >= 1
    assert not (cache / FICHIER).exists()
    assert names_in(cache) == [], "a temporary file was left in the cache"


def test_body_cut_short_on_refresh_keeps_the_good_file(
    server: Server, original: Path, content: bytes, tmp_path: Path
) -> None:
    server.routes[PATH] = [cut_short(content)]
    cache = tmp_path / "cache"
    cache.mkdir()
    target = cache / FICHIER
    shutil.copyfile(original, target)
    before = target.stat()
    entry = entry_for(server.url(PATH))

    files, failures = download_sources(cache, [entry], bounded_session(), refresh=True)

    assert server.count(PATH) >= 1, "refresh=True did not download"
    assert files == []
    assert [failed for failed, _ in failures] == [entry]
    assert target.read_bytes() == content
    after = target.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert names_in(cache) == [FICHIER], "a temporary file was left in the cache"


def test_file_in_cache_is_reused_without_a_request(
    server: Server, original: Path, content: bytes, tmp_path: Path
) -> None:
    server.routes[PATH] = [status(500)]  # were it asked, the server would fail the download
    cache = tmp_path / "cache"
    cache.mkdir()
    target = cache / FICHIER
    shutil.copyfile(original, target)
    entry = entry_for(server.url(PATH))

    files, failures = download_sources(cache, [entry], bounded_session(), refresh=False)

    assert server.hits == []
    assert failures == []
    assert len(files) == 1
    assert files[0].chemin == target
    assert files[0].sha256 == SHA256
    assert files[0].octets == len(content)
    assert files[0].source_id == "lfi-2020-test"
    assert target.read_bytes() == content
    assert names_in(cache) == [FICHIER]
