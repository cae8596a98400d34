"""Cost-saving recommendations with an estimated saving in USD, as one pure polars function.

Every kind looks at the 7 days ending on the recommendation's day D (D-6..D, summing the
window's rows per key) and is emitted on D when the key had rows in the window; budget
overruns look at D's month to date. The savings formulas (docs/metrics.md):

- `enable_prompt_caching` (workflow x model): cache_hit_rate = R / (I + R) below
  `cache_hit_rate_target` T, prompt tokens >= `cache_min_prompt_tokens` and a cache-read price
  below the input price: savings = max(0, T * (I + R) - R) * (input_mtok - cache_read_mtok)
  / 1e6 (uncached input moved to cache reads up to the target; the write premium not counted).
- `trim_prompt` (workflow x model): io_ratio = P / O above `io_ratio_max` M: tokens_cut =
  P - M * O; savings = prompt_cost * tokens_cut / P, prompt_cost = (I * input_mtok + R *
  cache_read_mtok + W * cache_write_mtok) / 1e6.
- `batch_small_requests` (workflow): run attempts with more than `small_requests_min_count`
  small requests (< `small_request_output_tokens` output tokens): savings =
  small_requests_cost_usd * (1 - 1 / `small_requests_batch_size`).
- `cheaper_model` (workflow x model): a model of `model_families.CHEAPER_MODEL`: savings =
  cost of the window's tokens at the model's prices - the same tokens at the cheaper model's.
- `fix_failing_workflow` (workflow): savings = the cost of failed run attempts.
- `budget_overrun` (showback level): savings = mtd_cost_usd - mtd_budget_usd.
- `instrument_billed_usage` (org): over the 7 days, the share of the organization's GitHub
  bill its telemetry's AI credits do not explain (reconciliation_daily) is above
  `unexplained_share_max` with at least `spend_increase_min_usd` unexplained. A visibility row:
  current_cost_usd is the unexplained amount, potential_savings_usd is null (instrumenting
  saves nothing by itself), and it ranks after every row with a saving.

The multi-agent apps' calls get the three model kinds per agent (scope `agent_model`, key
`agent:provider:model`, from `kpi_agent_model_daily`, the `agent` column set): prompt caching,
trimming what the agent is handed, and "this agent on a cheaper model" (seed 002), with the
same formulas.

I, R, W, O, P are the window's input, cache-read, cache-write, output and prompt tokens. Unit
prices are those of day D (`unit_price_table`, overrides included; flat base prices: a
long-context cliff cannot be told from daily sums): a saving is what changing things now would
save on that week's traffic. `current_cost_usd` is the key's cost over the window (budget: month
to date), and every saving is capped at it, so 0 < potential_savings_usd <= current_cost_usd
(null for the visibility kind).
Each row's saving assumes its own change alone; rows of one key do not add up.

Priority: `high` when savings >= 10 USD, or >= 1 USD and >= 25% of the current cost;
`medium` when savings >= 1 USD or >= 25% of the current cost; else `low`. Rank 1 is the
largest saving of the day (ties by kind, then key).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from finops_pipeline.config import FileConfig
from finops_pipeline.pricing import PRICE_COLUMNS, unit_price_table
from finops_pipeline.schemas.token_usage import TOKEN_BUCKETS
from finops_pipeline.transforms.model_families import cheaper_model_table, normalized_model
from finops_pipeline.transforms.readable import compact as _tokens
from finops_pipeline.transforms.readable import pct as _pct
from finops_pipeline.transforms.readable import usd as _usd

WINDOW_DAYS = 7
PRIORITY_HIGH_USD = 10.0
PRIORITY_MEDIUM_USD = 1.0
PRIORITY_SHARE = 0.25

KINDS = ("enable_prompt_caching", "trim_prompt", "batch_small_requests", "cheaper_model",
         "fix_failing_workflow", "budget_overrun", "instrument_billed_usage")
#: Kinds that show where money goes unseen rather than what a change saves: no savings figure
#: (null), ranked after every row that has one.
VISIBILITY_KINDS = ("instrument_billed_usage",)

RECOMMENDATIONS_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(), "kind": pl.String(), "scope": pl.String(), "key": pl.String(),
    "priority": pl.String(), "rank": pl.Int64(), "current_cost_usd": pl.Float64(),
    "potential_savings_usd": pl.Float64(), "recommendation": pl.String(),
    "evidence": pl.String(), "repo": pl.String(), "workflow": pl.String(),
    "provider": pl.String(), "model": pl.String(), "agent": pl.String(),
}

_MTOK = 1_000_000.0
_WM_KEYS = ("repo", "workflow", "provider", "model")
_AM_KEYS = ("agent", "provider", "model")
_c = pl.col


# --- formatting ---------------------------------------------------------------------------

def _sum_or_null(name: str) -> pl.Expr:
    """Sum that stays null (unknown) when every value is null, as the KPIs do."""
    return pl.when(_c(name).is_not_null().any()).then(_c(name).sum()).alias(name)


def _window_fields() -> list[pl.Expr]:
    return [(_c("day") - dt.timedelta(days=WINDOW_DAYS - 1)).alias("window_from"),
            _c("day").alias("window_to")]


# --- shared steps -------------------------------------------------------------------------

def _windowed(frame: pl.DataFrame, days: tuple[dt.date, dt.date]) -> pl.DataFrame:
    """Each row once for every output day D in `days` whose window D-6..D holds its day;
    `day` becomes D. Group by `day` and a key to get the window's sums."""
    first, last = days
    out = pl.date_ranges(
        pl.max_horizontal(_c("day"), pl.lit(first)),
        pl.min_horizontal(_c("day") + dt.timedelta(days=WINDOW_DAYS - 1), pl.lit(last)),
    )
    return (
        frame.with_columns(_c("day").cast(pl.Date))
        .filter(_c("day").is_not_null())
        .with_columns(out.alias("_out"))
        .explode("_out")
        .filter(_c("_out").is_not_null())
        .with_columns(_c("_out").alias("day"))
        .drop("_out")
    )


