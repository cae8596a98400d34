"""Artifact archives: from the API URL, through its redirect, to the blob host, into memory.

The API answers 302 to a short-lived signed URL on another host. That hop is the one place a
request leaves the API host, so it goes out on the blob session, which carries no token, and
its URL (the signature is in the query string) only ever shows up redacted. Bodies are
streamed in chunks and cut off at the caller's `max_bytes`, never trusting Content-Length
alone; a short body is retried rather than handed on.
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin, urlsplit

import requests

from finops_pipeline.sources.github._common import int_or_none
from finops_pipeline.sources.github.errors import (
    GitHubError,
    GitHubGone,
    GitHubTooLarge,
    _describe,
    redact_url,
)
from finops_pipeline.sources.github.retries import Retrier, _Retry
from finops_pipeline.sources.github.transport import (
    _MAX_HOPS,
    _REDIRECTS,
    _TRANSPORT_ERRORS,
    Transport,
)

log = logging.getLogger("finops_pipeline.github")

_CHUNK = 64 * 1024


def download(transport: Transport, retrier: Retrier, url: str, *, max_bytes: int) -> bytes:
    """Download an artifact archive (`archive_download_url`) into memory.

    A body cut short, a rejected (expired) signature or a 5xx is retried from the API URL,
    which hands out a fresh signed URL. See `GitHubClient.download` for what it raises.
    """
    api_url = transport.url(url)
    label = redact_url(api_url)

    def attempt() -> bytes:
        target: str | None = None
        with transport.slot():
            resp = transport.send(transport.api, api_url, stream=True, identity=True)
            with resp:
                retrier.observe(resp)
                if resp.status_code in _REDIRECTS:
                    location = resp.headers.get("Location")
                    if not location:
                        raise _Retry(f"{resp.status_code} without Location", status=502)
                    target = urljoin(api_url, location)
                    log.debug("github: %s redirects to %s", label, redact_url(target))
                elif resp.status_code == 200:
                    # Some servers (GHES setups, tests) serve the archive directly.
                    return _read_limited(resp, max_bytes, label)
                else:
                    retrier.raise_for_status(
                        resp, label, transport.error_text(resp), transport.scrub
                    )
                    raise GitHubError(
                        f"unexpected status {resp.status_code} for {label}",
                        status=resp.status_code,
                        url=label,
                    )
        return _fetch_blob(transport, retrier, target, max_bytes)

    return retrier.call("download", label, attempt)


def _fetch_blob(transport: Transport, retrier: Retrier, url: str | None, max_bytes: int) -> bytes:
    if url is None:
        raise GitHubError("download without a target URL")
    for _hop in range(_MAX_HOPS):
        label = redact_url(url)
        if urlsplit(url).scheme not in ("http", "https"):
            raise GitHubError(f"refusing a non-http signed URL {label}", url=label)
        with transport.slot():
            resp = transport.send(transport.blob, url, stream=True, identity=True)
            with resp:
                status = resp.status_code
                if status == 200:
                    return _read_limited(resp, max_bytes, label)
                if status in _REDIRECTS and resp.headers.get("Location"):
                    url = urljoin(url, resp.headers["Location"])
                    continue
                if status == 410:
                    raise GitHubGone(f"{label} is gone (410)", status=410, url=label)
                if status in (400, 401, 403, 404):
                    # An expired or refused signature: the API hands out a fresh one.
                    raise _Retry(f"blob host refused the signed URL ({status})", status=status)
                if status == 429 or status >= 500:
                    raise _Retry(
                        f"blob host answered {status}",
                        wait=retrier.retry_after(resp),
                        status=status,
                    )
                raise GitHubError(
                    f"blob host answered {status} for {label}", status=status, url=label
                )
    raise GitHubError("too many redirects on the blob host")


def _read_limited(resp: requests.Response, max_bytes: int, label: str) -> bytes:
    """The raw body, never more than `max_bytes`, never shorter than Content-Length."""
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise GitHubError(f"unexpected Content-Encoding {encoding!r} from {label}", url=label)
    declared = int_or_none(resp.headers.get("Content-Length"))
    if declared is not None and declared > max_bytes:
        raise GitHubTooLarge(
            f"{label} is {declared} bytes, over the limit of {max_bytes}",
            status=resp.status_code,
            url=label,
        )
    buf = bytearray()
    try:
        for chunk in resp.raw.stream(_CHUNK, decode_content=False):
            buf += chunk
            if len(buf) > max_bytes:
                raise GitHubTooLarge(
                    f"{label} sent more than the limit of {max_bytes} bytes", url=label
                )
    except _TRANSPORT_ERRORS as exc:
        if declared is not None and len(buf) < declared:
            raise _Retry(f"truncated body: {len(buf)} of {declared} bytes") from None
        raise _Retry(f"body read failed after {len(buf)} bytes: {_describe(exc)}") from None
    if declared is not None and len(buf) != declared:
        raise _Retry(f"truncated body: {len(buf)} of {declared} bytes")
    return bytes(buf)
