"""The demo scenario as data: engines, workflows, people and the deliberate flaws.

Read this file like a spec of the synthetic organisation. The generator (`runs`, `requests`,
`imperfections`) only interprets these tables; nothing here draws random numbers.

The order of every tuple below is part of the output: the generator walks them in order with
one `random.Random`, so reordering a row or a choice changes every byte after it. Append new
rows at the end, or accept a new reference output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# --- gh-aw and api-proxy versions -------------------------------------------------------------

# The first half of the period is written by an older gh-aw: run summaries carry the old CLI
# version and token-usage records have no `_schema`/`event` (nor reasoning or initiator fields).
CLI_VERSION_OLD = "v0.24.6"
CLI_VERSION_NEW = "v0.31.2"
NEW_SCHEMA = "token-usage/v0.26.0"
LOGS_LOCATION = ".github/aw/logs"  # `gh aw logs --json` reports it as `logs_location`
RUN_ID_START = 19_000_000_000  # run ids in the range GitHub hands out today


# --- engines ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Engine:
    """A gh-aw engine and the api-proxy provider its requests are logged under."""

    id: str  # aw_info.json `engine_id`
    name: str  # aw_info.json `engine_name`
    provider: str  # token-usage.jsonl `provider`


ENGINES = {e.id: e for e in (
    Engine("claude", "Claude Code", "anthropic"),
    Engine("copilot", "GitHub Copilot CLI", "copilot"),
    Engine("codex", "Codex", "openai"),
)}

# Providers whose `input_tokens` include cache reads (DESIGN section 5; the pipeline's
# `transforms.requests.PROVIDER_RULES` says the same). Anthropic's exclude cache reads and
# writes. Inclusive providers never report cache writes.
INCLUSIVE_PROVIDERS = ("openai", "copilot")


# --- workflows ------------------------------------------------------------------------------

# How a workflow's requests look (see `requests.py`):
#   agentic    a growing conversation that is cached turn after turn, compacted past 150k
#   small      many tiny requests on a stable cached prefix (Anthropic-style counts)
#   huge_input CI logs pasted into the prompt: input/output ratio above 100:1
#   no_cache   never any cache read or write, and not streamed
Profile = Literal["agentic", "small", "huge_input", "no_cache"]


@dataclass(frozen=True)
class Workflow:
    """One agentic workflow of the demo organisation and how its runs and requests look."""

    name: str
    repo: str
    engine: str  # a key of ENGINES
    models: tuple[tuple[str, float], ...]  # main model of a run, by weight
    profile: Profile
    event: str
    runs_start: tuple[int, int]  # runs a day at the start of the period (min, max)
    runs_end: tuple[int, int]  # ... and at its end (equal to runs_start unless growing)
    requests_start: tuple[int, int]  # requests a run at the start of the period
    requests_end: tuple[int, int]
    instrumented_from: float | None = 0.0  # fraction of the period; None: never instrumented
    cron_hours: tuple[int, ...] = ()  # scheduled workflows: one run per hour listed
    side_model: str | None = None  # Claude Code's small helper requests
    titles: tuple[str, ...] = ()  # a run's title, drawn; empty: the workflow's name
    actor: str | None = None  # who every run is by; None: one of DEVELOPERS, drawn
    # A run's head branch: drawn from `branches`, else a fresh `<fix_branch_prefix><issue>`
    # branch, else `main`.
    branches: tuple[str, ...] = ()
    fix_branch_prefix: str | None = None

    @property
    def path(self) -> str:
        return f".github/workflows/{self.name.lower().replace(' ', '-')}.lock.yml"


# People who trigger the non-scheduled, non-bot runs.
DEVELOPERS = ("octocat", "mona", "hubot", "lena-dev", "rpatel", "jkim")
# Scheduled runs are by whoever last edited the cron: the same account every time.
SCHEDULE_ACTOR = "octocat"

WORKFLOWS = (
    # Every 6 hours; the baseline a team watches for drift.
    Workflow("Smoke Claude", "acme/api", "claude", (("claude-sonnet-4-6", 1.0),), "agentic",
             "schedule", (4, 4), (4, 4), (12, 45), (12, 45), cron_hours=(1, 7, 13, 19),
             side_model="claude-haiku-4-5", actor=SCHEDULE_ACTOR),
    # Many tiny requests: most outputs are under 50 tokens.
    Workflow("Issue Triage", "acme/api", "claude", (("claude-haiku-4-5", 1.0),), "small",
             "issues", (4, 7), (4, 7), (25, 60), (25, 60),
             titles=("Login fails with SSO", "Flaky test in payments", "Add dark mode",
                     "500 on /v2/orders", "Docs: typo in README")),
    # Copilot in front of two vendors: the model name decides the price.
    Workflow("PR Reviewer", "acme/api", "copilot",
             (("claude-sonnet-4.6", 0.7), ("gpt-5", 0.3)), "agentic", "pull_request",
             (3, 5), (3, 5), (12, 40), (12, 40),
             titles=("Refactor auth middleware", "Bump polars", "Add rate limiting",
                     "Fix N+1 query in orders"),
             branches=("feature/rate-limit", "fix/orders-n-plus-1", "deps/polars")),
    # Input/output ratio above 100:1.
    Workflow("CI Doctor", "acme/web", "copilot", (("gpt-5", 0.6), ("gpt-4.1", 0.4)),
             "huge_input", "workflow_run", (2, 4), (2, 4), (10, 35), (10, 35)),
    # Volume grows over the period: more runs a day and more requests a run.
    Workflow("Copilot SWE Agent", "acme/web", "copilot",
             (("gpt-5", 0.5), ("claude-sonnet-4.6", 0.5)), "agentic", "workflow_dispatch",
             (1, 2), (6, 8), (10, 25), (35, 60),
             titles=("Fix checkout button alignment", "Add e2e test for signup",
                     "Migrate to React 19", "Improve lighthouse score"),
             actor="Copilot", fix_branch_prefix="copilot/fix-"),
    # Never a cache hit.
    Workflow("Daily Plan", "acme/data", "codex", (("gpt-4.1-mini", 1.0),), "no_cache",
             "schedule", (1, 1), (1, 1), (5, 20), (5, 20), cron_hours=(6,),
             actor=SCHEDULE_ACTOR),
    # The api-proxy was switched on a third into the period: earlier runs have no token data.
    Workflow("Secret Digger", "acme/infra", "codex", (("gpt-5", 0.7), ("gpt-5-mini", 0.3)),
             "agentic", "schedule", (2, 2), (2, 2), (15, 45), (15, 45),
             instrumented_from=1 / 3, cron_hours=(3, 15), actor=SCHEDULE_ACTOR),
    # Never instrumented: only run-level estimates.
    Workflow("Docs Updater", "acme/data", "claude", (("claude-sonnet-4-6", 1.0),), "agentic",
             "push", (2, 3), (2, 3), (10, 30), (10, 30), instrumented_from=None,
             titles=("Update API reference", "docs: new ingestion guide",
                     "Merge pull request #88")),
    # Rare and expensive.
    Workflow("Deep Research", "acme/infra", "claude", (("claude-opus-4-1", 1.0),), "agentic",
             "workflow_dispatch", (0, 1), (0, 1), (25, 60), (25, 60),
             side_model="claude-haiku-4-5",
             titles=("Cost of our CI fleet", "Evaluate vector databases")),
)


# --- run outcomes -------------------------------------------------------------------------

# A run's conclusion: the first whose cumulative threshold the draw is below, else `success`.
CONCLUSION_THRESHOLDS = (("cancelled", 0.02), ("failure", 0.12))
RETRY_SHARE = 0.04  # successful runs that needed a second attempt
WARNING_COUNTS = (0, 0, 0, 1, 2, 3)  # a run's WarningCount, drawn
REQUEST_ERROR_SHARE = 0.02  # requests answered 429 or 500
ERROR_STATUSES = (429, 429, 500)  # rate limits are the common failure
# The last request of a failed run fails itself half of the time.
FAILED_RUN_LAST_REQUEST_ERROR_SHARE = 0.5


# --- deliberate flaws ---------------------------------------------------------------------

@dataclass(frozen=True)
class Imperfection:
    """A kind of broken token-usage.jsonl line and the real-world fault it imitates."""

    kind: str
    imitates: str


# Lines the quarantine must reject, `max(1, round(days / 15))` of each kind, in this order.
# Every flawed file gets exactly one flaw.
MALFORMED = (
    Imperfection("invalid_json", "a partial write, then the next record on a new line"),
    Imperfection("truncated_last_line", "the run was killed while the proxy was writing"),
    Imperfection("negative_tokens", "a subtraction that underflowed"),
    Imperfection("status_text", "a proxy error text where the HTTP status belongs"),
    Imperfection("missing_request_id", "a record of a request that never got an id"),
    Imperfection("cache_read_above_input",
                 "an inclusive provider reporting more cache reads than input"),
)
STATUS_TEXTS = ("error", "timeout", "ECONNRESET")
# Flaws the pipeline must tolerate rather than reject (applied after MALFORMED):
# `max(2, days // 6)` exact duplicate lines (the writer repeated a line), and one file
# with a UTF-8 BOM and CRLF line ends (written on Windows).