def _with_prices(frame: pl.DataFrame, model: str, prefix: str,
                 config: FileConfig) -> pl.DataFrame:
    """`frame` (provider, `model` column, day) with that model's unit prices on the day, as
    `{prefix}input_mtok` ... `{prefix}cache_write_mtok`."""
    keys = frame.select("provider", _c(model).alias("model"), "day")
    table = unit_price_table(keys, config.prices).select(
        "provider", _c("model").alias(model), "day",
        *[_c(p).alias(f"{prefix}{p}") for p in PRICE_COLUMNS],
    )
    return frame.join(table, on=["provider", model, "day"], how="left", nulls_equal=True)


def _tokens_cost(prefix: str) -> pl.Expr:
    """The window's four buckets at the `{prefix}*_mtok` prices, USD; null when a non-empty
    bucket has no price (an empty bucket costs 0 priced or not, as in pricing.cost_expr)."""
    total = pl.lit(0.0)
    for tokens, price in zip(TOKEN_BUCKETS, PRICE_COLUMNS, strict=True):
        tok = _c(tokens).fill_null(0)
        total = total + pl.when(tok == 0).then(pl.lit(0.0)) \
            .otherwise(tok.cast(pl.Float64) * _c(f"{prefix}{price}") / _MTOK)
    return pl.when(_c(f"{prefix}input_mtok").is_not_null()).then(total)


def _model_window(frame: pl.DataFrame, keys: tuple[str, ...], label: pl.Expr,
                  days: tuple[dt.date, dt.date], config: FileConfig) -> pl.DataFrame:
    """Window sums per (D, *keys) (keys end with provider, model) with the model's prices on
    D; `key` joins the keys with colons, `wf` (`label`) names the owner in messages."""
    ints = [*TOKEN_BUCKETS, "prompt_tokens"]
    rows = frame.select(
        "day", *[_c(k).cast(pl.String) for k in keys],
        *[_c(b).cast(pl.Int64) for b in ints], _c("cost_usd").cast(pl.Float64),
    )
    summed = (
        _windowed(rows, days)
        .group_by("day", *keys)
        .agg(*[_c(b).fill_null(0).sum().cast(pl.Int64) for b in ints],
             _sum_or_null("cost_usd"))
        .with_columns(
            pl.concat_str([_c(k).fill_null("") for k in keys], separator=":").alias("key"),
            label.alias("wf"),
            _c("cost_usd").alias("current_cost_usd"),
        )
    )
    return _with_prices(summed, "model", "", config)


