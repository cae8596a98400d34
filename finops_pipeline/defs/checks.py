"""After-the-fact SQL checks on the published warehouse."""

import dagster as dg

from finops_pipeline.defs.assets.warehouse import WAREHOUSE_KEYS
from finops_pipeline.defs.resources import FinopsConfig
from finops_pipeline.warehouse.access import WarehouseMissing, query

INGEST_LOG_BALANCES = "ingest_log_balances"


@dg.asset_check(asset=WAREHOUSE_KEYS["ingest_log"], name=INGEST_LOG_BALANCES, blocking=True,
                description="For every day, dataset and source: rows_in = valid + quarantined "
                "+ duplicate. A failure means rows were lost, which is a bug.")
def ingest_log_balances(finops: FinopsConfig) -> dg.AssetCheckResult:
    try:
        bad = query(finops.paths().warehouse, """
            SELECT day, dataset, source, rows_in, rows_valid, rows_quarantined, rows_duplicate
            FROM ingest_log
            WHERE rows_in <> rows_valid + rows_quarantined + rows_duplicate
            ORDER BY day, dataset, source""")
        days = query(finops.paths().warehouse, "SELECT count(DISTINCT day) AS n FROM ingest_log")
    except WarehouseMissing as exc:
        return dg.AssetCheckResult(passed=False, metadata={"error": str(exc)})
    return dg.AssetCheckResult(
        passed=bad.height == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"days_checked": int(days["n"][0]), "unbalanced_rows": bad.height},
    )
