"""The one partitions definition: UTC days, the day a run was created."""

import dagster as dg

# end_offset=1 makes today a valid partition, so a partial day can be materialized and then
# re-materialized once it is complete (a run belongs to the day it was created).
daily_partitions = dg.DailyPartitionsDefinition(
    start_date="2025-01-01", timezone="UTC", end_offset=1
)