def _workflow_model_window(frame: pl.DataFrame, days: tuple[dt.date, dt.date],
                           config: FileConfig) -> pl.DataFrame:
    """Window sums per (D, repo, workflow, provider, model) with the model's prices on D."""
    label = pl.format("{}:{}", _c("repo").fill_null(""), _c("workflow").fill_null(""))
    return _model_window(frame, _WM_KEYS, label, days, config)


def _agent_model_window(frame: pl.DataFrame, days: tuple[dt.date, dt.date],
                        config: FileConfig) -> pl.DataFrame:
    """Window sums per (D, agent_name, provider, model) of the multi-agent apps' calls."""
    label = pl.format("agent {}", _c("agent"))
    return _model_window(frame.rename({"agent_name": "agent"}), _AM_KEYS, label, days, config)


def _run_window(run_daily: pl.DataFrame, days: tuple[dt.date, dt.date],
                config: FileConfig) -> pl.DataFrame:
    """Window sums of run attempts per (D, repo, workflow)."""
    t = config.thresholds
    many_small = _c("small_requests") > t.small_requests_min_count
    rows = run_daily.select(
        "day", _c("repo").cast(pl.String), _c("workflow").cast(pl.String),
        _c("is_failed").cast(pl.Boolean).fill_null(False),
        _c("cost_usd").cast(pl.Float64),
        _c("small_requests").cast(pl.Int64).fill_null(0),
        _c("small_requests_cost_usd").cast(pl.Float64).fill_null(0.0),
    )
    return (
        _windowed(rows, days)
        .group_by("day", "repo", "workflow")
        .agg(
            pl.len().cast(pl.Int64).alias("run_attempts"),
            _sum_or_null("cost_usd"),
            _c("is_failed").sum().cast(pl.Int64).alias("failed_attempts"),
            _c("cost_usd").filter(_c("is_failed")).sum().alias("failed_cost_usd"),
            many_small.sum().cast(pl.Int64).alias("runs_with_small_requests"),
            _c("small_requests").filter(many_small).sum().cast(pl.Int64)
            .alias("small_requests"),
            _c("small_requests_cost_usd").filter(many_small).sum()
            .alias("small_requests_cost_usd"),
        )
        .with_columns(
            pl.format("{}:{}", _c("repo").fill_null(""), _c("workflow").fill_null(""))
            .alias("key"),
            _c("cost_usd").alias("current_cost_usd"),
            pl.lit(None, pl.String).alias("provider"),
            pl.lit(None, pl.String).alias("model"),
        )
    )


# --- the kinds ----------------------------------------------------------------------------

def _prompt_caching(wm: pl.DataFrame, config: FileConfig) -> pl.DataFrame:
    t = config.thresholds
    target = t.cache_hit_rate_target
    uncached_and_read = _c("input_tokens") + _c("cache_read_tokens")
    return (
        wm.with_columns(
            pl.when(uncached_and_read > 0)
            .then(_c("cache_read_tokens") / uncached_and_read).alias("cache_hit_rate"),
            pl.max_horizontal(pl.lit(0.0), target * uncached_and_read - _c("cache_read_tokens"))
            .alias("tokens_to_cache"),
            pl.lit(target).alias("target_hit_rate"),
        )
        .filter(
            (_c("cache_hit_rate") < target)
            & (_c("prompt_tokens") >= t.cache_min_prompt_tokens)
            & (_c("cache_read_mtok") < _c("input_mtok"))
        )
        .with_columns(
            (_c("tokens_to_cache") * (_c("input_mtok") - _c("cache_read_mtok")) / _MTOK)
            .alias("potential_savings_usd"),
        )
        .with_columns(
            pl.format(
                "Enable prompt caching for {} in {}: only {} of its {} input tokens were read "
                "from cache over the 7 days to {} (target {}). Moving {} uncached input tokens "
                "to cache reads (${}/Mtok instead of ${}/Mtok) would save about {} of {}; the "
                "cache-write premium is not counted.",
                "model", "wf", _pct(_c("cache_hit_rate")), _tokens(uncached_and_read), "day",
                _pct(_c("target_hit_rate")), _tokens(_c("tokens_to_cache")), "cache_read_mtok",
                "input_mtok", _usd(_c("potential_savings_usd")), _usd(_c("current_cost_usd")),
            ).alias("recommendation"),
            pl.struct(
                *_window_fields(), "input_tokens", "cache_read_tokens", "cache_write_tokens",
                "prompt_tokens", "cache_hit_rate", "target_hit_rate", "tokens_to_cache",
                "input_mtok", "cache_read_mtok",
            ).struct.json_encode().alias("evidence"),
        )
    )


