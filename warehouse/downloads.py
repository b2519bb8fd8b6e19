"""Download the catalogue's files from the official portals, and nothing else (README, "Downloads").

Every address is checked before it is contacted, redirects included: ``https://`` on a host of
the allowlist (``[telechargement]`` of ``schemas/catalogue.toml``), or the origin of the portal
the user gave (``--portal``, ``BUDGET_PORTAL_URL``): any host over ``https://``, plain
``http://`` only on a loopback address. The portal keeps each catalogue address's path and
query, so a mirror or a local copy of the portal serves the same paths.

``requests`` with urllib3's ``Retry`` retries connection errors and 429/500/502/503/504 with
exponential backoff, honouring ``Retry-After`` up to ``attente_max_s``; each file has one
deadline for every attempt, wait and byte together. The body streams to a hidden temporary
file beside the cached copy and replaces it only once it passed every check: not HTML (by
``Content-Type`` or by its first bytes), not empty, complete (``Content-Length``; a compressed body,
``Content-Encoding`` gzip or deflate, is decompressed here and its stream must reach its end), of the
type its file name says, within the size limit. A rejected body is never cached: the previous good
copy stays.

A cached copy is revalidated on each download build with a conditional GET (``If-None-Match``
from its ``ETag``, ``If-Modified-Since`` from its ``Last-Modified``), kept in a sidecar
``.<file>.http.json`` beside it with the copy's sha256: ``304`` reuses the copy; a ``200`` whose
body differs is the new version, reported in ``Downloads.changed``. A sidecar that does not
match its copy (a build killed between the two renames) is ignored: the next GET is plain.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NameResolutionError
from urllib3.util.retry import Retry

from schemas.catalogue import CatalogueEntry, DownloadRules, catalogue, download_rules
from warehouse.errors import wrapped
from warehouse.sources import SourceFile, sha256_of

__all__ = [
    "Change",
    "DownloadError",
    "DownloadPolicy",
    "DownloadRefused",
    "Downloads",
    "Fetched",
    "RejectedBody",
    "download_sources",
    "fetch",
    "portal_address",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 16
_MAX_REDIRECTS = 5
_RETRIED_STATUSES = (429, 500, 502, 503, 504)
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_TEXT_TYPES = {"text/csv", "text/plain", "application/csv", "text/comma-separated-values"}
_BINARY_TYPES = {"application/octet-stream", "binary/octet-stream"}
_WORKBOOK_TYPES = {
    "application/vnd.ms-excel",
    "application/x-msexcel",
    "application/x-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/zip",
    "application/x-zip-compressed",
}
#: The Content-Types accepted for a file, by the suffix of its name in the catalogue (a CSV is
#: sometimes served as ``application/vnd.ms-excel``). A missing Content-Type is accepted.
_TYPES_BY_SUFFIX = {
    ".csv": _TEXT_TYPES | _BINARY_TYPES | {"application/vnd.ms-excel"},
    ".txt": _TEXT_TYPES | _BINARY_TYPES,
    ".xls": _WORKBOOK_TYPES | _BINARY_TYPES,
    ".xlsx": _WORKBOOK_TYPES | _BINARY_TYPES,
}
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls
_ZIP = b"PK\x03\x04"  # .xlsx
_MAGIC_BY_SUFFIX = {".xls": (_OLE2, _ZIP), ".xlsx": (_ZIP,)}
_NOT_TEXT = (_OLE2, _ZIP, b"%PDF", b"\x1f\x8b")


class DownloadError(Exception):
    """A download that did not give a good file; the message says why (address, status, body)."""


class DownloadRefused(DownloadError):
    """An address outside the allowlist, or plain ``http://`` off loopback: never contacted."""


