"""promptbreeder: evolutionary prompt breeding (PromptBreeder, Fernando et al. 2023) on LMQL."""

__version__ = "0.1.0"


def optimize(*args, **kwargs):
    """LLM-guided optimisation of a text or program: see `promptbreeder.optimizer.optimize`."""
    from promptbreeder.optimizer import optimize as run

    return run(*args, **kwargs)