def _trim_prompt(wm: pl.DataFrame, config: FileConfig) -> pl.DataFrame:
    io_max = config.thresholds.io_ratio_max
    prompt_cost = (
        _c("input_tokens") * _c("input_mtok") + _c("cache_read_tokens") * _c("cache_read_mtok")
        + _c("cache_write_tokens") * _c("cache_write_mtok")
    ) / _MTOK
    return (
        wm.filter(_c("output_tokens") > 0)
        .with_columns(
            (_c("prompt_tokens") / _c("output_tokens")).alias("io_ratio"),
            pl.lit(io_max).alias("io_ratio_max"),
            (_c("prompt_tokens") - io_max * _c("output_tokens")).alias("tokens_cut"),
            prompt_cost.alias("prompt_cost_usd"),
        )
        .filter(_c("io_ratio") > io_max)
        .with_columns(
            (_c("prompt_cost_usd") * _c("tokens_cut") / _c("prompt_tokens"))
            .alias("potential_savings_usd"),
        )
        .with_columns(
            pl.format(
                "Trim the system prompt, context or tool surface of {} on {}: {} prompt tokens "
                "for {} output tokens over the 7 days to {} (io_ratio {}, max {}). Cutting {} "
                "prompt tokens ({}) to reach the max would save about {} of the {} prompt cost.",
                "wf", "model", _tokens(_c("prompt_tokens")), _tokens(_c("output_tokens")), "day",
                _c("io_ratio").round(1), "io_ratio_max", _tokens(_c("tokens_cut")),
                _pct(_c("tokens_cut") / _c("prompt_tokens")), _usd(_c("potential_savings_usd")),
                _usd(_c("prompt_cost_usd")),
            ).alias("recommendation"),
            pl.struct(
                *_window_fields(), "prompt_tokens", "output_tokens", "io_ratio", "io_ratio_max",
                "tokens_cut", "input_tokens", "cache_read_tokens", "cache_write_tokens",
                "input_mtok", "cache_read_mtok", "cache_write_mtok", "prompt_cost_usd",
            ).struct.json_encode().alias("evidence"),
        )
    )


def _cheaper_model(wm: pl.DataFrame, config: FileConfig) -> pl.DataFrame:
    # Normalize each distinct spelling once, then join the mapping to the rows.
    families = (
        wm.select("model").unique()
        .with_columns(normalized_model(_c("model")).alias("normalized_model"))
        .join(cheaper_model_table(), on="normalized_model", how="inner")
        .select("model", "cheaper_model")
    )
    mapped = wm.join(families, on="model", how="inner")
    priced = _with_prices(mapped, "cheaper_model", "cheaper_", config)
    return (
        priced.with_columns(
            _tokens_cost("").alias("cost_at_current_prices_usd"),
            _tokens_cost("cheaper_").alias("cost_at_cheaper_prices_usd"),
        )
        .with_columns(
            (_c("cost_at_current_prices_usd") - _c("cost_at_cheaper_prices_usd"))
            .alias("potential_savings_usd"),
        )
        .filter(_c("potential_savings_usd") > 0)
        .with_columns(
            pl.format(
                "Try {} instead of {} in {} (same vendor and family, cheaper): the 7 days' "
                "tokens to {} would cost {} instead of {} at the prices of {}, saving about {}. "
                "Check the output quality on {} before switching.",
                "cheaper_model", "model", "wf", "day", _usd(_c("cost_at_cheaper_prices_usd")),
                _usd(_c("cost_at_current_prices_usd")), "day",
                _usd(_c("potential_savings_usd")), "cheaper_model",
            ).alias("recommendation"),
            pl.struct(
                *_window_fields(), "cheaper_model", *TOKEN_BUCKETS, *PRICE_COLUMNS,
                *[f"cheaper_{p}" for p in PRICE_COLUMNS], "cost_at_current_prices_usd",
                "cost_at_cheaper_prices_usd",
            ).struct.json_encode().alias("evidence"),
        )
    )