class RejectedBody(DownloadError):
    """A body that is HTML, empty, cut short, of the wrong type, too large or too slow: never cached."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def portal_address(text: str) -> str:
    """The portal base address ``text`` (``--portal``), normalised, e.g. ``http://127.0.0.1:8000``.

    Accepted: ``https://<any host>[:port][/prefix]``, or ``http://`` on a loopback address
    (127.0.0.0/8, ``::1``, ``localhost``). Raises ``DownloadRefused`` otherwise.
    """
    parts = urlsplit(text.strip())
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.query or parts.fragment:
        raise DownloadRefused(f"portal {text!r}: expected https://HOST[:PORT][/PATH] (or http:// on loopback)")
    if parts.scheme == "http" and not _is_loopback(host):
        raise DownloadRefused(f"portal {text!r}: plain http:// is accepted only on a loopback address (127.0.0.1)")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class DownloadPolicy:
    """Where downloads may go and how they are bounded (units: bytes and seconds).

    ``portal``: a base address from ``portal_address`` onto which every catalogue address is
    rebased (its path and query kept), or None for the official addresses.
    """

    hosts: frozenset[str]
    portal: str | None = None
    max_bytes: int = 256 << 20
    deadline: float = 300.0
    connect_timeout: float = 15.0
    read_timeout: float = 60.0
    retries: int = 4
    backoff: float = 1.0
    max_wait: float = 60.0

    @classmethod
    def from_rules(cls, portal: str | None = None, rules: DownloadRules | None = None) -> DownloadPolicy:
        """The catalogue's ``[telechargement]`` rules, with ``portal`` checked by ``portal_address``."""
        rules = rules or download_rules()
        return cls(
            hosts=frozenset(h.lower() for h in rules.hotes),
            portal=portal_address(portal) if portal else None,
            max_bytes=rules.taille_max_octets,
            deadline=rules.delai_par_fichier_s,
            connect_timeout=rules.delai_connexion_s,
            read_timeout=rules.delai_lecture_s,
            retries=rules.tentatives,
            backoff=rules.attente_s,
            max_wait=rules.attente_max_s,
        )

    def address(self, url: str) -> str:
        """``url`` rebased onto the portal (path and query kept), or ``url`` without one."""
        if self.portal is None:
            return url
        base, parts = urlsplit(self.portal), urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, ""))

    def check(self, url: str) -> None:
        """Raise ``DownloadRefused`` unless ``url`` is HTTPS on an allowed host or on the portal's origin."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if self.portal is not None:
            portal = urlsplit(self.portal)
            if (parts.scheme, parts.netloc.lower()) == (portal.scheme, portal.netloc.lower()):
                return
        if parts.scheme != "https":
            raise DownloadRefused(
                f"{url}: refused, only https:// is downloaded (plain http:// only from a loopback --portal)"
            )
        if host not in self.hosts or parts.port not in (None, 443):
            raise DownloadRefused(
                f"{url}: refused, {host or 'no host'} is not an official host "
                f"(allowed: {', '.join(sorted(self.hosts))}; see [telechargement] in schemas/catalogue.toml)"
            )


class _Retry(Retry):
    """urllib3's ``Retry`` that never waits past the file's deadline (``time.monotonic`` value)."""

    def __init__(self, *args, deadline: float | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def new(self, **kw) -> _Retry:
        kw.setdefault("deadline", self.deadline)
        return super().new(**kw)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None) -> Retry:
        """As urllib3's, but a host name that does not resolve is not retried: it is no transient fault (a 503
        is), the network or the portal is unreachable, and retrying it cost 14 s a file."""
        if isinstance(error, NameResolutionError):
            raise MaxRetryError(_pool, url, error) from error
        try:
            retry = super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError as exc:
            exc.tries = len(self.history) + 1  # the attempts made, this one included: said by the failure's message
            exc.errors = [h.error for h in self.history] + [error]  # each attempt's error (None: a status)
            raise
        cause = f"status {response.status}" if response is not None and error is None else _cause(error)
        where = f"{_pool.host}:{_pool.port}{url}" if _pool is not None else url
        log.info("%s: %s, trying again (%d left)", where, cause, retry.total if retry.total is not None else 0)
        return retry

    def sleep(self, response=None) -> None:
        wait = self.get_retry_after(response) if self.respect_retry_after_header and response else None
        wait = wait if wait else self.get_backoff_time()
        if self.deadline is not None and time.monotonic() + wait > self.deadline:
            raise RejectedBody(f"deadline reached: no time left to wait {wait:.0f} s before retrying")
        super().sleep(response)


def http_session(policy: DownloadPolicy, deadline: float | None = None) -> requests.Session:
    """A session retrying connection errors and 429/5xx ``policy.retries`` times with backoff.

    ``Retry-After`` is honoured up to ``policy.max_wait`` seconds; no wait goes past ``deadline``
    (a ``time.monotonic()`` value). Redirects are not followed by the session (see ``fetch``).
    """
    retry = _Retry(
        total=policy.retries,
        redirect=0,
        raise_on_redirect=False,
        backoff_factor=policy.backoff,
        backoff_max=policy.max_wait,
        retry_after_max=int(policy.max_wait),
        status_forcelist=_RETRIED_STATUSES,
        allowed_methods=("GET",),
        respect_retry_after_header=True,
        deadline=deadline,
    )
    session = requests.Session()
    session.trust_env = False  # no proxy or .netrc from the environment: only the checked address
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.headers["User-Agent"] = "budget-warehouse (open-data pipeline)"
    session.headers["Accept-Encoding"] = "gzip, deflate"  # what _Decoder undoes and checks (not br, nor zstd)
    return session


@dataclass(frozen=True)
class _Validators:
    """The sidecar of a cached copy: the server's validators and the copy's hash."""

    url: str
    sha256: str
    octets: int
    etag: str | None = None
    last_modified: str | None = None

    @staticmethod
    def path(target: Path) -> Path:
        return target.with_name(f".{target.name}.http.json")

    @classmethod
    def read(cls, target: Path, sha256: str) -> _Validators | None:
        """The sidecar of ``target`` (whose sha256 is ``sha256``), or None if missing or not matching."""
        try:
            raw = json.loads(cls.path(target).read_text(encoding="utf-8"))
            found = cls(**{k: raw.get(k) for k in ("url", "sha256", "octets", "etag", "last_modified")})
        except (OSError, ValueError, TypeError):
            return None
        return found if found.sha256 == sha256 else None

    def write(self, target: Path) -> None:
        text = json.dumps({**self.__dict__, "verifie": datetime.now(UTC).isoformat(timespec="seconds")}, indent=1)
        _replace_atomically(self.path(target), text.encode())


@dataclass(frozen=True)
class Fetched:
    """One file fetched: its sha256 and size; ``etat`` ``nouveau`` (no copy before), ``inchange``
    or ``modifie``; ``precedent`` the previous copy's sha256, if any."""

    sha256: str
    octets: int
    etat: str
    precedent: str | None = None


