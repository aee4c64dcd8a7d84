"""The text and code genomes: one candidate text or program improved by the LLM from its score and
feedback (llm_optimize-style). kind.py (registry entries) task.py (task folders) genome.py (TextGenome);
code candidates run only in `promptbreeder.sandbox`."""