def _batch_small_requests(runs: pl.DataFrame, config: FileConfig) -> pl.DataFrame:
    t = config.thresholds
    b = t.small_requests_batch_size
    return (
        runs.filter(_c("runs_with_small_requests") > 0)
        .with_columns(
            pl.lit(b).alias("batch_size"),
            pl.lit(t.small_request_output_tokens).alias("small_request_output_tokens"),
            pl.lit(t.small_requests_min_count).alias("small_requests_min_count"),
            (_c("small_requests_cost_usd") * (1.0 - 1.0 / b)).alias("potential_savings_usd"),
        )
        .with_columns(
            pl.format(
                "Batch the small requests of {}: {} run attempt(s) in the 7 days to {} made more "
                "than {} requests each with < {} output tokens, {} such requests costing {}. "
                "Sending them {} at a time (one request with several questions, or fewer "
                "agent turns) would save about {} of the workflow's {}.",
                "key", "runs_with_small_requests", "day", "small_requests_min_count",
                "small_request_output_tokens", _tokens(_c("small_requests")),
                _usd(_c("small_requests_cost_usd")), "batch_size",
                _usd(_c("potential_savings_usd")), _usd(_c("current_cost_usd")),
            ).alias("recommendation"),
            pl.struct(
                *_window_fields(), "runs_with_small_requests", "small_requests",
                "small_requests_cost_usd", "small_request_output_tokens",
                "small_requests_min_count", "batch_size", "run_attempts",
            ).struct.json_encode().alias("evidence"),
        )
    )


def _fix_failing(runs: pl.DataFrame) -> pl.DataFrame:
    return (
        runs.filter(_c("failed_cost_usd") > 0)
        .with_columns(_c("failed_cost_usd").alias("potential_savings_usd"))
        .with_columns(
            pl.format(
                "Fix the failing runs of {}: {} of its {} run attempts in the 7 days to {} "
                "failed (failure, timeout, cancelled or startup failure) and spent {} ({} of "
                "the workflow's {}) on work that did not complete.",
                "key", "failed_attempts", "run_attempts", "day", _usd(_c("failed_cost_usd")),
                _pct(_c("failed_cost_usd") / _c("current_cost_usd")),
                _usd(_c("current_cost_usd")),
            ).alias("recommendation"),
            pl.struct(
                *_window_fields(), "failed_attempts", "run_attempts", "failed_cost_usd",
            ).struct.json_encode().alias("evidence"),
        )
    )


