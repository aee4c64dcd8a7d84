"""The PromptBreeder genome (Fernando et al. 2023): units of task prompts bred by LLM mutation operators.

kind.py (registry entry) task.py (task folders, fitness suites) unit.py genome.py (PromptGenome)
mutation.py (runs the operators) operators/ (one `.lmql` query each, in queries/) evaluator.py (fitness
queries) scoring.py split.py report.py (held-out comparison against the baselines).
"""
