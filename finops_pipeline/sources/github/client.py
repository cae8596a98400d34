"""A small, defensive GitHub REST client on `requests`: the facade over this package's parts.

Why not `requests`' own retries and redirects: urllib3's `Retry` does not understand GitHub's
403 secondary rate limit, and `requests` forwards custom headers to another host when it
follows a redirect. Artifact downloads redirect to a signed blob URL on another host, and the
token must never reach it. So this client never follows redirects implicitly and runs its own
retry loop; every wait goes through an injectable `Clock` so tests never sleep for real.

The token lives in one place (`_BearerAuth`) and is only ever attached to requests for the
API host. Logs and exception messages carry URLs without their query string, and any text
that comes back from a server is scrubbed of the token before it is shown.

The parts, one concern each:
    errors      the exception types, and redaction of URLs and server text
    retries     `Clock`, the retry loop, rate limits and backoff, status -> error
    transport   the API and blob sessions, the token, one GET, the in-flight bound
    pagination  JSON pages and `Link: rel="next"` listings
    downloads   artifact archives through the redirect to the blob host
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import requests

from finops_pipeline.config import DEFAULT_API_URL
from finops_pipeline.sources.github import downloads, pagination
from finops_pipeline.sources.github.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubGone,
    GitHubNotFound,
    GitHubPermissionError,
    GitHubRetriesExhausted,
    GitHubTooLarge,
    redact_url,
)
from finops_pipeline.sources.github.pagination import Paginated
from finops_pipeline.sources.github.retries import Clock, Retrier, SystemClock
from finops_pipeline.sources.github.transport import Transport, _BearerAuth

__all__ = [
    "Clock",
    "GitHubAuthError",
    "GitHubClient",
    "GitHubError",
    "GitHubGone",
    "GitHubNotFound",
    "GitHubPermissionError",
    "GitHubRetriesExhausted",
    "GitHubTooLarge",
    "Paginated",
    "SystemClock",
    "redact_url",
]


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
        # The transport validates first (token, then URL, then max_in_flight), as before.
        self._transport = Transport(
            api_url or DEFAULT_API_URL,
            token,
            max_in_flight=max_in_flight,
            timeout=timeout,
            user_agent=user_agent,
        )
        self._retrier = Retrier(
            clock or SystemClock(),
            max_retries=max_retries,
            low_budget=low_budget,
            rng=rng or random.Random(),
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
        )

    # -- configuration, read-only: each value lives in the part that uses it ---------------

    @property
    def api_url(self) -> str:
        return self._transport.api_url

    @property
    def max_in_flight(self) -> int:
        return self._transport.max_in_flight

    @property
    def timeout(self) -> float:
        return self._transport.timeout

    @property
    def user_agent(self) -> str:
        return self._transport.user_agent

    @property
    def max_retries(self) -> int:
        return self._retrier.max_retries

    @property
    def clock(self) -> Clock:
        return self._retrier.clock

    @property
    def low_budget(self) -> int:
        return self._retrier.low_budget

    @property
    def backoff_base(self) -> float:
        return self._retrier.backoff_base

    @property
    def backoff_cap(self) -> float:
        return self._retrier.backoff_cap

    # The API session, its auth and the shared rate-limit pause, for inspection (tests).

    @property
    def _api(self) -> requests.Session:
        return self._transport.api

    @property
    def _auth(self) -> _BearerAuth:
        return self._transport.auth

    @property
    def _paused_until(self) -> float:
        return self._retrier._paused_until

    def __repr__(self) -> str:
        return (
            f"GitHubClient(api_url={self.api_url!r}, max_in_flight={self.max_in_flight}, "
            f"timeout={self.timeout}, max_retries={self.max_retries})"
        )

    def close(self) -> None:
        """Close both connection pools."""
        self._transport.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API -------------------------------------------------------------------------

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET an API path (`/repos/...`) or an absolute URL on the API host; parsed JSON."""
        data, _next = self._get_page(self._transport.url(path_or_url), params)
        return data

    def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, items_key: str | None = None,
        *, api_version: str | None = None,
    ) -> Paginated:
        """Iterate the items of a listing, following `Link: rel="next"` headers.

        `items_key` names the list in an object response (`workflow_runs`, `artifacts`);
        None for endpoints answering a bare list (`pulls`). `api_version` is sent as
        X-GitHub-Api-Version for endpoints that need a newer one than the client's default.
        """
        fetch = self._get_page
        if api_version is not None:
            headers = {"X-GitHub-Api-Version": api_version}

            def fetch(url: str, params: Mapping[str, Any] | None) -> tuple[Any, str | None]:
                return pagination.get_page(self._transport, self._retrier, url, params,
                                           headers)
        return Paginated(fetch, self._transport.url(path), params, items_key)

    def write_json(self, method: str, path: str, body: Any, *, retry_unsure: bool) -> Any:
        """POST or PATCH JSON to an API path; the parsed answer (pagination.write_json for
        which failures are retried)."""
        return pagination.write_json(self._transport, self._retrier, method,
                                     self._transport.url(path), body, retry_unsure=retry_unsure)

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
        return downloads.download(self._transport, self._retrier, url, max_bytes=max_bytes)

    def _get_page(self, url: str, params: Mapping[str, Any] | None) -> tuple[Any, str | None]:
        return pagination.get_page(self._transport, self._retrier, url, params)
