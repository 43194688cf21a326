"""Stage 8, sinks: Parquet tables with feature metadata, run.json, and resume.

``parquet``  shard keys and the Parquet files of one shard
``resume``   fingerprints of items and settings, what an earlier run completed
``beam``     WriteTables, WriteRunSummary, Fingerprint, CarryOver
"""
