"""A small, defensive GitHub REST client on `requests`.

Why not `requests`' own retries and redirects: urllib3's `Retry` does not understand GitHub's
403 secondary rate limit, and `requests` forwards custom headers to another host when it
follows a redirect. Artifact downloads redirect to a signed blob URL on another host, and the
token must never reach it. So this client never follows redirects implicitly and runs its own
retry loop; every wait goes through an injectable `Clock` so tests never sleep for real.

The token lives in one place (`_BearerAuth`) and is only ever attached to requests for the
API host. Logs and exception messages carry URLs without their query string, and any text
that comes back from a server is scrubbed of the token before it is shown.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from finops_pipeline.config import DEFAULT_API_URL

log = logging.getLogger("finops_pipeline.github")

API_VERSION = "2022-11-28"
#: GitHub's advice for a secondary rate limit without `Retry-After`: wait at least a minute.
SECONDARY_RATE_LIMIT_WAIT = 60.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_ERROR_BODY_MAX = 64 * 1024
_MAX_HOPS = 4
_QUERY_RE = re.compile(r"\?[^\s'\")>]*")

T = TypeVar("T")


class Clock(Protocol):
    """Where the client reads the time and waits; tests inject a fake that never sleeps."""

    def now(self) -> float:
        """Seconds since the epoch (UTC), like `time.time()`."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class GitHubError(Exception):
    """A GitHub request failed. The message names the URL without its query string."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status
        self.url = url


class GitHubAuthError(GitHubError):
    """No token, or GitHub rejected it (401)."""


class GitHubPermissionError(GitHubAuthError):
    """The token is valid but lacks access to this resource (a 403 that is no rate limit)."""


class GitHubNotFound(GitHubError):
    """404: the repository, run or artifact does not exist (or is invisible to the token)."""


class GitHubGone(GitHubError):
    """410, or an artifact marked expired: the data is gone for good; skip it, never retry."""


class GitHubTooLarge(GitHubError):
    """A download is larger than the caller's `max_bytes`."""


