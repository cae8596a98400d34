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
        -- Workflows by estimated cost over every loaded day (filter kpi_workflow_daily by
        -- day for a period). unpriced_requests > 0 means part of the cost is unknown.
        SELECT repo, workflow, count(DISTINCT day) AS days, sum(runs) AS runs,
               sum(requests) AS requests, sum(total_tokens) AS total_tokens,
               sum(cost_usd) AS cost_usd, sum(unpriced_requests) AS unpriced_requests,
               sum(cost_usd) / nullif(sum(instrumented_runs), 0) AS avg_cost_per_run,
               sum(cost_usd) / nullif(sum(sum(cost_usd)) OVER (), 0) AS share_of_cost
        FROM kpi_workflow_daily
        GROUP BY repo, workflow
        ORDER BY cost_usd DESC NULLS LAST, total_tokens DESC
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


def view_statements() -> list[str]:
    return [f"CREATE OR REPLACE VIEW {name} AS {sql.strip()}" for name, sql in VIEWS.items()]
