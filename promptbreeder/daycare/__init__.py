"""Day care folders: the prompts, thinking styles, tasks and fitness suites a run breeds from."""

from promptbreeder.daycare.loader import (
    DayCare,
    Prompt,
    Task,
    load_day_care,
    load_task_folder,
    package_query_names,
    package_query_text,
)

__all__ = [
    "DayCare",
    "Prompt",
    "Task",
    "load_day_care",
    "load_task_folder",
    "package_query_names",
    "package_query_text",
]
