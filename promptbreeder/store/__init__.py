"""Where runs live: versioned snapshots, an event log and the cache of model calls (see run_store.py)."""
