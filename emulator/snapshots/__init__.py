"""Snapshots to return to: `mwaa-local snapshot save|restore|list|delete`. A snapshot holds the
whole environment: the metadata database (pg_dump), the bucket's objects with all their
versions, and its folders (state with the definition's records and secrets, DAGs, task logs).

bucket_plan decides (pure) how to bring the bucket back; bucket carries it out; store keeps
the snapshot folders; flow runs save and restore against a runtime.
"""
