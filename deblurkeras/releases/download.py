"""Fetching one catalogued file over HTTP(S), with urllib only: resume, size cap, timeout, redirect policy.

A file is written to a `.part` file in the cache's downloads/ folder, named by the file's digest, and only its full
size with the right hash ever leaves that folder (cache.py renames it into place). So an interrupted transfer
(a dropped connection, a stalled server, Ctrl-C, kill -9) leaves a shorter .part that the next fetch continues with
an HTTP Range request, and a wrong byte never reaches the cache.

Safety: https only, except a loopback address (127.0.0.1, ::1, localhost) or the user's own DEBLURKERAS_MIRROR;
a redirect must lead to https. The catalogue's size caps every read: a server that sends one byte more is cut off.
A server silent for DEBLURKERAS_TIMEOUT seconds counts as stalled.
"""
import http.client
import os
import socket
import urllib.error
import urllib.parse
import urllib.request

from ..errors import DeblurKerasError, first_line
from . import settings

CHUNK = 1 << 16
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class FetchError(DeblurKerasError):
    """No source delivered a file (every URL named with its status), or the cache could not be written."""


class HashMismatchError(DeblurKerasError):
    """A file's bytes are not the release's: the file is named with the expected and the received hash."""


class SourceFailed(Exception):
    """One URL did not deliver (internal: the next URL is tried)."""


class RefusedURL(SourceFailed):
    """A URL (or a redirect) the safety rules forbid."""


def check_url(url):
    """Refuse anything but https, except loopback addresses and the configured mirror."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return
    mirror = settings.mirror()
    if parts.scheme == "http" and (parts.hostname in LOOPBACK or (mirror and url.startswith(mirror + "/"))):
        return
    raise RefusedURL(f"refused: https only ({parts.scheme or 'no'} scheme; http only for a loopback address or "
                     f"DEBLURKERAS_MIRROR)")


class _HttpsRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to https."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        target = urllib.parse.urljoin(req.full_url, newurl)
        if urllib.parse.urlsplit(target).scheme != "https":
            raise RefusedURL(f"refused a redirect to {target} (redirects must lead to https)")
        return super().redirect_request(req, fp, code, msg, headers, target)


def _opener():
    # urllib's default handlers stay, the environment's proxy settings (https_proxy) included
    return urllib.request.build_opener(_HttpsRedirects())


def _open(url, start, timeout):
    headers = {"User-Agent": "deblurkeras", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        return _opener().open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except RefusedURL:
        raise
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and start:        # our partial file is not a prefix the server knows: start over
            return None
        raise SourceFailed(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise SourceFailed(f"no answer in {timeout:g} s (timed out)") from None
        raise SourceFailed(f"cannot connect ({first_line(reason) if isinstance(reason, Exception) else reason})") \
            from None
    except (socket.timeout, TimeoutError):
        raise SourceFailed(f"no answer in {timeout:g} s (timed out)") from None
    except (http.client.HTTPException, OSError) as e:
        raise SourceFailed(f"cannot connect ({first_line(e)})") from None


def _start_of(resp, start):
    """Where the body starts in the file: `start` for a 206 continuing it, 0 for a whole file (200)."""
    if resp.status == 206:
        first = resp.headers.get("Content-Range", "").replace("bytes ", "").split("-")[0]
        if first.strip() != str(start):
            raise SourceFailed(f"answered a Range request with Content-Range {resp.headers.get('Content-Range')!r}")
        return start
    if resp.status != 200:
        raise SourceFailed(f"HTTP {resp.status}")
    return 0


def transfer(url, part, size, bar=None):
    """Bring `part` (a .part file) to `size` bytes from `url`, continuing what it holds. Raises SourceFailed (the
    .part keeps what arrived, except after a refused oversize answer), FetchError when the disk refuses a write."""
    check_url(url)
    timeout = settings.timeout()
    have = os.path.getsize(part) if os.path.exists(part) else 0
    if have > size:
        os.remove(part)
        have = 0
    if have == size:
        return
    resp = _open(url, have, timeout)
    if resp is None:               # 416: start over from byte 0
        os.remove(part)
        have = 0
        resp = _open(url, 0, timeout)
    with resp:
        start = _start_of(resp, have)
        if start != have and bar is not None:
            bar.update(-have)
        length = resp.headers.get("Content-Length")
        if length is not None and length.isdigit() and start + int(length) > size:
            raise SourceFailed(f"announces {start + int(length):,} bytes, the catalogue says {size:,}: refused")
        _copy_body(resp, part, start, size, timeout, bar)


def _copy_body(resp, part, start, size, timeout, bar):
    have = start
    try:
        out = open(part, "r+b" if start else "wb")
    except OSError as e:
        raise FetchError(f"{part}: cannot write ({first_line(e)}); the cache is as it was") from None
    with out:
        out.seek(start)
        out.truncate()
        while True:
            try:
                # read1: what has arrived (read(n) would wait for n); one byte more than allowed tells an oversize body
                chunk = resp.read1(min(CHUNK, size - have + 1))
            except (socket.timeout, TimeoutError):
                raise SourceFailed(f"stalled: no data for {timeout:g} s after {have:,} of {size:,} bytes (the next "
                                   f"fetch resumes)") from None
            except (http.client.HTTPException, OSError) as e:
                raise SourceFailed(f"connection lost after {have:,} of {size:,} bytes ({first_line(e)}; the next "
                                   f"fetch resumes)") from None
            if not chunk:
                break
            if have + len(chunk) > size:
                out.close()
                os.remove(part)
                raise SourceFailed(f"sent more than the catalogue's {size:,} bytes: cut off")
            try:
                out.write(chunk)
            except OSError as e:
                raise FetchError(f"{part}: cannot write ({first_line(e)}); the cache is as it was") from None
            have += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
        try:
            out.flush()
            os.fsync(out.fileno())
        except OSError as e:
            raise FetchError(f"{part}: cannot write ({first_line(e)}); the cache is as it was") from None
    if have < size:
        raise SourceFailed(f"connection closed after {have:,} of {size:,} bytes (the next fetch resumes)")