def _mime(reply: requests.Response) -> str:
    return reply.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _check_headers(reply: requests.Response, name: str, policy: DownloadPolicy) -> None:
    mime = _mime(reply)
    if mime in _HTML_TYPES:
        raise RejectedBody(f"{reply.url}: an HTML page (Content-Type {mime}), not the file")
    allowed = _TYPES_BY_SUFFIX.get(Path(name).suffix.lower())
    if mime and allowed is not None and mime not in allowed:
        raise RejectedBody(f"{reply.url}: Content-Type {mime} is not that of a {Path(name).suffix} file")
    announced = reply.headers.get("Content-Length")
    if announced and announced.isdigit() and int(announced) > policy.max_bytes:
        raise RejectedBody(f"{reply.url}: announces {int(announced)} bytes, above the limit of {policy.max_bytes}")


def _check_body(head: bytes, octets: int, name: str, url: str) -> None:
    """Reject an empty body, an HTML page, and a body whose first bytes contradict its file type."""
    if octets == 0:
        raise RejectedBody(f"{url}: empty body")
    start = head.lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in start[:512]:
        raise RejectedBody(f"{url}: an HTML page, not the file")
    suffix = Path(name).suffix.lower()
    magic = _MAGIC_BY_SUFFIX.get(suffix)
    if magic is not None and not head.startswith(magic):
        raise RejectedBody(f"{url}: not a {suffix} workbook (its first bytes are {head[:8]!r})")
    if suffix in (".csv", ".txt") and head.startswith(_NOT_TEXT):
        raise RejectedBody(f"{url}: binary content (first bytes {head[:8]!r}), not a {suffix} text file")


