"""How a request reaches GitHub: two sessions, the token, one GET at a time within a bound.

Why not `requests`' own redirects: `requests` forwards custom headers to another host when it
follows a redirect. Artifact downloads redirect to a signed blob URL on another host, and the
token must never reach it. So nothing here follows redirects implicitly, and there are two
sessions: the API session, whose auth (`_BearerAuth`, the one place the token lives) attaches
it, and the blob session, which sends no credentials at all. `Transport.url` refuses any
absolute URL off the API host before it can reach the API session.

A failed transport (connection, reset, timeout) becomes `_Retry`; the retry loop is in
`retries`, the redirect handling in `pagination` and `downloads`.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from finops_pipeline.sources.github.errors import (
    GitHubAuthError,
    GitHubError,
    _describe,
    _scrub,
    redact_url,
)
from finops_pipeline.sources.github.retries import _Retry

log = logging.getLogger("finops_pipeline.github")

API_VERSION = "2022-11-28"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ERROR_BODY_MAX = 64 * 1024
_MAX_HOPS = 4

# Errors a request can end with that say nothing about the request itself; worth a retry.
# `requests.RequestException` is an `OSError`, so the non-transient ones are listed first.
_BAD_REQUEST_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)
_TRANSPORT_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _check_token(token: str | None) -> str:
    if token is None or not str(token).strip():
        raise GitHubAuthError(
            "GITHUB_TOKEN is not set; the github source needs a token with actions:read "
            "(and pull-requests:read, plus contents:read for private repositories)"
        )
    token = str(token).strip()
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in token):
        # requests would refuse the header and quote its value in the error: say it here.
        raise GitHubAuthError("GITHUB_TOKEN contains whitespace or control characters")
    return token


class _BearerAuth(AuthBase):
    """Attaches the token; its repr never shows it."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def __repr__(self) -> str:
        return "<BearerAuth ***>"


class _NoAuth(AuthBase):
    """For the blob host: no Authorization at all. Also keeps `requests` from consulting
    ~/.netrc, which it does only when a session has no auth of its own."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers.pop("Authorization", None)
        return r

    def __repr__(self) -> str:
        return "<NoAuth>"


class Transport:
    """The API session (token attached) and the blob session (no credentials), their
    connection pools, and the bound on requests in flight across all threads.

    Validates its arguments in this order: the token, `api_url`, `max_in_flight`.
    """

    def __init__(
        self,
        api_url: str,
        token: str | None,
        *,
        max_in_flight: int,
        timeout: float,
        user_agent: str,
    ):
        token = _check_token(token)
        api_url = api_url.strip().rstrip("/")
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"GITHUB_API_URL must be an http(s) URL, got {redact_url(api_url)!r}")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("GITHUB_API_URL must not carry credentials, a query or a fragment")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.api_url = api_url
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.user_agent = user_agent
        self._origin = _origin(api_url)
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self.auth = _BearerAuth(token)
        self.api = self._session(
            self.auth,
            {
                "Accept": "application/vnd.github+json",
                "Accept-Encoding": "gzip, deflate",
                "X-GitHub-Api-Version": API_VERSION,
            },
        )
        # The blob host gets nothing but a User-Agent: no Authorization, no GitHub headers.
        self.blob = self._session(_NoAuth(), {"Accept-Encoding": "identity"})

    def _session(self, auth: AuthBase, headers: dict[str, str]) -> requests.Session:
        session = requests.Session()
        session.auth = auth
        session.headers.clear()
        session.headers.update({"User-Agent": self.user_agent, **headers})
        adapter = HTTPAdapter(pool_maxsize=max(self.max_in_flight, 1), max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def close(self) -> None:
        """Close both connection pools."""
        self.api.close()
        self.blob.close()

    def url(self, path_or_url: str) -> str:
        """An absolute URL on the API host for an API path or URL; any other host is refused."""
        if path_or_url.startswith(("http://", "https://")):
            if _origin(path_or_url) != self._origin:
                raise GitHubError(
                    f"refusing to send the token to {redact_url(path_or_url)}: "
                    f"not the API host {redact_url(self.api_url)}"
                )
            return path_or_url
        if not path_or_url.startswith("/"):
            path_or_url = "/" + path_or_url
        return self.api_url + path_or_url

    def scrub(self, text: str) -> str:
        """`text` without the token: for anything a server or `requests` said."""
        return _scrub(text, self.auth._token)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the `max_in_flight` request slots."""
        with self._slots:
            yield

    def send(
        self,
        session: requests.Session,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        stream: bool = False,
        identity: bool = False,
        method: str = "GET",
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One request (a GET unless `method` says otherwise, with `json_body` as its JSON),
        no redirects followed; transport failures become `_Retry`."""
        headers = {**({"Accept-Encoding": "identity"} if identity else {}), **(headers or {})}
        started = time.monotonic()
        try:
            resp = session.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=stream,
            )
        except _BAD_REQUEST_ERRORS as exc:
            raise GitHubError(
                self.scrub(f"bad request to {redact_url(url)}: {_describe(exc)}"),
                url=redact_url(url),
            ) from None
        except _TRANSPORT_ERRORS as exc:
            raise _Retry(self.scrub(f"network error: {_describe(exc)}")) from None
        log.debug(
            "github: %s %s -> %s (%.0f ms)",
            method,
            redact_url(url),
            resp.status_code,
            (time.monotonic() - started) * 1000,
        )
        return resp

    def error_text(self, resp: requests.Response) -> str:
        """The start of a streamed error body, for its message; "" when unreadable."""
        try:
            return resp.raw.read(_ERROR_BODY_MAX, decode_content=True).decode("utf-8", "replace")
        except Exception:  # an unreadable error body is just an empty message
            return ""
