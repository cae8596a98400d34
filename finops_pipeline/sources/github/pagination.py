"""JSON from the API: one page at a time, and listings followed along `Link: rel="next"`.

Kept apart from downloads because API answers are small JSON bodies that stay on the API
host: a redirect (a renamed repository) is followed there with the token, while a download's
redirect leaves the host and must not carry it. Every `next` link goes through
`Transport.url`, so a link to another host is refused rather than sent the token.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

from finops_pipeline.sources.github._common import int_or_none
from finops_pipeline.sources.github.errors import GitHubError, redact_url
from finops_pipeline.sources.github.retries import Retrier, _Retry
from finops_pipeline.sources.github.transport import (
    _ERROR_BODY_MAX,
    _MAX_HOPS,
    _REDIRECTS,
    Transport,
)

#: Fetches one page: (URL, params or None) -> (parsed JSON, the `rel="next"` URL or None).
PageFetcher = Callable[[str, Mapping[str, Any] | None], tuple[Any, str | None]]


def get_page(
    transport: Transport, retrier: Retrier, url: str, params: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
) -> tuple[Any, str | None]:
    """GET JSON with retries; returns the data and the `rel="next"` URL, if any. `headers`
    adds to (or overrides) the session's, e.g. an endpoint's own X-GitHub-Api-Version."""
    label = redact_url(url)

    def attempt() -> tuple[Any, str | None]:
        current, current_params = url, params
        for _hop in range(_MAX_HOPS):
            with transport.slot():
                resp = transport.send(transport.api, current, params=current_params,
                                      headers=headers)
            retrier.observe(resp)
            if resp.status_code in _REDIRECTS:
                # A renamed repository answers 301; follow it on the API host only.
                location = resp.headers.get("Location")
                if not location:
                    raise GitHubError(f"redirect without Location from {label}", url=label)
                current, current_params = transport.url(urljoin(current, location)), None
                continue
            if resp.status_code >= 300:
                retrier.raise_for_status(resp, label, resp.text[:_ERROR_BODY_MAX], transport.scrub)
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
            return data, (transport.url(next_url) if next_url else None)
        raise GitHubError(f"too many redirects from {label}", url=label)

    return retrier.call("GET", label, attempt)


def write_json(
    transport: Transport, retrier: Retrier, method: str, url: str, body: Any, *,
    retry_unsure: bool,
) -> Any:
    """A POST or PATCH with a JSON body; the parsed JSON answer.

    A refused request (rate limit, 429) is retried: GitHub did not act on it. A server error
    or a lost connection leaves it unknown whether the write happened, so it is retried only
    when `retry_unsure` (an edit that sets the same fields twice is harmless; a second create
    is a duplicate: the caller checks and decides).
    """
    label = redact_url(url)

    def attempt() -> Any:
        with transport.slot():
            try:
                resp = transport.send(transport.api, url, method=method, json_body=body)
            except _Retry as exc:
                if not retry_unsure:
                    raise GitHubError(f"{method} {label}: {exc.reason}", url=label) from None
                raise
        retrier.observe(resp)
        if resp.status_code >= 300:
            try:
                retrier.raise_for_status(resp, label, resp.text[:_ERROR_BODY_MAX],
                                         transport.scrub)
            except _Retry as exc:
                if not exc.rate_limited and not retry_unsure:
                    raise GitHubError(f"{method} {label}: {exc.reason}", status=exc.status,
                                      url=label) from None
                raise
            raise GitHubError(f"unexpected status {resp.status_code} for {method} {label}",
                              status=resp.status_code, url=label)
        try:
            return resp.json()
        except ValueError:
            raise GitHubError(f"invalid JSON from {method} {label}",
                              status=resp.status_code, url=label) from None

    return retrier.call(method, label, attempt)


class Paginated(Iterator[dict]):
    """Items of a paginated listing, fetched lazily page by page along `Link: rel="next"`.

    `total_count` is the first page's `total_count` (fetching that page if needed); None for
    listings without one (pull requests). Stop iterating and no further page is requested.
    """

    def __init__(
        self,
        fetch_page: PageFetcher,
        url: str,
        params: Mapping[str, Any] | None,
        items_key: str | None,
    ):
        self._fetch_page = fetch_page
        self._next_url: str | None = url
        self._params = dict(params or {})
        self._items_key = items_key
        self._buffer: deque[dict] = deque()
        self._started = False
        self._total: int | None = None
        self._seen: set[str] = set()
        self.pages = 0
        #: The first page's object without its items (e.g. the billing API's timePeriod).
        self.envelope: dict[str, Any] = {}

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
        data, next_url = self._fetch_page(url, None if self._started else self._params)
        first = not self._started
        self._started = True
        self.pages += 1
        if self._items_key is None:
            items = data
        else:
            items = data.get(self._items_key) if isinstance(data, dict) else None
            if first and isinstance(data, dict):
                self._total = int_or_none(str(data.get("total_count")))
                self.envelope = {k: v for k, v in data.items() if k != self._items_key}
        if not isinstance(items, list):
            raise GitHubError(f"unexpected listing shape from {redact_url(url)}")
        self._buffer.extend(item for item in items if isinstance(item, dict))
        self._next_url = next_url
