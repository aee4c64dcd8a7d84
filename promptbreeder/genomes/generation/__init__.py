"""The generation genome (llmsearch-style): decoding parameters of a prompt task, searched by the HPO
genome's engine. kind.py (registry entry) genome.py (the search space and the fitness objective)."""
