"""Our engine on a Hugging Face model: batched, KV-cached generate and score (engine.py), the rows it
generates (rows.py), states reused across calls (prefix_cache.py, kv_cache.py) and per-row sampling
(sampling.py)."""