def _budget_overrun(showback: pl.DataFrame, days: tuple[dt.date, dt.date]) -> pl.DataFrame:
    level = _c("level")
    return (
        showback.select(
            _c("day").cast(pl.Date), level.cast(pl.String), _c("team").cast(pl.String),
            _c("repo").cast(pl.String),
            *[_c(k).cast(pl.Float64) for k in ("cost_usd", "budget_usd", "mtd_cost_usd",
                                               "mtd_budget_usd")],
        )
        .filter(_c("day").is_between(*days), level.is_in(["repo", "team", "total"]),
                _c("mtd_budget_usd").is_not_null(),
                _c("mtd_cost_usd") > _c("mtd_budget_usd"))
        .with_columns(
            level.alias("scope"),
            pl.when(level == "repo").then(_c("repo")).when(level == "team").then(_c("team"))
            .otherwise(pl.lit("*")).alias("key"),
            _c("mtd_cost_usd").alias("current_cost_usd"),
            (_c("mtd_cost_usd") - _c("mtd_budget_usd")).alias("overrun_usd"),
            _c("day").dt.month_start().alias("month_from"),
            pl.lit(None, pl.String).alias("provider"),
            pl.lit(None, pl.String).alias("model"),
        )
        .with_columns(
            _c("overrun_usd").alias("potential_savings_usd"),
            pl.when(level == "total").then(pl.lit("The whole estate"))
            .otherwise(pl.format("{} {}", pl.when(level == "team").then(pl.lit("Team"))
                                 .otherwise(pl.lit("Repo")), "key")).alias("_who"),
        )
        .with_columns(
            pl.format(
                "{} is over budget for the month to {}: {} spent against a budget of {} so far "
                "({} over, {} of the budget). Act on it: cap spend, move work to cheaper "
                "models, or pause low-value workflows.",
                "_who", "day", _usd(_c("mtd_cost_usd")), _usd(_c("mtd_budget_usd")),
                _usd(_c("overrun_usd")), _pct(_c("overrun_usd") / _c("mtd_budget_usd")),
            ).alias("recommendation"),
            pl.struct(
                "month_from", _c("day").alias("month_to"), "mtd_cost_usd", "mtd_budget_usd",
                "overrun_usd", "cost_usd", "budget_usd",
            ).struct.json_encode().alias("evidence"),
        )
    )


def _instrument_billed(reconciliation: pl.DataFrame, days: tuple[dt.date, dt.date],
                       config: FileConfig) -> pl.DataFrame:
    """Organizations whose 7 days of GitHub bill their telemetry largely does not explain."""
    t = config.thresholds
    rows = reconciliation.select(
        _c("day").cast(pl.Date), _c("org").cast(pl.String), _c("model").cast(pl.String),
        _c("billed_net_usd").cast(pl.Float64), _c("unexplained_usd").cast(pl.Float64))
    window = _windowed(rows, days).group_by("day", "org").agg(
        _c("billed_net_usd").sum(), _c("unexplained_usd").sum(),
        _c("model").get(_c("unexplained_usd").arg_max()).alias("top_model"),
        _c("unexplained_usd").max().alias("top_model_usd"),
    ).with_columns(
        pl.when(_c("billed_net_usd") > 0).then(_c("unexplained_usd") / _c("billed_net_usd"))
        .alias("unexplained_share"),
        pl.lit(t.unexplained_share_max).alias("unexplained_share_max"),
    )
    return (
        window.filter(_c("unexplained_share") > t.unexplained_share_max,
                      _c("unexplained_usd") >= t.spend_increase_min_usd)
        .with_columns(
            _c("org").alias("key"),
            _c("unexplained_usd").alias("current_cost_usd"),
            pl.lit(None, pl.Float64).alias("potential_savings_usd"),
            pl.lit(None, pl.String).alias("provider"),
            pl.lit(None, pl.String).alias("model"),
            pl.format(
                "Instrument what GitHub bills {} without telemetry: {} of its {} bill over the "
                "7 days to {} ({}) is not explained by the AI credits of its recorded requests, "
                "most for {} ({}). Enable the api-proxy's token usage in the remaining "
                "workflows (or account for Copilot use outside Actions) to see where it goes "
                "and what to save.",
                "org", _usd(_c("unexplained_usd")), _usd(_c("billed_net_usd")), "day",
                _pct(_c("unexplained_share")), "top_model", _usd(_c("top_model_usd")),
            ).alias("recommendation"),
            pl.struct(*_window_fields(), "billed_net_usd", "unexplained_usd",
                      "unexplained_share", "unexplained_share_max", "top_model",
                      "top_model_usd").struct.json_encode().alias("evidence"),
        )
    )


def _finish(frame: pl.DataFrame, kind: str, scope: str | None) -> pl.DataFrame:
    """The common columns of one kind's rows; savings capped at the current cost. repo and
    workflow are filled where the key names them (a workflow name may hold a colon)."""
    def named(column: str) -> pl.Expr:
        if column not in frame.columns:
            return pl.lit(None, pl.String).alias(column)
        return pl.when(_c(column) != "*").then(_c(column)).cast(pl.String).alias(column)

    return frame.select(
        "day", pl.lit(kind).alias("kind"),
        (pl.lit(scope) if scope is not None else _c("scope")).cast(pl.String).alias("scope"),
        "key", _c("current_cost_usd").cast(pl.Float64),
        pl.when(_c("current_cost_usd").is_not_null() & _c("potential_savings_usd").is_not_null())
        .then(pl.min_horizontal("potential_savings_usd", "current_cost_usd"))
        .cast(pl.Float64).alias("potential_savings_usd"),
        "recommendation", "evidence", named("repo"), named("workflow"),
        _c("provider").cast(pl.String), _c("model").cast(pl.String), named("agent"),
    )


