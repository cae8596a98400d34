"""When to retry a GitHub request, how long to wait first, and what a final answer means.

Why not urllib3's `Retry`: it does not understand GitHub's 403 secondary rate limit. So the
client runs this loop of its own: an attempt signals a transient failure by raising `_Retry`,
and `Retrier.call` waits (Retry-After, the rate-limit reset, or backoff with jitter) and tries
again. A rate limit is per token, so the pause it causes is shared by every thread, and so is
the budget guard that pauses before the budget runs out. Every wait goes through an injectable
`Clock` so tests never sleep for real.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

import requests

from finops_pipeline.sources.github._common import int_or_none
from finops_pipeline.sources.github.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubGone,
    GitHubNotFound,
    GitHubPermissionError,
    GitHubRetriesExhausted,
    _message,
)

log = logging.getLogger("finops_pipeline.github")

#: GitHub's advice for a secondary rate limit without `Retry-After`: wait at least a minute.
SECONDARY_RATE_LIMIT_WAIT = 60.0

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


class Retrier:
    """The retry loop of one client, and the rate-limit state of its token (thread-safe).

    Args:
        clock: time source for every wait.
        max_retries: retries after the first attempt of a request.
        low_budget: when `x-ratelimit-remaining` drops below this, pause until the reset.
        rng: jitter source.
        backoff_base, backoff_cap: exponential backoff of `base * 2**attempt`, capped.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        max_retries: int,
        low_budget: int,
        rng: random.Random,
        backoff_base: float,
        backoff_cap: float,
    ):
        self.clock = clock
        self.max_retries = max(0, max_retries)
        self.low_budget = low_budget
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._rng = rng
        self._rng_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pause_lock = threading.Lock()
        self._remaining: int | None = None
        self._reset: float | None = None
        self._paused_until = 0.0

    def raise_for_status(
        self, resp: requests.Response, label: str, body: str, scrub: Callable[[str], str]
    ) -> None:
        """Raise the typed error or `_Retry` for a status >= 400; return for anything else.

        `scrub` removes the token from server text before it goes into a message.
        """
        status = resp.status_code
        if status < 400:
            return
        message = scrub(_message(body))
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
            raise _Retry(f"server error {status}", wait=self.retry_after(resp), status=status)
        raise GitHubError(f"GitHub answered {status} for {detail}", status=status, url=label)

    def _rate_limit_retry(
        self, resp: requests.Response, lower_body: str, status: int
    ) -> _Retry | None:
        # GitHub's documented order: Retry-After; else remaining == 0 -> wait for the reset;
        # else a secondary limit -> at least a minute.
        wait = self.retry_after(resp)
        if wait is not None:
            return _Retry(
                f"rate limited ({status}, Retry-After)", wait=wait, rate_limited=True, status=status
            )
        remaining = resp.headers.get("x-ratelimit-remaining")
        reset = int_or_none(resp.headers.get("x-ratelimit-reset"))
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

    def retry_after(self, resp: requests.Response) -> float | None:
        """Seconds to wait from the `Retry-After` header (seconds or an HTTP date), if any."""
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

    def observe(self, resp: requests.Response) -> None:
        """Note the rate-limit budget an API answer reports."""
        # Only answers that went through feed the budget guard: an error answer (a rate
        # limit above all) brings its own wait, which `call` applies, Retry-After first.
        if resp.status_code >= 400:
            return
        remaining = int_or_none(resp.headers.get("x-ratelimit-remaining"))
        reset = int_or_none(resp.headers.get("x-ratelimit-reset"))
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

    def call(self, what: str, label: str, attempt_fn: Callable[[], T]) -> T:
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