class _Decoder:
    """The body's ``Content-Encoding`` undone by the build itself (gzip, deflate or none), so that a compressed body
    cut short is told: urllib3's decoders end a truncated stream without an error, and ``Content-Length`` counts
    the compressed bytes. ``complete`` says the stream ended on its own: a gzip stream's end holds the CRC-32 and
    the length of what it holds (checked by zlib), a deflate stream's an end marker and an Adler-32. Each piece
    given out is at most ``_CHUNK`` bytes (a small body that decompresses to gigabytes is stopped by the size
    limit, never held in memory)."""

    _GZIP_MAGIC = b"\x1f\x8b"

    def __init__(self, encoding: str, url: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip().lower() not in ("", "identity")]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise RejectedBody(
                f"{url}: Content-Encoding {encoding.strip()} was not asked for (gzip or deflate): cannot check it"
            )
        self.kind = {"x-gzip": "gzip"}.get(codings[0], codings[0]) if codings else None
        self.url = url
        self.members = 0  # gzip members begun
        self._raw_deflate = False
        self._trailing = b""  # bytes after the end of a gzip member: another member, or trailing garbage
        self._garbage = False
        self._begun = False  # some bytes decoded: a deflate stream is not read again as raw deflate
        self._obj = self._new()

    def _new(self):
        if self.kind is None:
            return None
        self.members += 1
        if self.kind == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of ``data``, the next bytes of the body."""
        if self.kind is None:
            yield data
            return
        while data and not self._garbage:
            if self._obj.eof:  # after a member: another gzip member, or bytes to ignore (as urllib3 and gzip do)
                self._trailing += data
                if len(self._trailing) < len(self._GZIP_MAGIC):
                    return
                data, self._trailing = self._trailing, b""
                if self.kind != "gzip" or not data.startswith(self._GZIP_MAGIC):
                    log.info("%s: %d byte(s) after the end of the %s stream, ignored", self.url, len(data), self.kind)
                    self._garbage = True
                    return
                self._obj = self._new()
            try:
                yield from self._inflate(data)
            except zlib.error as exc:
                if not (self.kind == "deflate" and not self._begun and not self._raw_deflate):
                    raise RejectedBody(
                        f"{self.url}: the {self.kind}-compressed body does not decompress ({exc})"
                    ) from exc
                self._raw_deflate = True  # a raw deflate stream (no zlib header), as some servers send for "deflate"
                self.members = 0
                self._obj = self._new()
                continue
            data = self._obj.unused_data if self._obj.eof else b""

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        while True:
            out = self._obj.decompress(data, _CHUNK)
            if out:
                self._begun = True
                yield out
            data = self._obj.unconsumed_tail
            if not data and len(out) < _CHUNK:
                return

    def finish(self, received: int) -> None:
        """Raise ``RejectedBody`` unless the compressed stream reached its end (``received``: the bytes on the
        wire)."""
        if self.kind is None or self._garbage or self._obj.eof:
            return
        raise RejectedBody(
            f"{self.url}: cut short, the {self.kind}-compressed body stops before the end of its stream "
            f"({received} bytes received): the connection closed early, or the portal sent it truncated"
        )

    @property
    def complete(self) -> bool:
        """The body was one compressed stream, ended on its own: whole, whatever its framing (a cut between two
        gzip members cannot be told)."""
        return self.kind is not None and self.members == 1 and self._obj.eof


def _receive(reply: requests.Response, handle, policy: DownloadPolicy, deadline: float) -> tuple[str, int, bytes, bool]:
    """Stream the body into ``handle``, its ``Content-Encoding`` undone; return its sha256, size and first bytes
    (of the file, decompressed), and whether a compressed stream proved it whole (:class:`_Decoder`)."""
    digest, octets, head, received = hashlib.sha256(), 0, b"", 0
    raw = reply.raw
    decoder = _Decoder(reply.headers.get("Content-Encoding", ""), reply.url)
    announced = reply.headers.get("Content-Length")
    announced = int(announced) if announced and announced.isdigit() else None
    while True:
        if time.monotonic() > deadline:
            raise RejectedBody(
                f"{reply.url}: deadline of {policy.deadline:.0f} s passed after {octets} bytes: abandoned"
            )
        try:
            data = raw.read1(_CHUNK, decode_content=False)
        except urllib3.exceptions.ProtocolError as exc:  # closed before Content-Length, or within a chunk
            system = next((e for e in wrapped(exc, _links) if type(e) is not OSError and isinstance(e, OSError)), None)
            how = f"broke ({_cause(system)})" if system is not None else "closed"
            got = f"{received} of the {announced} bytes announced" if announced is not None else f"{received} bytes"
            raise RejectedBody(f"{reply.url}: cut short, the connection {how} after {got}") from exc
        if not data:
            break
        received += len(data)
        if received > policy.max_bytes:
            raise RejectedBody(f"{reply.url}: more than {policy.max_bytes} bytes, the limit: abandoned")
        for chunk in decoder.feed(data):
            octets += len(chunk)
            if octets > policy.max_bytes:
                raise RejectedBody(f"{reply.url}: more than {policy.max_bytes} bytes, the limit: abandoned")
            if len(head) < 4096:
                head += chunk[: 4096 - len(head)]
            digest.update(chunk)
            handle.write(chunk)
    if announced is not None and received != announced:  # the bytes on the wire, compressed or not
        raise RejectedBody(f"{reply.url}: cut short, {received} of the {announced} bytes announced")
    decoder.finish(received)
    return digest.hexdigest(), octets, head, decoder.complete


def _check_framing(
    reply: requests.Response, digest: str, expected: str | None, previous: str | None, name: str
) -> None:
    """Refuse a body of unknown length (no ``Content-Length``, not chunked) whose sha256 is neither ``expected``
    (the catalogue's) nor ``previous`` (the cached copy's): it ended when the connection closed, and a connection
    cut at a line end leaves a file that reads whole. With no ``expected`` it is kept, said unverifiable."""
    if reply.headers.get("Content-Length") or "chunked" in reply.headers.get("Transfer-Encoding", "").lower():
        return
    if digest in (expected, previous):
        return
    why = "length unknown (no Content-Length, not chunked: the body ends when the connection closes)"
    if expected is None:
        log.warning("%s: %s and no sha256 in the catalogue: cannot tell it from a cut body", name, why)
        return
    raise RejectedBody(
        f"{reply.url}: {why} and sha256 {digest[:12]}… not the catalogue's: a body cut at a line end cannot be "
        "told from the whole file; refused"
    )


class _NotTried(DownloadError):
    """A redirect to a host whose name did not resolve for an earlier file, or (``refused``) to a ``host:port`` that
    refused every try of an earlier file: not contacted again."""

    def __init__(self, host: str, refused: bool = False) -> None:
        super().__init__(host)
        self.host = host
        self.refused = refused


def _origin(url: str) -> str:
    """``host:port`` of ``url`` (the scheme's port where it names none), as urllib3 names the pool it connects to."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _get(
    session: requests.Session,
    url: str,
    headers: dict,
    policy: DownloadPolicy,
    deadline: float,
    unresolved: frozenset[str] = frozenset(),
    refused: frozenset[str] = frozenset(),
):
    """GET ``url``, following redirects only to checked addresses, and to none on a host of ``unresolved`` nor a
    ``host:port`` of ``refused`` (raises ``_NotTried``)."""
    for _ in range(_MAX_REDIRECTS + 1):
        policy.check(url)
        if (urlsplit(url).hostname or "").lower() in unresolved:
            raise _NotTried((urlsplit(url).hostname or "").lower())
        if _origin(url) in refused:
            raise _NotTried(_origin(url), refused=True)
        remaining = max(deadline - time.monotonic(), 0.1)
        timeout = (min(policy.connect_timeout, remaining), min(policy.read_timeout, remaining))
        reply = session.get(url, headers=headers, stream=True, timeout=timeout, allow_redirects=False)
        if not reply.is_redirect:
            return reply
        reply.close()
        url = urljoin(url, reply.headers["Location"])
    raise DownloadRefused(f"{url}: more than {_MAX_REDIRECTS} redirects")


