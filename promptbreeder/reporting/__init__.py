"""Reports of a run folder: `promptbreeder report RUN_DIR` writes an HTML page and its figures.

load.py reads the folder into plain data (never writing to it), analysis.py computes what is shown,
figures.py draws the PNGs (also sent to wandb at the end of a run), html.py writes the page and
command.py is the subcommand.
"""
