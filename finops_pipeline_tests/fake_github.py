"""A fake GitHub on loopback: real HTTP servers for the REST client's tests and benchmark.

Two `ThreadingHTTPServer`s on 127.0.0.1 ephemeral ports: the API host and a separate blob
host that serves artifact zips behind signed, expiring URLs (as GitHub's storage does).
Every request is recorded (host, path, query, headers), requests in flight are counted, and
faults can be queued per path.

    with FakeGitHub(token=TOKEN) as gh:
        gh.add_run("acme/api", created_at="2026-03-01T10:00:00Z")
        gh.inject("/repos/acme/api/actions/runs", Fault.status(502), Fault.connection_reset())
        client = GitHubClient(gh.api_url, TOKEN, clock=FakeClock())

Also here: `FakeClock` (records sleeps, advances instantly) and `make_zip`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import itertools
import json
import socket
import struct
import threading
import time
import zipfile
from collections import deque
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


class FakeClock:
    """A `Clock` that never sleeps: `sleep` records the wait and moves time forward."""

    def __init__(self, start: float = 1_800_000_000.0):
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)


def make_zip(members: dict[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive in memory with the given members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def iso(value: dt.datetime | str) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` as the API writes times."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Fault:
    """One injected failure, consumed by one request."""

    kind: str
    status: int = 0
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0

    @classmethod
    def http(
        cls, status: int, body: dict | str | bytes = b"", headers: dict[str, str] | None = None
    ) -> Fault:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        return cls("http", status=status, body=body, headers=tuple((headers or {}).items()))

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls.http(status, {"message": "Server Error"})

    @classmethod
    def too_many_requests(cls, retry_after: int | str = 30) -> Fault:
        return cls.http(429, {"message": "Too Many Requests"}, {"Retry-After": str(retry_after)})

    @classmethod
    def secondary_rate_limit(cls, status: int = 403) -> Fault:
        """403 (or 429) whose message names the secondary rate limit; no Retry-After."""
        return cls.http(
            status,
            {
                "message": SECONDARY_MESSAGE,
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits",
            },
        )

    @classmethod
    def primary_rate_limit(cls, reset: float) -> Fault:
        """403 with x-ratelimit-remaining 0 and the reset at `reset` (epoch seconds)."""
        return cls.http(
            403,
            {"message": "API rate limit exceeded for user ID 1."},
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(reset))},
        )

    @classmethod
    def permission_denied(cls) -> Fault:
        return cls.http(403, {"message": "Resource not accessible by integration"})

    @classmethod
    def gone(cls) -> Fault:
        return cls.http(410, {"message": "Artifact has expired"})

    @classmethod
    def server_error_after_write(cls, status: int = 502) -> Fault:
        """Do the write, then answer `status`: the client cannot tell whether it happened."""
        return cls("after", status=status, body=json.dumps({"message": "Bad Gateway"}).encode())

    @classmethod
    def connection_reset(cls) -> Fault:
        """Abort the connection with a TCP RST before answering."""
        return cls("reset")

    @classmethod
    def connection_close(cls) -> Fault:
        """Close the connection without answering."""
        return cls("close")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Answer normally, but only after `seconds` (longer than the client's timeout)."""
        return cls("slow", seconds=seconds)

    @classmethod
    def no_content_length(cls) -> Fault:
        """Answer normally without Content-Length: the body ends when the connection closes."""
        return cls("no_length")

    @classmethod
    def truncated(cls) -> Fault:
        """Answer normally, but send half the body under the full Content-Length, then close."""
        return cls("truncated")