def _unresolved(error: BaseException) -> str | None:
    """The host name that does not resolve, where ``error`` (requests' or urllib3's) comes from one (the portal's,
    or that of an address it redirects to); else None."""
    for current in wrapped(error, lambda e: [*e.args, e.__cause__, e.__context__, getattr(e, "reason", None)]):
        if isinstance(current, NameResolutionError):
            return current._host  # noqa: SLF001 - urllib3 keeps the name only there (its message quotes it)
    return None


def _refused_by(error: BaseException) -> str | None:
    """The ``host:port`` that refused the connection at every one of a file's tries (urllib3's retries exhausted),
    where ``error`` (requests' or urllib3's) says so; else None (another error at one try at least: a 503, a
    timeout)."""
    exhausted = next((e for e in wrapped(error, _links) if isinstance(e, MaxRetryError)), None)
    pool = getattr(exhausted, "pool", None)
    errors = getattr(exhausted, "errors", None) or [getattr(exhausted, "reason", None)]
    if pool is None or any(e is None or _cause(e) != "connection refused" for e in errors):
        return None
    return f"{pool.host.lower()}:{pool.port}"


def _cause(error: BaseException | None) -> str:
    """What went wrong with a connection, in a few words: the wrapped error's own (``Connection refused``)."""
    chain = list(wrapped(error, _links)) if error is not None else []
    for current in chain:
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, OSError) and current.strerror and not isinstance(current, urllib3.exceptions.HTTPError):
            return current.strerror[:1].lower() + current.strerror[1:]
    for current in chain:  # the system's or http.client's words (``Remote end closed connection without response``)
        if isinstance(current, OSError) and not isinstance(current, urllib3.exceptions.HTTPError) and str(current):
            text = " ".join(str(current).split())
            return text[:1].lower() + text[1:]
    return type(error).__name__ if error is not None else "no answer"


