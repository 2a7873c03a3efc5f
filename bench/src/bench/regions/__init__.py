"""Scenarios of the two-region local gateway: spill-over against offered load, and region loss."""
