"""Statistics over request records: percentiles, SLO goodput, run summaries, prefix-cache scrapes."""
