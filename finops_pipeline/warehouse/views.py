"""Views answering the usual questions without a join (DESIGN section 7)."""

VIEWS = {
    "v_pull_requests_current": """
        -- Each Copilot pull request once, in its latest observed state.
        SELECT * FROM fact_pull_requests
        QUALIFY row_number() OVER (PARTITION BY repo, number
                                   ORDER BY updated_at DESC NULLS LAST, day DESC) = 1
    """,
    "v_run_pull_requests": """
        -- Runs linked to the Copilot coding-agent pull request of their head branch.
        SELECT r.day, r.repo, r.workflow, r.run_id, r.run_attempt, r.head_branch,
               r.conclusion, p.number AS pr_number, p.state AS pr_state,
               p.created_at AS pr_created_at, p.merged_at AS pr_merged_at
        FROM fact_workflow_runs r
        JOIN v_pull_requests_current p ON p.repo = r.repo AND p.head_ref = r.head_branch
    """,
    "v_expensive_workflows": """
        -- Workflows by estimated cost over every loaded day (filter kpi_workflow_daily or
        -- kpi_app_workflow_daily by day for a period): GitHub workflows (kind 'github', runs
        -- and requests) and multi-agent app workflows (kind 'app', executions and calls).
        -- unpriced_requests > 0 means part of the cost is unknown.
        WITH all_workflows AS (
            SELECT 'github' AS kind, repo, workflow, day, runs, requests, total_tokens,
                   cost_usd, unpriced_requests, instrumented_runs AS priced_runs
            FROM kpi_workflow_daily
            UNION ALL
            SELECT 'app', NULL, workflow_name, day, executions, calls, total_tokens, cost_usd,
                   NULL, executions
            FROM kpi_app_workflow_daily)
        SELECT repo, workflow, count(DISTINCT day) AS days, sum(runs) AS runs,
               sum(requests) AS requests, sum(total_tokens) AS total_tokens,
               sum(cost_usd) AS cost_usd, sum(unpriced_requests) AS unpriced_requests,
               sum(cost_usd) / nullif(sum(priced_runs), 0) AS avg_cost_per_run,
               sum(cost_usd) / nullif(sum(sum(cost_usd)) OVER (), 0) AS share_of_cost, kind
        FROM all_workflows
        GROUP BY kind, repo, workflow
        ORDER BY cost_usd DESC NULLS LAST, total_tokens DESC
    """,
    "v_top_spending_agents": """
        -- Agents of multi-agent apps by cost over every loaded day, with the models they used.
        SELECT agent_name, count(DISTINCT day) AS days, sum(calls) AS calls,
               sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd,
               sum(unpriced_calls) AS unpriced_calls,
               string_agg(DISTINCT models_used, ', ' ORDER BY models_used) AS models_used,
               sum(cost_usd) / nullif(sum(sum(cost_usd)) OVER (), 0) AS share_of_cost
        FROM kpi_agent_daily
        GROUP BY agent_name
        ORDER BY cost_usd DESC NULLS LAST, total_tokens DESC
    """,
    "v_top_spending_users": """
        -- Users of multi-agent apps by cost over every loaded day.
        SELECT user_id, count(DISTINCT session_id) AS sessions,
               count(DISTINCT workflow_id) AS workflows, count(*) AS calls,
               sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd,
               sum(cost_usd) / nullif(sum(sum(cost_usd)) OVER (), 0) AS share_of_cost
        FROM fact_agent_calls
        WHERE user_id IS NOT NULL
        GROUP BY user_id
        ORDER BY cost_usd DESC NULLS LAST, total_tokens DESC
    """,
    "v_cost_attribution": """
        -- Cost and tokens per day by any dimension: (dimension, key) for agent calls (agent,
        -- model, user, session, workflow, organization) and GitHub workflows (team, repo,
        -- github_workflow, model).
        WITH calls AS (SELECT * FROM fact_agent_calls)
        SELECT day, 'agent' AS dimension, agent_name AS key, count(*) AS calls,
               sum(total_tokens) AS total_tokens, sum(cost_usd) AS cost_usd
        FROM calls GROUP BY ALL
        UNION ALL SELECT day, 'model', provider || ':' || model, count(*), sum(total_tokens),
               sum(cost_usd)
        FROM calls GROUP BY ALL
        UNION ALL SELECT day, 'user', user_id, count(*), sum(total_tokens), sum(cost_usd)
        FROM calls GROUP BY ALL
        UNION ALL SELECT day, 'session', session_id, count(*), sum(total_tokens),
               sum(cost_usd) FROM calls GROUP BY ALL
        UNION ALL SELECT day, 'workflow', workflow_name, count(*), sum(total_tokens),
               sum(cost_usd) FROM calls GROUP BY ALL
        UNION ALL SELECT day, 'organization', organization_id, count(*), sum(total_tokens),
               sum(cost_usd) FROM calls GROUP BY ALL
        UNION ALL SELECT day, 'team', team, tasks, total_tokens, cost_usd
        FROM showback_daily WHERE level = 'team'
        UNION ALL SELECT day, 'repo', repo, sum(requests), sum(total_tokens), sum(cost_usd)
        FROM kpi_workflow_daily GROUP BY ALL
        UNION ALL SELECT day, 'github_workflow', repo || ':' || workflow, requests,
               total_tokens, cost_usd FROM kpi_workflow_daily
        UNION ALL SELECT day, 'model', provider || ':' || model, requests, total_tokens,
               cost_usd FROM kpi_model_daily
    """,
    "v_top_caching_opportunities": """
        -- Where prompt caching would save the most: the latest day's enable_prompt_caching
        -- recommendations (7-day window), largest savings first, with their evidence.
        SELECT day, repo, workflow, provider, model, current_cost_usd, potential_savings_usd,
               json_extract(evidence, '$.cache_hit_rate')::DOUBLE AS cache_hit_rate,
               recommendation, evidence
        FROM recommendations
        WHERE kind = 'enable_prompt_caching'
          AND day = (SELECT max(day) FROM recommendations)
        ORDER BY potential_savings_usd DESC
    """,
}


# Table macros (name -> parameters and body): questions whose fast form nobody should have to
# spell out.
MACROS = {
    "run_requests": """(id) AS TABLE
        -- Every request of one run (all its attempts), in time order: `SELECT * FROM
        -- run_requests(run_id)`. The run's day comes from fact_workflow_runs (small), so the
        -- fact view opens only that day's lake file instead of one file per loaded day.
        SELECT * FROM fact_llm_requests
        WHERE run_id = id AND day IN (SELECT day FROM fact_workflow_runs WHERE run_id = id)
        ORDER BY "timestamp", request_id
    """,
}


def view_statements() -> list[str]:
    """The views, then the macros (which read them), as CREATE OR REPLACE statements."""
    views = [f"CREATE OR REPLACE VIEW {name} AS {sql.strip()}" for name, sql in VIEWS.items()]
    macros = [f"CREATE OR REPLACE MACRO {name}{sql.rstrip()}" for name, sql in MACROS.items()]
    return views + macros
