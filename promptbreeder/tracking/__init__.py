"""Trackers: where a run reports progress (console bar, wandb). See base.py for the contract."""
