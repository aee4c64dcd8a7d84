"""promptbreeder: evolutionary prompt breeding (PromptBreeder, Fernando et al. 2023) on LMQL."""

__version__ = "0.1.0"


def optimize(*args, **kwargs):
    """LLM-guided optimisation of a text or program: see `promptbreeder.optimizer.optimize`."""
    from promptbreeder.optimizer import optimize as run

    return run(*args, **kwargs)


def get_llm_scorer(*args, **kwargs):
    """llm_optimize's rubric scorer for `optimize`: see `promptbreeder.scorers.llm_scorer.get_llm_scorer`."""
    from promptbreeder.scorers.llm_scorer import get_llm_scorer as make

    return make(*args, **kwargs)
