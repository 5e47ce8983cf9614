"""Building blocks every job shares: the Spark session, the job wrapper, file listing, warehouse writes,
flagging and LSH matching, the read-only guard and run reports."""