class GitHubRetriesExhausted(GitHubError):
    """A transient failure (5xx, rate limit, network) outlived every retry."""


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(
        self,
        reason: str,
        *,
        wait: float | None = None,
        min_wait: float = 0.0,
        rate_limited: bool = False,
        status: int | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.min_wait = min_wait
        self.rate_limited = rate_limited
        self.status = status


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


def redact_url(url: str) -> str:
    """`url` without user info, query string or fragment: safe to log (signed URLs too)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "<invalid url>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _describe(exc: BaseException) -> str:
    """`TypeName: message` with query strings (signatures) removed."""
    text = _QUERY_RE.sub("?...", str(exc))
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


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


class Paginated(Iterator[dict]):
    """Items of a paginated listing, fetched lazily page by page along `Link: rel="next"`.

    `total_count` is the first page's `total_count` (fetching that page if needed); None for
    listings without one (pull requests). Stop iterating and no further page is requested.
    """

    def __init__(
        self,
        client: GitHubClient,
        url: str,
        params: Mapping[str, Any] | None,
        items_key: str | None,
    ):
        self._client = client
        self._next_url: str | None = url
        self._params = dict(params or {})
        self._items_key = items_key
        self._buffer: deque[dict] = deque()
        self._started = False
        self._total: int | None = None
        self._seen: set[str] = set()
        self.pages = 0

    @property
    def total_count(self) -> int | None:
        if not self._started:
            self._fetch()
        return self._total

    def __iter__(self) -> Paginated:
        return self

    def __next__(self) -> dict:
        while not self._buffer:
            if self._started and self._next_url is None:
                raise StopIteration
            self._fetch()
        return self._buffer.popleft()

    def _fetch(self) -> None:
        url = self._next_url
        assert url is not None
        if url in self._seen:
            raise GitHubError(f"pagination loops back to {redact_url(url)}")
        self._seen.add(url)
        # Only the first request carries params; `next` links already hold them.
        data, next_url = self._client._get_page(url, None if self._started else self._params)
        first = not self._started
        self._started = True
        self.pages += 1
        if self._items_key is None:
            items = data
        else:
            items = data.get(self._items_key) if isinstance(data, dict) else None
            if first and isinstance(data, dict):
                self._total = _int_or_none(str(data.get("total_count")))
        if not isinstance(items, list):
            raise GitHubError(f"unexpected listing shape from {redact_url(url)}")
        self._buffer.extend(item for item in items if isinstance(item, dict))
        self._next_url = next_url


class GitHubClient:
    """GitHub REST client: bounded concurrency, retries with backoff, rate-limit aware.

    Args:
        api_url: `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise.
        token: sent as `Authorization: Bearer` to the API host only.
        max_in_flight: at most this many requests at once across all threads.
        timeout: connect and read timeout of every request, in seconds.
        max_retries: retries after the first attempt of a request.
        clock: time source for every wait (tests inject a fake).
        low_budget: when `x-ratelimit-remaining` drops below this, pause until the reset.
        user_agent: GitHub requires one.
        rng: jitter source (seed it for reproducible waits).
        backoff_base, backoff_cap: exponential backoff of `base * 2**attempt`, capped.
    """

    def __init__(
        self,
        api_url: str,
        token: str | None,
        *,
        max_in_flight: int = 8,
        timeout: float = 30.0,
        max_retries: int = 6,
        clock: Clock | None = None,
        low_budget: int = 50,
        user_agent: str = "finops-pipeline",
        rng: random.Random | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
    ):
        token = _check_token(token)
        api_url = (api_url or DEFAULT_API_URL).strip().rstrip("/")
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
        self.max_retries = max(0, max_retries)
        self.clock: Clock = clock or SystemClock()
        self.low_budget = low_budget
        self.user_agent = user_agent
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._origin = _origin(api_url)
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._state_lock = threading.Lock()
        self._pause_lock = threading.Lock()
        self._remaining: int | None = None
        self._reset: float | None = None
        self._paused_until = 0.0
        self._auth = _BearerAuth(token)
        self._api = self._session(
            self._auth,
            {
                "Accept": "application/vnd.github+json",
                "Accept-Encoding": "gzip, deflate",
                "X-GitHub-Api-Version": API_VERSION,
            },
        )
        # The blob host gets nothing but a User-Agent: no Authorization, no GitHub headers.
        self._blob = self._session(_NoAuth(), {"Accept-Encoding": "identity"})

    def _session(self, auth: AuthBase, headers: dict[str, str]) -> requests.Session:
        session = requests.Session()
        session.auth = auth
        session.headers.clear()
        session.headers.update({"User-Agent": self.user_agent, **headers})
        adapter = HTTPAdapter(pool_maxsize=max(self.max_in_flight, 1), max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def __repr__(self) -> str:
        return (
            f"GitHubClient(api_url={self.api_url!r}, max_in_flight={self.max_in_flight}, "
            f"timeout={self.timeout}, max_retries={self.max_retries})"
        )

    def close(self) -> None:
        """Close both connection pools."""
        self._api.close()
        self._blob.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API -------------------------------------------------------------------------

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET an API path (`/repos/...`) or an absolute URL on the API host; parsed JSON."""
        data, _next = self._get_page(self._url(path_or_url), params)
        return data

    def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, items_key: str | None = None
    ) -> Paginated:
        """Iterate the items of a listing, following `Link: rel="next"` headers.

        `items_key` names the list in an object response (`workflow_runs`, `artifacts`);
        None for endpoints answering a bare list (`pulls`).
        """
        return Paginated(self, self._url(path), params, items_key)

    def download(self, url: str, *, max_bytes: int) -> bytes:
        """Download an artifact archive (`archive_download_url`) into memory.

        The API answers 302 to a short-lived signed URL on another host, fetched with a
        separate session without any credentials. A body cut short, a rejected (expired)
        signature or a 5xx is retried from the API URL, which hands out a fresh signed URL.

        Raises:
            GitHubGone: 410, the artifact expired (no retry).
            GitHubTooLarge: more than `max_bytes` (declared or actually sent).
            GitHubNotFound, GitHubAuthError, GitHubRetriesExhausted, GitHubError.
        """
        api_url = self._url(url)
        label = redact_url(api_url)

        def attempt() -> bytes:
            target: str | None = None
            with self._slot():
                resp = self._send(self._api, api_url, stream=True, identity=True)
                with resp:
                    self._observe(resp)
                    if resp.status_code in _REDIRECTS:
                        location = resp.headers.get("Location")
                        if not location:
                            raise _Retry(f"{resp.status_code} without Location", status=502)
                        target = urljoin(api_url, location)
                        log.debug("github: %s redirects to %s", label, redact_url(target))
                    elif resp.status_code == 200:
                        # Some servers (GHES setups, tests) serve the archive directly.
                        return self._read_limited(resp, max_bytes, label)
                    else:
                        self._raise_for_status(resp, label, self._error_text(resp))
                        raise GitHubError(
                            f"unexpected status {resp.status_code} for {label}",
                            status=resp.status_code,
                            url=label,
                        )
            return self._fetch_blob(target, max_bytes)

        return self._call("download", label, attempt)

    # -- internals --------------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
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

    def _scrub(self, text: str) -> str:
        token = self._auth._token
        return text.replace(token, "***") if token else text

    @contextmanager
    def _slot(self) -> Iterator[None]:
        with self._slots:
            yield

    def _send(
        self,
        session: requests.Session,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        stream: bool = False,
        identity: bool = False,
    ) -> requests.Response:
        """One GET, no redirects followed; transport failures become `_Retry`."""
        headers = {"Accept-Encoding": "identity"} if identity else None
        started = time.monotonic()
        try:
            resp = session.get(
                url,
                params=params,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=stream,
            )
        except _BAD_REQUEST_ERRORS as exc:
            raise GitHubError(
                self._scrub(f"bad request to {redact_url(url)}: {_describe(exc)}"),
                url=redact_url(url),
            ) from None
        except _TRANSPORT_ERRORS as exc:
            raise _Retry(self._scrub(f"network error: {_describe(exc)}")) from None
        log.debug(
            "github: GET %s -> %s (%.0f ms)",
            redact_url(url),
            resp.status_code,
            (time.monotonic() - started) * 1000,
        )
        return resp

    def _get_page(self, url: str, params: Mapping[str, Any] | None) -> tuple[Any, str | None]:
        """GET JSON with retries; returns the data and the `rel="next"` URL, if any."""
        label = redact_url(url)

        def attempt() -> tuple[Any, str | None]:
            current, current_params = url, params
            for _hop in range(_MAX_HOPS):
                with self._slot():
                    resp = self._send(self._api, current, params=current_params)
                self._observe(resp)
                if resp.status_code in _REDIRECTS:
                    # A renamed repository answers 301; follow it on the API host only.
                    location = resp.headers.get("Location")
                    if not location:
                        raise GitHubError(f"redirect without Location from {label}", url=label)
                    current, current_params = self._url(urljoin(current, location)), None
                    continue
                if resp.status_code >= 300:
                    self._raise_for_status(resp, label, resp.text[:_ERROR_BODY_MAX])
                    raise GitHubError(
                        f"unexpected status {resp.status_code} for {label}",
                        status=resp.status_code,
                        url=label,
                    )
                try:
                    data = resp.json()
                except ValueError:
                    raise _Retry(f"invalid JSON from {label}", status=resp.status_code) from None
                next_url = resp.links.get("next", {}).get("url")
                return data, (self._url(next_url) if next_url else None)
            raise GitHubError(f"too many redirects from {label}", url=label)

        return self._call("GET", label, attempt)

    def _fetch_blob(self, url: str | None, max_bytes: int) -> bytes:
        if url is None:
            raise GitHubError("download without a target URL")
        for _hop in range(_MAX_HOPS):
            label = redact_url(url)
            if urlsplit(url).scheme not in ("http", "https"):
                raise GitHubError(f"refusing a non-http signed URL {label}", url=label)
            with self._slot():
                resp = self._send(self._blob, url, stream=True, identity=True)
                with resp:
                    status = resp.status_code
                    if status == 200:
                        return self._read_limited(resp, max_bytes, label)
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
                            wait=self._retry_after(resp),
                            status=status,
                        )
                    raise GitHubError(
                        f"blob host answered {status} for {label}", status=status, url=label
                    )
        raise GitHubError("too many redirects on the blob host")

    def _read_limited(self, resp: requests.Response, max_bytes: int, label: str) -> bytes:
        """The raw body, never more than `max_bytes`, never shorter than Content-Length."""
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise GitHubError(f"unexpected Content-Encoding {encoding!r} from {label}", url=label)
        declared = _int_or_none(resp.headers.get("Content-Length"))
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

    def _error_text(self, resp: requests.Response) -> str:
        try:
            return resp.raw.read(_ERROR_BODY_MAX, decode_content=True).decode("utf-8", "replace")
        except Exception:  # an unreadable error body is just an empty message
            return ""

    def _raise_for_status(self, resp: requests.Response, label: str, body: str) -> None:
        """Raise the typed error or `_Retry` for a status >= 400; return for anything else."""
        status = resp.status_code
        if status < 400:
            return
        message = self._scrub(_message(body))
        detail = f"{label}: {message}" if message else label
        lower = body.lower()
        if status == 401:
            raise GitHubAuthError(
                f"GitHub rejected the token (401) for {detail}", status=status, url=label
            )
        if status in (403, 429):
            retry = self._rate_limit_retry(resp, lower, status)
            if retry is not None:
                raise retry
            if status == 429:
                raise _Retry("429 too many requests", rate_limited=True, status=status)
            raise GitHubPermissionError(
                f"permission denied (403) for {detail}; the token needs actions:read "
                "(pull-requests:read, contents:read for private repositories)",
                status=status,
                url=label,
            )
        if status == 404:
            raise GitHubNotFound(f"not found (404): {detail}", status=status, url=label)
        if status == 410:
            raise GitHubGone(f"gone (410): {detail}", status=status, url=label)
        if status >= 500:
            raise _Retry(f"server error {status}", wait=self._retry_after(resp), status=status)
        raise GitHubError(f"GitHub answered {status} for {detail}", status=status, url=label)

    def _rate_limit_retry(
        self, resp: requests.Response, lower_body: str, status: int
    ) -> _Retry | None:
        # GitHub's documented order: Retry-After; else remaining == 0 -> wait for the reset;
        # else a secondary limit -> at least a minute.
        wait = self._retry_after(resp)
        if wait is not None:
            return _Retry(
                f"rate limited ({status}, Retry-After)", wait=wait, rate_limited=True, status=status
            )
        remaining = resp.headers.get("x-ratelimit-remaining")
        reset = _int_or_none(resp.headers.get("x-ratelimit-reset"))
        if remaining is not None and remaining.strip() == "0" and reset is not None:
            return _Retry(
                f"primary rate limit exhausted ({status})",
                wait=max(0.0, reset - self.clock.now()) + 1.0,
                rate_limited=True,
                status=status,
            )
        if "rate limit" in lower_body:
            return _Retry(
                f"secondary rate limit ({status})",
                min_wait=SECONDARY_RATE_LIMIT_WAIT,
                rate_limited=True,
                status=status,
            )
        return None

    def _retry_after(self, resp: requests.Response) -> float | None:
        value = resp.headers.get("Retry-After")
        if value is None:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        return max(0.0, when.timestamp() - self.clock.now())

    def _observe(self, resp: requests.Response) -> None:
        # Only answers that went through feed the budget guard: an error answer (a rate
        # limit above all) brings its own wait, which `_call` applies, Retry-After first.
        if resp.status_code >= 400:
            return
        remaining = _int_or_none(resp.headers.get("x-ratelimit-remaining"))
        reset = _int_or_none(resp.headers.get("x-ratelimit-reset"))
        if remaining is None or reset is None:
            return
        with self._state_lock:
            self._remaining = remaining
            self._reset = float(reset)

    def _wait_for_budget(self) -> None:
        """Before each request: honour a pause set by a rate limit, or a low budget."""
        with self._pause_lock:  # one thread waits; the others queue behind it
            now = self.clock.now()
            wait, reason, low = 0.0, "", False
            with self._state_lock:
                if self._paused_until > now:
                    wait, reason = self._paused_until - now, "rate limited"
                remaining, reset = self._remaining, self._reset
                if (
                    remaining is not None
                    and reset is not None
                    and remaining < self.low_budget
                    and reset > now
                    and reset - now + 1.0 > wait
                ):
                    wait = reset - now + 1.0
                    reason = f"rate-limit budget low ({remaining} < {self.low_budget})"
                    low = True
            if wait <= 0:
                return
            log.warning("github: pausing %.1f s before the next request: %s", wait, reason)
            self.clock.sleep(wait)
            if low:
                with self._state_lock:
                    if self._reset == reset:
                        self._remaining = None

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_cap, self.backoff_base * (2**attempt))
        with self._rng_lock:
            return delay / 2 + self._rng.uniform(0, delay / 2)

    def _call(self, what: str, label: str, attempt_fn: Callable[[], T]) -> T:
        """Run `attempt_fn` until it returns, raises a final error, or retries run out."""
        for attempt in range(self.max_retries + 1):
            self._wait_for_budget()
            try:
                return attempt_fn()
            except _Retry as retry:
                if attempt >= self.max_retries:
                    raise GitHubRetriesExhausted(
                        f"{what} {label} failed after {attempt + 1} attempts: {retry.reason}",
                        status=retry.status,
                        url=label,
                    ) from None
                if retry.wait is not None:
                    delay = max(retry.wait, retry.min_wait)
                else:
                    delay = max(self._backoff(attempt), retry.min_wait)
                if retry.rate_limited:
                    # A rate limit is per token: hold every thread back, not only this one.
                    with self._state_lock:
                        self._paused_until = max(self._paused_until, self.clock.now() + delay)
                log.warning(
                    "github: %s %s: %s; retry %d of %d in %.1f s",
                    what,
                    label,
                    retry.reason,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                self.clock.sleep(delay)
        raise AssertionError("unreachable")


def _message(body: str) -> str:
    """GitHub's `message` field of an error body, else a short excerpt."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        text = data["message"]
    else:
        text = body.strip()
    text = " ".join(text.split())
    return text[:200] + ("..." if len(text) > 200 else "")
