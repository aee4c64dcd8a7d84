"""The evolution engine: binary-tournament PromptBreeder over a run store (see breeder.py)."""

from promptbreeder.engine.breeder import Breeder
from promptbreeder.engine.mutation import OperatorSource
from promptbreeder.engine.report import format_report
from promptbreeder.engine.split import train_heldout_split

__all__ = ["Breeder", "OperatorSource", "format_report", "train_heldout_split"]
