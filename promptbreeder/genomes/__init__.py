"""Genome kinds: what a unit of the population is and how it is created (see base.py)."""