def _links(error: BaseException) -> list:
    return [*error.args, error.__cause__, error.__context__, getattr(error, "reason", None)]


def _failure(error: BaseException, url: str) -> str:
    """The summary's words for a download that raised ``error`` (requests' or urllib3's, whose own messages are
    300 characters of repr): the cause with its host and port, and the tries made, e.g. ``connection refused by
    127.0.0.1:9 (5 tries)``; an error of the project's own (``DownloadError``) as it is."""
    if isinstance(error, DownloadError):
        return str(error)
    chain = list(wrapped(error, _links))
    exhausted = next((e for e in chain if isinstance(e, MaxRetryError)), None)
    pool = getattr(exhausted, "pool", None)
    parts = urlsplit(url)
    where = f"{pool.host}:{pool.port}" if pool is not None else parts.netloc
    tries = getattr(exhausted, "tries", None)
    said = f" ({tries} tries)" if tries and tries > 1 else " (1 try)" if tries else ""

    def found(kind: type) -> BaseException | None:
        return next((e for e in chain if isinstance(e, kind)), None)

    # urllib3's NewConnectionError is a ConnectTimeoutError: asked first.
    if (refused := found(urllib3.exceptions.NewConnectionError) or found(ConnectionError)) is not None:
        cause = _cause(refused)
        return f"connection refused by {where}{said}" if cause == "connection refused" else f"{where}: {cause}{said}"
    if found(urllib3.exceptions.ConnectTimeoutError) is not None:
        return f"no connection to {where}: timed out{said}"
    if found(urllib3.exceptions.ReadTimeoutError) is not None:
        return f"{where} timed out: no answer within the read timeout{said}"
    if (statuses := found(urllib3.exceptions.ResponseError)) is not None:
        address = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
        return f"{address}: {statuses.args[0] if statuses.args else 'error responses'}{said}"
    return " ".join(str(error).split())


