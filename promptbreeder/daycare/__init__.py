"""Day care folders: the prompts, thinking styles, query overrides and tasks a run breeds from."""

from promptbreeder.daycare.loader import DayCare, Prompt, load_day_care, load_task_folder

__all__ = ["DayCare", "Prompt", "load_day_care", "load_task_folder"]