def _priority() -> pl.Expr:
    # A visibility row has no saving: its unseen spend ranks it, as a saving would.
    savings = pl.coalesce("potential_savings_usd", "current_cost_usd")
    share = pl.when(_c("potential_savings_usd").is_null()).then(pl.lit(1.0)) \
        .otherwise(_c("potential_savings_usd") / _c("current_cost_usd"))
    return (
        pl.when((savings >= PRIORITY_HIGH_USD)
                | ((savings >= PRIORITY_MEDIUM_USD) & (share >= PRIORITY_SHARE)))
        .then(pl.lit("high"))
        .when((savings >= PRIORITY_MEDIUM_USD) | (share >= PRIORITY_SHARE))
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


def recommendations(workflow_model_daily: pl.DataFrame, run_daily: pl.DataFrame,
                    showback: pl.DataFrame, agent_model_daily: pl.DataFrame,
                    reconciliation: pl.DataFrame, *,
                    days: tuple[dt.date, dt.date], config: FileConfig) -> pl.DataFrame:
    """Recommendations of the days `days[0]..days[1]` (RECOMMENDATIONS_SCHEMA), by day, rank.

    Args:
        workflow_model_daily: `kpi_workflow_model_daily` rows of days[0] - 6 .. days[1].
        agent_model_daily: `kpi_agent_model_daily` rows of the same days (the agent kinds).
        reconciliation: `reconciliation_daily` rows of the same days (instrument_billed_usage).
        run_daily: `kpi_run_daily` rows (one per run attempt) of the same days.
        showback: `showback_daily` rows (level, team, repo, mtd_cost_usd, mtd_budget_usd, ...).
        days: the first and last day to emit, inclusive.
        config: thresholds and the price overrides (`prices:`).
    """
    wm = _workflow_model_window(workflow_model_daily, days, config)
    runs = _run_window(run_daily, days, config)
    am = _agent_model_window(agent_model_daily, days, config)
    parts = [
        _finish(_prompt_caching(am, config), "enable_prompt_caching", "agent_model"),
        _finish(_trim_prompt(am, config), "trim_prompt", "agent_model"),
        _finish(_cheaper_model(am, config), "cheaper_model", "agent_model"),
        _finish(_prompt_caching(wm, config), "enable_prompt_caching", "workflow_model"),
        _finish(_trim_prompt(wm, config), "trim_prompt", "workflow_model"),
        _finish(_batch_small_requests(runs, config), "batch_small_requests", "workflow"),
        _finish(_cheaper_model(wm, config), "cheaper_model", "workflow_model"),
        _finish(_fix_failing(runs), "fix_failing_workflow", "workflow"),
        _finish(_budget_overrun(showback, days), "budget_overrun", None),
        _finish(_instrument_billed(reconciliation, days, config), "instrument_billed_usage",
                "org"),
    ]
    min_savings = config.thresholds.recommendation_min_savings_usd
    saves = (_c("potential_savings_usd") > 0) & (_c("potential_savings_usd") >= min_savings)
    return (
        pl.concat(parts, how="vertical")
        .filter(saves | _c("kind").is_in(VISIBILITY_KINDS), _c("day").is_between(*days))
        .with_columns(_priority().alias("priority"))
        .sort(["day", "potential_savings_usd", "current_cost_usd", "kind", "key"],
              descending=[False, True, True, False, False], nulls_last=True)
        .with_columns((pl.int_range(pl.len()).over("day") + 1).cast(pl.Int64).alias("rank"))
        .select(list(RECOMMENDATIONS_SCHEMA))
        .cast(RECOMMENDATIONS_SCHEMA)
    )
