"""`promptbreeder [breed] [--config NAME] [--FLAG VALUE ...]`: breed prompts for a task (the default command).

`main(argv)` parses the flags, resolves the config (defaults < --config YAML < flags, see
`promptbreeder.config.resolve_config`) and runs `promptbreeder.app.run`; it returns the run's exit code
and raises typed errors, which `cli.main` turns into messages.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from promptbreeder import __version__
from promptbreeder.commands import command_list
from promptbreeder.config import RunConfig, resolve_config, setting_fields, setting_type

# The default command, so its usage is `promptbreeder [flags]` and its errors read "promptbreeder: error:"
# whether or not `breed` was typed.
PROG = "promptbreeder"

# Presentation only: which heading each setting's flag appears under in --help.
FLAG_GROUPS: dict[str, tuple[str, ...]] = {
    "model and backend": ("model_name_or_path", "mutation_model", "scorer_model", "device", "dtype", "decoder_options_override", "is_async",
                          "client_batch_size", "server_batch_size", "chunk_size"),
    "day care and task": ("day_care_dir", "task", "fitness_test_suite"),
    "evolution": ("population_size", "initial_prompts_per_unit", "evolution_generations", "elitism", "num_eda_samples",
                  "num_lamarckian_reasonings", "selection", "pareto_examples", "operator_selection", "start_from_seed_prompts", "breed_system_prompt", "reflective_mutation", "merge_units",
                  "mutation_temperature_min",
                  "mutation_temperature_max", "quality_gate", "quality_min_logprob", "quality_min_relevance"),
    "fitness": ("test_CoT", "test_noCoT", "fitness_batch_size", "fitness_context_examples", "choice_by_likelihood",
                "reasoning_max_tokens", "selection_examples", "second_objective", "token_cost",
                "heldout_fraction"),
    "config genome (HPO)": ("acq_strategy", "surrogate", "sampler"),
    "run control": ("seed", "continue_run_number", "debug_mode", "verbose", "allow_weak_sandbox"),
    "budgets (checked after each step; Ctrl-C or SIGTERM also stop after the step)": (
        "max_llm_calls", "max_generated_tokens", "max_metric_calls", "max_seconds", "dry_run"),
    "introspection": ("calculate_entropy", "return_attention"),
    "tracking": ("use_wandb", "wandb_project"),
}

DASHED_ALIASES = ("dry_run",)  # also spelled with a dash, as other tools spell it

_METAVARS = {
    "model_name_or_path": "MODEL", "mutation_model": "MODEL", "scorer_model": "MODEL", "day_care_dir": "DIR", "task": "NAME", "decoder_options_override": "DECODER",
    "fitness_test_suite": "FILE", "wandb_project": "NAME", "heldout_fraction": "FRACTION",
    "continue_run_number": "RUN", "mutation_temperature_min": "T", "mutation_temperature_max": "T",
    "quality_min_logprob": "LOGPROB", "quality_min_relevance": "GAIN",
}

DESCRIPTION = """\
Breed task prompts with an evolutionary algorithm (PromptBreeder, Fernando et al.
2023): the language model mutates a population of prompts, each prompt is scored
on the task's test examples, and binary tournaments keep the better ones.

Settings come from the built-in defaults, then the --config file, then the flags
below; a flag always wins."""

EPILOG = f"""\
commands (each has its own --help, e.g. promptbreeder report --help):
{command_list()}

examples:
  # a quick demo on CPU with the embedded 135M model
  python -m promptbreeder --config smoke

  # the paper's settings on your own task, with a local model and sampling
  python -m promptbreeder --config paper --task my_task \\
      --model_name_or_path ./models/my-model --decoder_options_override "sample(temperature=0.7)"
"""


def _default_text(name: str) -> str:
    f = setting_fields()[name]
    if f.metadata["default_text"]:
        return f.metadata["default_text"]
    if isinstance(f.default, bool):
        return "default: on" if f.default else "default: off"
    return f"default: {f.default}"


def _help(name: str) -> str:
    f = setting_fields()[name]
    text = f.metadata["help"]
    if f.default is True:
        text += f"; --no-{name} turns it off"
    # argparse %-formats help strings, so a literal percent sign must be doubled
    return f"{text} ({_default_text(name)})".replace("%", "%%")


def _add_setting(group: argparse._ArgumentGroup, name: str) -> None:
    kind = setting_type(name)
    choices = setting_fields()[name].metadata["choices"]
    if kind is bool:
        aliases = [f"--{name.replace('_', '-')}"] if name in DASHED_ALIASES else []
        group.add_argument(f"--{name}", *aliases, dest=name, action=argparse.BooleanOptionalAction, help=_help(name))
    elif choices:
        group.add_argument(f"--{name}", choices=choices, help=_help(name))
    else:
        metavar = _METAVARS.get(name, "N" if kind is int else None)
        group.add_argument(f"--{name}", type=kind, metavar=metavar, help=_help(name))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser. Every default is SUPPRESS, so the namespace holds only flags the user passed."""
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, argument_default=argparse.SUPPRESS,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--config", metavar="NAME_OR_PATH",
        help="YAML file of settings: a path, or a name from ./configs such as 'smoke', 'paper' or 'default'"
             " (the .yaml suffix is optional); flags given on the command line override it (default: none)")
    for title, names in FLAG_GROUPS.items():
        group = parser.add_argument_group(title)
        for name in names:
            _add_setting(group, name)
    return parser


def main(argv: list[str], *, on_config: Callable[[RunConfig], None] | None = None) -> int:
    """Parse the flags, resolve the config and run; returns the run's exit code.

    `on_config` sees the resolved config before the run: `cli.main` learns from it whether to show
    tracebacks, since a --config file may turn `verbose` on where the flags did not.
    """
    args: dict[str, Any] = vars(build_parser().parse_args(argv))  # argparse exits 2 on bad usage
    config_path = args.pop("config", None)
    config = resolve_config(args, config_path)
    if on_config is not None:
        on_config(config)
    from promptbreeder.app import run  # deferred: pulls in LMQL and torch

    return int(run(config) or 0)