@dataclass(frozen=True)
class RecordedRequest:
    host: str  # "api" or "blob"
    method: str
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class _Artifact:
    id: int
    repo: str
    run_id: int
    name: str
    data: bytes
    expired: bool
    created_at: str
    gone: bool = False


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class FakeGitHub:
    """The fake: API host + blob host on loopback. Use as a context manager.

    Args:
        token: when set, API requests must carry `Authorization: Bearer <token>` (else 401).
        result_cap: filtered run listings serve at most this many results (GitHub: 1,000).
        latency: seconds every request waits before it is answered (benchmark).
        rate_limit: the x-ratelimit-limit; remaining counts down from it per API request.
        rate_limit_reset: the x-ratelimit-reset sent (default: an hour from now, real time).
        signed_url_ttl: seconds a signed blob URL stays valid (real time).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        result_cap: int = 1000,
        latency: float = 0.0,
        rate_limit: int = 5000,
        rate_limit_reset: float | None = None,
        signed_url_ttl: float = 60.0,
    ):
        self.token = token
        self.result_cap = result_cap
        self.latency = latency
        self.rate_limit = rate_limit
        self.rate_remaining = rate_limit
        self.rate_limit_reset = rate_limit_reset
        self.signed_url_ttl = signed_url_ttl
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._secret = hashlib.sha256(str(id(self)).encode()).digest()
        self._runs: dict[str, list[dict]] = {}
        self._artifacts: dict[int, _Artifact] = {}
        self._run_artifacts: dict[tuple[str, int], list[int]] = {}
        self._pulls: dict[str, list[dict]] = {}
        self._issues: dict[str, list[dict]] = {}
        #: (account path, name, endpoint, day) -> usage items of the billing API
        self._billing: dict[tuple[str, str, str, str], list[dict]] = {}
        #: (account path, name, endpoint) whose answers cover the month (no timePeriod.day)
        self.billing_month_only: set[tuple[str, str, str]] = set()
        #: False: writes to issues answer 403 (a token without issues:write).
        self.issues_writable = True
        self._faults: dict[tuple[str, str], deque[Fault]] = {}
        self._ids = itertools.count(1000)
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self._threads: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for host in ("api", "blob"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self, host))
            server.daemon_threads = True
            self._servers[host] = server
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._servers['api'].server_address[1]}"

    @property
    def blob_url(self) -> str:
        return f"http://127.0.0.1:{self._servers['blob'].server_address[1]}"

    # -- data -------------------------------------------------------------------------------

    def add_repo(self, repo: str) -> None:
        self._runs.setdefault(repo, [])
        self._pulls.setdefault(repo, [])

    def add_run(
        self,
        repo: str,
        *,
        created_at: dt.datetime | str,
        id: int | None = None,
        run_attempt: int = 1,
        status: str = "completed",
        conclusion: str | None = "success",
        name: str = "Agent",
        head_branch: str = "main",
        event: str = "workflow_dispatch",
        **extra: Any,
    ) -> dict:
        """A workflow run as the API shows it; returns the run JSON."""
        self.add_repo(repo)
        run_id = id if id is not None else next(self._ids)
        created = iso(created_at)
        run = {
            "id": run_id,
            "name": name,
            "node_id": f"WFR_{run_id}",
            "head_branch": head_branch,
            "head_sha": hashlib.sha256(str(run_id).encode()).hexdigest()[:40],
            "path": f".github/workflows/{name.lower()}.lock.yml",
            "run_number": run_id % 10_000,
            "event": event,
            "status": status,
            "conclusion": conclusion if status == "completed" else None,
            "workflow_id": 42,
            "url": f"https://api.github.com/repos/{repo}/actions/runs/{run_id}",
            "html_url": f"https://github.com/{repo}/actions/runs/{run_id}",
            "created_at": created,
            "updated_at": created,
            "run_attempt": run_attempt,
            "run_started_at": created,
            "actor": {"login": "octocat"},
            "repository": {"full_name": repo},
        }
        run.update(extra)
        self._runs[repo].append(run)
        return run

    def add_runs(
        self, repo: str, day: dt.date | str, count: int, *, first_id: int = 1, **kwargs: Any
    ) -> list[dict]:
        """`count` runs spread evenly over the UTC `day`, ids `first_id`, `first_id+1`, ..."""
        if isinstance(day, str):
            day = dt.date.fromisoformat(day)
        start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
        step = 86_400 / max(count, 1)
        return [
            self.add_run(
                repo,
                created_at=start + dt.timedelta(seconds=int(i * step)),
                id=first_id + i,
                **kwargs,
            )
            for i in range(count)
        ]

    def add_artifact(
        self,
        repo: str,
        run_id: int,
        name: str,
        data: bytes,
        *,
        expired: bool = False,
        gone: bool = False,
        id: int | None = None,
    ) -> dict:
        """An artifact of a run holding the zip `data`; returns its listing JSON.

        `expired` shows in the listing; `gone` does not, but the download answers 410 (it
        expired between listing and download).
        """
        artifact_id = id if id is not None else next(self._ids)
        self._artifacts[artifact_id] = _Artifact(
            artifact_id, repo, run_id, name, data, expired, "2026-01-01T00:00:00Z", gone
        )
        self._run_artifacts.setdefault((repo, run_id), []).append(artifact_id)
        return self._artifact_json(self._artifacts[artifact_id])

    def add_pull(
        self,
        repo: str,
        number: int,
        *,
        created_at: dt.datetime | str,
        author: str = "Copilot",
        head_ref: str | None = None,
        merged_at: dt.datetime | str | None = None,
        closed_at: dt.datetime | str | None = None,
        title: str | None = None,
        updated_at: dt.datetime | str | None = None,
    ) -> dict:
        """A pull request; closed when `closed_at` (or `merged_at`) is given; last updated at
        `updated_at`, else when it closed, else when it was created."""
        self.add_repo(repo)
        if merged_at is not None and closed_at is None:
            closed_at = merged_at
        pull = {
            "number": number,
            "state": "closed" if closed_at else "open",
            "title": title or f"PR {number}",
            "user": {"login": author, "type": "Bot" if author != "octocat" else "User"},
            "head": {"ref": head_ref or f"copilot/task-{number}"},
            "base": {"ref": "main"},
            "created_at": iso(created_at),
            "updated_at": iso(updated_at or closed_at or created_at),
            "closed_at": iso(closed_at) if closed_at else None,
            "merged_at": iso(merged_at) if merged_at else None,
            "html_url": f"https://github.com/{repo}/pull/{number}",
        }
        self._pulls[repo].append(pull)
        return pull

    # -- faults and observations ------------------------------------------------------------

    def inject(self, path: str, *faults: Fault, host: str = "api", method: str = "GET") -> None:
        """Queue faults for `method` requests whose path matches `path` (exact or fnmatch)."""
        key = host if method == "GET" else f"{host}:{method}"
        with self._lock:
            self._faults.setdefault((key, path), deque()).extend(faults)

    def add_issue(self, repo: str, title: str, body: str = "", *, labels: tuple[str, ...] = (),
                  state: str = "open", pull_request: bool = False) -> dict:
        """An existing issue (or, with `pull_request`, a PR the issues listing also shows)."""
        self.add_repo(repo)
        with self._lock:
            issues = self._issues.setdefault(repo, [])
            number = len(issues) + 1
            issue = {"number": number, "title": title, "body": body, "state": state,
                     "labels": [{"name": n} for n in labels],
                     "html_url": f"https://github.com/{repo}/issues/{number}"}
            if pull_request:
                issue["pull_request"] = {"url": f"{self.api_url}/repos/{repo}/pulls/{number}"}
            issues.append(issue)
            return issue

    def add_billing(self, account: str, day: str, items: list[dict], *,
                    kind: str = "organizations", endpoint: str = "ai_credit") -> None:
        """Usage items the billing API answers for `account` on `day` (YYYY-MM-DD)."""
        with self._lock:
            self._billing.setdefault((kind, account, endpoint, day), []).extend(items)

    def _answer_billing(self, path: str, parts: list[str],
                        query: dict[str, list[str]], headers: dict) -> _Answer | None:
        if (len(parts) != 6 or parts[0] not in ("organizations", "enterprises", "users")
                or parts[2:4] != ["settings", "billing"] or parts[5] != "usage"):
            return None
        if headers.get("x-github-api-version") != "2026-03-10":
            return self._json(400, {"message": "Unsupported API version"})
        kind, account, endpoint = parts[0], parts[1], parts[4]
        try:
            year, month, day = (int(query[k][0]) for k in ("year", "month", "day"))
        except (KeyError, ValueError):
            return self._json(422, {"message": "year, month and day are required"})
        key = (kind, account, endpoint, f"{year:04d}-{month:02d}-{day:02d}")
        with self._lock:
            known = any(k[:2] == (kind, account) for k in self._billing)
            items = list(self._billing.get(key, []))
        if not known:
            return self._json(404, {"message": "Not Found"})
        page = self._page(path, query, items, "usageItems")
        body = json.loads(page.body)
        del body["total_count"]
        period = {"year": year, "month": month, "day": day}
        if (kind, account, endpoint) in self.billing_month_only:
            del period["day"]
        body = {"timePeriod": period, kind.removesuffix("s"): account, **body}
        return _Answer(200, json.dumps(body).encode(), page.headers)

    def issues(self, repo: str) -> list[dict]:
        with self._lock:
            return [dict(i) for i in self._issues.get(repo, [])]

    def pending_faults(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._faults.values())

    def artifact_zip_path(self, repo: str, artifact_id: int) -> str:
        return f"/repos/{repo}/actions/artifacts/{artifact_id}/zip"

    def blob_path(self, artifact_id: int) -> str:
        return f"/blobs/{artifact_id}"

    def requests_to(self, host: str, path: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.host == host and (path is None or fnmatchcase(r.path, path))
            ]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    # -- serving ----------------------------------------------------------------------------

    def _take_fault(self, host: str, path: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get((host, path))
            if not queue:
                queue = next(
                    (
                        q
                        for (h, pattern), q in self._faults.items()
                        if h == host and q and fnmatchcase(path, pattern)
                    ),
                    None,
                )
            return queue.popleft() if queue else None

    def _enter(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _rate_headers(self) -> dict[str, str]:
        with self._lock:
            self.rate_remaining = max(0, self.rate_remaining - 1)
            remaining = self.rate_remaining
        reset = self.rate_limit_reset
        if reset is None:
            reset = time.time() + 3600
        return {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(int(reset)),
            "x-ratelimit-used": str(self.rate_limit - remaining),
            "x-ratelimit-resource": "core",
        }

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> _Answer:
        return _Answer(
            status,
            json.dumps(data).encode(),
            {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )

    def _issues_api(self, method: str, path: str, repo: str, rest: list[str],
                    query: dict[str, list[str]], body: Any) -> _Answer | None:
        if rest[:1] != ["issues"] or len(rest) > 2:
            return None
        if method == "GET" and len(rest) == 1:
            label = query.get("labels", [None])[0]
            state = query.get("state", ["open"])[0]
            with self._lock:
                items = [dict(i) for i in self._issues.get(repo, [])
                         if (label is None or label in {x["name"] for x in i["labels"]})
                         and (state == "all" or i["state"] == state)]
            items.sort(key=lambda i: -i["number"])  # newest first, as GitHub lists them
            return self._page(path, query, items, None)
        if method in ("POST", "PATCH") and not self.issues_writable:
            return self._json(403, {"message": "Resource not accessible by integration"})
        if method == "POST" and len(rest) == 1:
            if not isinstance(body, dict) or not body.get("title"):
                return self._json(422, {"message": "Validation Failed"})
            issue = self.add_issue(repo, body["title"], body.get("body") or "",
                                   labels=tuple(body.get("labels") or ()))
            return self._json(201, issue)
        if method == "PATCH" and len(rest) == 2:
            with self._lock:
                found = [i for i in self._issues.get(repo, []) if str(i["number"]) == rest[1]]
                if not found:
                    return self._json(404, {"message": "Not Found"})
                for key in ("title", "body", "state", "state_reason"):
                    if isinstance(body, dict) and key in body:
                        found[0][key] = body[key]
                return self._json(200, dict(found[0]))
        return None

    def _answer_api(self, path: str, query: dict[str, list[str]], headers: dict,
                    method: str = "GET", body: Any = None) -> _Answer:
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return self._json(401, {"message": "Bad credentials"})
        parts = path.strip("/").split("/")
        if parts == ["rate_limit"]:
            core = {
                "limit": self.rate_limit,
                "remaining": self.rate_remaining,
                "reset": int(self.rate_limit_reset or time.time() + 3600),
            }
            return self._json(200, {"resources": {"core": core}, "rate": core})
        billing = self._answer_billing(path, parts, query, headers) if method == "GET" else None
        if billing is not None:
            return billing
        if len(parts) < 4 or parts[0] != "repos":
            return self._json(404, {"message": "Not Found"})
        repo = f"{parts[1]}/{parts[2]}"
        if repo not in self._runs:
            return self._json(404, {"message": "Not Found"})
        rest = parts[3:]
        issues = self._issues_api(method, path, repo, rest, query, body)
        if issues is not None:
            return issues
        if method != "GET":
            return self._json(404, {"message": "Not Found"})
        if rest == ["actions", "runs"]:
            return self._list_runs(path, repo, query)
        if len(rest) == 4 and rest[:2] == ["actions", "runs"] and rest[3] == "artifacts":
            return self._list_artifacts(path, repo, int(rest[2]), query)
        if len(rest) == 4 and rest[:2] == ["actions", "artifacts"] and rest[3] == "zip":
            return self._artifact_redirect(repo, int(rest[2]))
        if rest == ["pulls"]:
            field = "updated_at" if query.get("sort", ["created"])[0] == "updated" else "created_at"
            pulls = sorted(self._pulls[repo], key=lambda p: (p[field], p["number"]))
            if query.get("direction", ["desc"])[0] == "desc":
                pulls.reverse()
            return self._page(path, query, pulls, None)
        return self._json(404, {"message": "Not Found"})

    def _page(
        self,
        path: str,
        query: dict[str, list[str]],
        items: list[dict],
        key: str | None,
        *,
        total: int | None = None,
    ) -> _Answer:
        per_page = max(1, min(100, int(query.get("per_page", ["30"])[0])))
        page = max(1, int(query.get("page", ["1"])[0]))
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(items) // per_page))
        links = []

        def link(n: int, rel: str) -> str:
            params = {k: v[0] for k, v in query.items()}
            params["page"] = str(n)
            # an opaque cursor, so a client that builds page URLs by hand is caught
            params["cursor"] = hashlib.sha256(f"{path}:{n}".encode()).hexdigest()[:12]
            return f'<{self.api_url}{path}?{urlencode(params)}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        headers = {"Link": ", ".join(links)} if links else {}
        body: Any = chunk if key is None else {"total_count": total, key: chunk}
        return self._json(200, body, headers)

    def _list_runs(self, path: str, repo: str, query: dict[str, list[str]]) -> _Answer:
        runs = self._runs[repo]
        created = query.get("created", [None])[0]
        if created:
            try:
                low, high = _created_bounds(created)
            except ValueError:
                return self._json(422, {"message": f"Invalid created filter {created!r}"})
            runs = [r for r in runs if low <= _parse_time(r["created_at"]) <= high]
        runs = sorted(runs, key=lambda r: (r["created_at"], r["id"]), reverse=True)
        # Like GitHub: the true total_count, but only the first `result_cap` results served.
        return self._page(path, query, runs[: self.result_cap], "workflow_runs", total=len(runs))

    def _artifact_json(self, a: _Artifact) -> dict:
        base = f"{self.api_url}/repos/{a.repo}/actions/artifacts/{a.id}" if self._servers else ""
        return {
            "id": a.id,
            "node_id": f"MDg6QXJ0aWZhY3Q{a.id}",
            "name": a.name,
            "size_in_bytes": len(a.data),
            "url": base,
            "archive_download_url": f"{base}/zip",
            "expired": a.expired,
            "created_at": a.created_at,
            "expires_at": "2026-04-01T00:00:00Z",
            "workflow_run": {"id": a.run_id},
        }

    def _list_artifacts(
        self, path: str, repo: str, run_id: int, query: dict[str, list[str]]
    ) -> _Answer:
        ids = self._run_artifacts.get((repo, run_id), [])
        items = [self._artifact_json(self._artifacts[i]) for i in ids]
        return self._page(path, query, items, "artifacts", total=len(items))

    def _sign(self, artifact_id: int, expires: int) -> str:
        message = f"{artifact_id}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _artifact_redirect(self, repo: str, artifact_id: int) -> _Answer:
        artifact = self._artifacts.get(artifact_id)
        if artifact is None or artifact.repo != repo:
            return self._json(404, {"message": "Not Found"})
        if artifact.expired or artifact.gone:
            return self._json(410, {"message": "Artifact has expired"})
        expires = int(time.time() + self.signed_url_ttl)
        query = urlencode({"se": expires, "sig": self._sign(artifact_id, expires)})
        location = f"{self.blob_url}/blobs/{artifact_id}?{query}"
        return _Answer(302, b"", {"Location": location})

    def _answer_blob(self, path: str, query: dict[str, list[str]]) -> _Answer:
        parts = path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "blobs" or not parts[1].isdigit():
            return _Answer(404, b"BlobNotFound")
        artifact = self._artifacts.get(int(parts[1]))
        try:
            expires = int(query["se"][0])
            signature = query["sig"][0]
        except (KeyError, ValueError):
            return _Answer(403, b"AuthenticationFailed")
        valid = hmac.compare_digest(signature, self._sign(int(parts[1]), expires))
        if artifact is None or not valid or expires < time.time():
            return _Answer(403, b"AuthenticationFailed: signature invalid or expired")
        return _Answer(200, artifact.data, {"Content-Type": "application/zip"})


def _created_bounds(value: str) -> tuple[dt.datetime, dt.datetime]:
    """`YYYY-MM-DD`, or `A..B` with dates or times, both ends inclusive."""

    def point(text: str, end: bool) -> dt.datetime:
        if "T" not in text:
            day = dt.date.fromisoformat(text)
            start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
            return start + dt.timedelta(days=1, seconds=-1) if end else start
        return _parse_time(text)

    if ".." in value:
        low, high = value.split("..", 1)
        return point(low, False), point(high, True)
    return point(value, False), point(value, True)


def _handler_for(fake: FakeGitHub, host: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes: without NODELAY, Nagle's algorithm and
            # the client's delayed ACK add ~40 ms to every answer
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def _handle(self, method: str) -> None:
            split = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake._enter(RecordedRequest(host, method, split.path, split.query, headers))
            self._left = False
            body = None
            if method != "GET":
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
            try:
                self._serve(split.path, parse_qs(split.query), headers, method, body)
            except (BrokenPipeError, ConnectionResetError, ValueError, OSError):
                self.close_connection = True
            finally:
                self._answered()

        def _answered(self) -> None:
            # No longer in flight once the answer starts: by then the client is still
            # waiting for it, so the fake never counts more in flight than the client has.
            if not self._left:
                self._left = True
                fake._leave()

        def _serve(self, path: str, query: dict[str, list[str]], headers: dict,
                   method: str = "GET", body: Any = None) -> None:
            if fake.latency:
                fake._stop.wait(fake.latency)
            fault = fake._take_fault(host if method == "GET" else f"{host}:{method}", path)
            if fault is not None and fault.kind == "reset":
                self._answered()
                self.close_connection = True
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                return
            if fault is not None and fault.kind == "close":
                self._answered()
                self.close_connection = True
                return
            if fault is not None and fault.kind == "slow":
                fake._stop.wait(fault.seconds)
            if fault is not None and fault.kind == "http":
                answer = _Answer(fault.status, fault.body, dict(fault.headers))
                answer.headers.setdefault("Content-Type", "application/json; charset=utf-8")
            elif host == "api":
                answer = fake._answer_api(path, query, headers, method, body)
                if fault is not None and fault.kind == "after":  # done, but the answer is lost
                    answer = _Answer(fault.status, fault.body,
                                     {"Content-Type": "application/json; charset=utf-8"})
            else:
                answer = fake._answer_blob(path, query)
            if host == "api":
                answer.headers = {**fake._rate_headers(), **answer.headers}
            self._answered()  # headers are buffered until end_headers(): nothing sent yet
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if fault is not None and fault.kind == "no_length":
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer.body)
                self.close_connection = True
                return
            if fault is not None and fault.kind == "truncated":
                self.send_header("Content-Length", str(max(len(answer.body), 16)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer.body[: len(answer.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

    return Handler
