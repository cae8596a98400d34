"""What a GitHub failure looks like to callers, and how its message is made safe to show.

The typed errors let callers tell "skip this one" (gone, too large, not found) from "stop
everything" (a refused token). Every message is built with the helpers below, so it carries
URLs without their query string (signed blob URLs hold their signature there), and any text
that comes back from a server is scrubbed of the token before it is shown.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit, urlunsplit

_QUERY_RE = re.compile(r"\?[^\s'\")>]*")


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


def _scrub(text: str, token: str) -> str:
    """`text` with every occurrence of `token` replaced by `***`."""
    return text.replace(token, "***") if token else text


def _describe(exc: BaseException) -> str:
    """`TypeName: message` with query strings (signatures) removed."""
    text = _QUERY_RE.sub("?...", str(exc))
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
