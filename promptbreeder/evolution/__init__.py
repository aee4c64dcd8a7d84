"""The one GA engine every genome runs on: binary tournaments with elitism over a run store (breeder.py),
budgets and stop signals (stopping.py) and --dry-run projection (projection.py). Nothing here knows what
an individual is: genomes (`promptbreeder.genomes`) create, score, breed and report them."""

from promptbreeder.evolution.breeder import Breeder

__all__ = ["Breeder"]