def _replace_atomically(target: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.partial-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _remove_stale_partials(target: Path, older_than: float) -> None:
    """Remove the temporary files a killed build left for ``target`` (older than any live download)."""
    for partial in target.parent.glob(f".{target.name}.partial-*"):
        with contextlib.suppress(OSError):
            if time.time() - partial.lstat().st_mtime > older_than:
                partial.unlink()


def fetch(
    url: str,
    target: Path,
    policy: DownloadPolicy,
    unresolved: frozenset[str] = frozenset(),
    refused: frozenset[str] = frozenset(),
    expected: str | None = None,
) -> Fetched:
    """Download ``url`` (after ``policy.check``) to ``target``, revalidating a cached copy; a redirect to a host of
    ``unresolved`` (names that did not resolve) or a ``host:port`` of ``refused`` (that refused every try of an
    earlier file) is not followed.

    A body of unknown length (no ``Content-Length``, not chunked: it ends when the connection closes, so a cut at
    a line end cannot be told from the whole file) is refused (``RejectedBody``) unless its sha256 is ``expected``
    (the catalogue's) or the cached copy's; with no ``expected``, it is kept and a warning says it is unverifiable.

    Raises ``DownloadRefused`` (address not allowed), ``RejectedBody`` (HTML, empty, cut
    short, wrong type, too large, deadline passed), ``requests.RequestException`` or
    ``urllib3.exceptions.HTTPError`` (status, connection, timeout, after the retries). On any
    error ``target`` and its sidecar are left as they were.
    """
    policy.check(url)
    deadline = time.monotonic() + policy.deadline
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(target, older_than=policy.deadline + 60)
    previous = sha256_of(target) if target.is_file() else None
    cached = _Validators.read(target, previous) if previous else None
    headers = {}
    if cached is not None and cached.url == url:
        if cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
    with http_session(policy, deadline) as session:
        reply = _get(session, url, headers, policy, deadline, unresolved, refused)
        with reply:
            if reply.status_code == 304 and headers:
                log.info("%s: not modified on the server (304), cached copy reused", target.name)
                return Fetched(cached.sha256, cached.octets, "inchange", previous)
            reply.raise_for_status()
            if reply.status_code != 200:
                raise RejectedBody(f"{reply.url}: status {reply.status_code}, expected 200")
            _check_headers(reply, target.name, policy)
            fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.partial-", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    digest, octets, head, whole = _receive(reply, handle, policy, deadline)
                _check_body(head, octets, target.name, reply.url)
                if not whole:  # a compressed stream that ended on its own is whole, whatever its framing
                    _check_framing(reply, digest, expected, previous, target.name)
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private; a download is not
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            validators = _Validators(url, digest, octets, reply.headers.get("ETag"), reply.headers.get("Last-Modified"))
    validators.write(target)
    etat = "nouveau" if previous is None else "inchange" if previous == digest else "modifie"
    return Fetched(digest, octets, etat, previous)


@dataclass(frozen=True)
class Change:
    """A cached file the portal now serves with other bytes: ``avant`` and ``apres`` are sha256."""

    entree: CatalogueEntry
    avant: str
    apres: str

    def __str__(self) -> str:
        return f"{self.entree.fichier} ({self.entree.id}): sha256 {self.avant[:12]}… -> {self.apres[:12]}…"


@dataclass
class Downloads:
    """What a download build got: the files, the failures (entry, message) and the changed files."""

    files: list[SourceFile] = field(default_factory=list)
    failures: list[tuple[CatalogueEntry, str]] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)


#: Why the files of a host whose name does not resolve are not downloaded.
_NO_NAME = "the name {host} does not resolve: the network, or the portal, is unreachable"
#: Why the files the portal redirects to such a host are not downloaded: the portal answers, that host is the fault.
_NO_REDIRECT_NAME = "redirected to {host}, whose name does not resolve (the portal answers: that host is unreachable)"
#: Why the files the portal redirects to a ``host:port`` that refused every try of an earlier file are not downloaded.
_REDIRECT_REFUSED = "redirected to {host}, which refused the connection"


def _not_urllib3_retries(record: logging.LogRecord) -> bool:
    """False for urllib3's own WARNING on each retry (``Retrying (_Retry(total=2, ...)) after connection broken by
    'NewConnectionError(...)'``): ``_Retry`` says it at INFO, in a few words."""
    return not (record.name == "urllib3.connectionpool" and str(record.msg).startswith("Retrying ("))


@contextlib.contextmanager
def _quiet_retries() -> Iterator[None]:
    pool_log = logging.getLogger("urllib3.connectionpool")
    pool_log.addFilter(_not_urllib3_retries)
    try:
        yield
    finally:
        pool_log.removeFilter(_not_urllib3_retries)


