"""promptbreeder: evolutionary prompt breeding (PromptBreeder, Fernando et al. 2023) on LMQL."""

__version__ = "0.1.0"
