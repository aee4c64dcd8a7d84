"""LMQL glue: LMQLBackend / LMQLLocalBackend (backend.py), several `lmql serve-model` servers
(servers.py), the in-process LMTP client that batches concurrent queries onto our engine
(lmtp_inprocess.py) and the patches to LMQL 0.7.3 (fixes.py)."""