def download_sources(
    cache: Path,
    entries: Iterable[CatalogueEntry] | None = None,
    policy: DownloadPolicy | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> Downloads:
    """Fetch (or revalidate) every catalogue entry that has an official address into ``cache``.

    Each entry's address is rebased onto ``policy.portal`` when one is given; the file lands
    at ``cache / entry.fichier``. An entry that cannot be fetched is a failure with its
    message, and its cached copy (if any) stays as it was but is not returned: the build
    keeps that source's last good data. A host whose name does not resolve (no network, or the portal
    unreachable) fails at once, is said once, and is not tried again for the other entries; a host the portal
    redirects to whose name does not resolve is blamed once the same way, and the portal's other files are tried.
    A ``host:port`` that refused the connection at every try of a file (nothing listening: the portal is down, or
    not that address) is not contacted again for the other entries (``not tried: … (said once, above)``): 15 s of
    retries for the first file, not for each.
    A sha256 other than the catalogue's is logged (the portal regenerates its exports), not refused: files are
    recognised by their content; but a body of unknown length (no ``Content-Length``, not chunked) with a sha256
    other than the catalogue's and the cached copy's is refused (:func:`fetch`): it may be a cut one.
    ``progress(n, total, fichier)`` is called as each file starts (``n`` from 1).
    urllib3's WARNING on each retry is not logged: the retries are said at INFO (``… trying again (2 left)``).
    """
    with _quiet_retries():
        return _download_sources(cache, entries, policy, progress)


def _download_sources(
    cache: Path,
    entries: Iterable[CatalogueEntry] | None,
    policy: DownloadPolicy | None,
    progress: Callable[[int, int, str], None] | None,
) -> Downloads:
    policy = policy or DownloadPolicy.from_rules()
    found = Downloads()
    unreachable: set[str] = set()  # hosts whose name does not resolve
    refused: set[str] = set()  # `host:port` that refused the connection at every try of a file
    wanted = [e for e in (entries if entries is not None else catalogue()) if e.downloadable]
    for n, entry in enumerate(wanted, 1):
        if progress is not None:
            progress(n, len(wanted), entry.fichier)
        target = cache / entry.fichier
        url = policy.address(entry.url)
        host = urlsplit(url).hostname or ""
        if host in unreachable:
            found.failures.append((entry, f"not tried: the name {host} does not resolve (said once, above)"))
            continue
        if _origin(url) in refused:
            found.failures.append((entry, f"not tried: connection refused by {_origin(url)} (said once, above)"))
            continue
        try:
            log.info("downloading %s from %s", entry.fichier, url)
            fetched = fetch(url, target, policy, frozenset(unreachable), frozenset(refused), entry.sha256)
        except _NotTried as exc:  # the portal redirected this file too to a host said above
            reason = (_REDIRECT_REFUSED if exc.refused else _NO_REDIRECT_NAME).format(host=exc.host)
            found.failures.append((entry, f"not tried: {reason} (said once, above)"))
            continue
        except (DownloadError, requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            unresolved = _unresolved(exc)
            if unresolved is not None and unresolved == host:  # the portal's (or the official host's) own name
                unreachable.add(unresolved)
                log.error("cannot download: %s (no file of it is tried)", _NO_NAME.format(host=unresolved))
                found.failures.append((entry, f"{url}: {_NO_NAME.format(host=unresolved)}"))
                continue
            if unresolved is not None:  # a host the portal redirected to: its other files are tried, not that host
                unreachable.add(unresolved)
                reason = _NO_REDIRECT_NAME.format(host=unresolved)
                log.error("cannot download: %s (no file redirected there is tried)", reason)
                found.failures.append((entry, f"{url}: {reason}"))
                continue
            message = _failure(exc, url)
            log.info("cannot download %s: %s", url, message)  # the build's summary names it, once
            if (by := _refused_by(exc)) is not None:  # after the retries: down, or not that address; not asked again
                refused.add(by)
                log.info("connection refused by %s at every try: no other file of it is tried", by)
            found.failures.append((entry, message))
            continue
        if fetched.etat == "modifie":
            change = Change(entry, fetched.precedent, fetched.sha256)
            log.info("changed on the portal, loaded as a new version: %s", change)  # the inventory's caller says it
            found.changed.append(change)
        if entry.sha256 and fetched.sha256 != entry.sha256:
            log.warning("%s: sha256 %s differs from the catalogue's", entry.fichier, fetched.sha256)
        found.files.append(
            SourceFile(
                source_id=entry.id,
                fichier=entry.fichier,
                chemin=target,
                sha256=fetched.sha256,
                octets=fetched.octets,
                url=entry.url,
                entree=entry,
            )
        )
    return found
