"""Run settings: one dataclass, filled from defaults, then a YAML config file, then command-line flags.

The dataclass is the single source of truth: the JSON Schema that checks YAML files, the flag help and the
run store's saved config are all derived from its fields, so a new setting needs one new field only.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from promptbreeder.backends.base import DecoderOptions
from promptbreeder.backends.models import ModelSpec, resolve_model
from promptbreeder.errors import ConfigError, UsageError

DEVICES = ("auto", "cpu", "cuda", "multi-gpu")
DTYPES = ("auto", "float32", "bfloat16", "float16")
CONFIG_SUFFIXES = (".yaml", ".yml")


def _setting(default: Any, help: str, *, minimum: float | None = None, between: tuple[float, float] | None = None,
             choices: tuple[str, ...] | None = None, default_text: str | None = None, defines_run: bool = True) -> Any:
    """A field plus what the schema, the flag help and the run store need to know about it.

    `default_text` replaces the "(default: VALUE)" the flag help would show where VALUE means nothing.
    `defines_run=False` marks a setting a continued run may change (a budget, a display or speed knob);
    every other setting must equal the stored run's.
    """
    meta = {"help": help, "minimum": minimum, "between": between, "choices": choices, "default_text": default_text,
            "defines_run": defines_run}
    return field(default=default, metadata=meta)


@dataclass
class RunConfig:
    """Every setting of a run. Defaults follow the PromptBreeder paper where it gives one."""

    model_name_or_path: str = _setting(
        "smollm2-135m",
        "model that breeds and answers: 'smollm2-135m' (the embedded default), a local Hugging Face model folder,"
        " a hub id in the local Hugging Face cache, a local .gguf file, an OpenAI-compatible server"
        " 'openai-compat:<model>@<base url>', or an LMQL model string such as 'local:gpt2'")
    mutation_model: str | None = _setting(
        None, "model that writes the prompts (mutation operators, initial prompts, hyper-mutations): any form"
        " --model_name_or_path takes, e.g. a stronger model behind an OpenAI-compatible server",
        default_text="default: the model_name_or_path")
    scorer_model: str | None = _setting(
        None, "model that grades answers for LLM rubric scorers: any form --model_name_or_path takes",
        default_text="default: the model_name_or_path")
    # not part of what defines a run: its folder lives inside the day care, which may be moved, copied or
    # named by another path (./day_care, an absolute path) between starting and continuing it
    day_care_dir: str = _setting("day_care", "folder holding mutation prompts, thinking styles and one folder per task",
                                 defines_run=False)
    task: str | None = _setting(None, "name of the task folder inside the day care to breed prompts for",
                                default_text="required")
    decoder_options_override: str | None = _setting(
        None, "LMQL decoder used for every query instead of the task's own, e.g. 'argmax' or"
        " 'sample(temperature=0.7, top_p=0.9)'", default_text="default: the task's decoders")
    fitness_test_suite: str | None = _setting(
        None, "JSON file of test examples used instead of the task's own suite", default_text="default: the task's suite")
    is_async: bool = _setting(True, "run queries concurrently (takes effect when client_batch_size > 1)", defines_run=False)
    client_batch_size: int = _setting(32, "queries kept in flight at once", minimum=1, defines_run=False)
    server_batch_size: int = _setting(32, "rows the model generates together in one call", minimum=1, defines_run=False)
    population_size: int = _setting(50, "units (task prompts + mutation prompt) in the population", minimum=1)
    initial_prompts_per_unit: int = _setting(2, "task prompts each unit carries", minimum=1)
    evolution_generations: int = _setting(
        20, "generations of binary tournaments; 0 only creates and scores the initial population", minimum=0, defines_run=False)
    elitism: bool = _setting(
        True, "the fittest unit of each generation is never replaced: when it loses its tournament the pair"
        " breeds nothing (a deviation from the paper, whose tournaments have no elite)")
    num_eda_samples: int = _setting(10, "prompts shown to the estimation-of-distribution mutations", minimum=2)
    num_lamarckian_reasonings: int = _setting(
        2, "correct worked answers shown to the Lamarckian (working out to prompt) mutation", minimum=1)
    operator_selection: str = _setting(
        "uniform", "how each child's mutation operator is chosen: 'uniform' at random, or 'bandit' (Thompson sampling"
        " on how often each operator's children beat their parents, from the run's operator statistics)",
        choices=("uniform", "bandit"))  # the policies of promptbreeder/genomes/prompt/operators/selection.py
    selection: str = _setting(
        "tournament", "how parents are chosen and units replaced: 'tournament' (the paper's binary tournaments on a"
        " fresh training batch each, the loser replaced by the winner's child) or 'pareto' (GEPA's per-example"
        " frontier: every unit is scored once on the same pareto_examples training examples; a unit best on any"
        " of them survives even with a lower mean, parents are drawn in proportion to the examples they are best"
        " on, and the children replace units off the frontier first)", choices=("tournament", "pareto"))
    pareto_examples: int = _setting(
        30, "training examples of the fixed set selection 'pareto' scores every unit on (more: a finer frontier,"
        " and that many fitness evaluations per child)", minimum=1)
    second_objective: str | None = _setting(
        None, "a second objective beside the score: 'prompt_tokens', the bred prompts' length in the task model's"
        " tokens (what every answer pays to read). The report then compares the front of score against length"
        " among the final units and picks the bred prompt by token_cost; with selection pareto the shortest prompt"
        " also counts as best on one more objective, so short units stay on the frontier",
        choices=("prompt_tokens",), default_text="default: none")
    token_cost: float = _setting(
        0.0, "with a second objective: the score given up per prompt token when the report picks the bred prompt"
        " from the front (0.001: 100 tokens are worth 0.1 of score; 0: the best score, the shortest of equals);"
        " a finished run continued with another value picks again", minimum=0, defines_run=False)
    acq_strategy: str | None = _setting(
        None, "config genome (HPO): the acquisition that ranks a child's candidates on the surrogate: 'ei' (expected"
        " improvement) or 'ucb' (upper confidence bound); used without a sampler", choices=("ei", "ucb"),
        default_text="default: the task's config_options, else ei")
    surrogate: str | None = _setting(
        None, "config genome (HPO): what predicts a candidate's score before it is evaluated: 'forest' (a tree"
        " ensemble on the evaluations, no model cost), 'llm' (LLAMBO's discriminative surrogate: the LLM predicts"
        " it), 'generative' (LLAMBO's generative one: the LLM classes it as among the best quarter or not) or 'none'",
        choices=("forest", "llm", "generative", "none"), default_text="default: the task's config_options, else none"
        " (used without a sampler: --sampler none)")
    sampler: str | None = _setting(
        None, "config genome (HPO): an Optuna sampler proposes every child from all evaluations so far, in place of"
        " the LLM, the surrogate and perturbation: 'tpe', 'cmaes', 'gp' (Gaussian process) or 'qmc' (Sobol points),"
        " the start units too unless the task's warm_start is 'llm'; 'none': the LLM/GA proposals (LLAMBO's, with"
        " the task's proposal and surrogate). With a sampler, population_size 2 proposes one child per generation,"
        " each seeing every evaluation before it", choices=("tpe", "cmaes", "gp", "qmc", "none"),
        default_text="default: the task's config_options, else tpe")
    start_from_seed_prompts: bool = _setting(
        False, "up to half of the initial units take the task's hand-written seed prompts as their task prompts"
        " instead of prompts the init operator writes (DSPy and GEPA start from the user's prompt; the paper"
        " starts from the task description alone)")
    reflective_mutation: bool = _setting(
        False, "add GEPA's reflective mutation to the paper's operators: the mutator sees the parent's prompt and"
        " a few training examples it got wrong (question, answer, gold answer, the scorer's feedback) and writes"
        " a prompt that avoids those mistakes")
    merge_units: bool = _setting(
        False, "add a merge operator (after GEPA's merge): the mutator sees the parent's prompt and the prompt of the"
        " unit right on most of the parent's wrong answers, each with problems it got right and the other did"
        " not, and writes one prompt meant to keep both strengths (the paper's prompt crossover swaps a whole"
        " prompt in)")
    allow_weak_sandbox: bool = _setting(
        False, "code tasks: run generated code even where bubblewrap cannot isolate it (then only rlimits, a"
        " process group and a network guard hold it: it can read and write this user's files); the report says"
        " which sandbox ran", defines_run=False)
    breed_system_prompt: bool = _setting(
        False, "each unit also breeds its own system prompt (written by the init operator, then mutated like its"
        " task prompts; LLaMA Day Care's units hold one); off, every fitness test uses the task's"
        " fixed_system_prompt, or 'You are a helpful assistant.' (a task that fixes one cannot breed one)")
    quality_gate: bool = _setting(
        True, "judge every operator output before it is scored: rejected are word salad (mean token log-probability"
        " under the model below quality_min_logprob), off-task task prompts (relevance below quality_min_relevance)"
        " and loops (over 30% repeated word 3-grams); a rejected output is retried like an unusable one")
    quality_min_logprob: float = _setting(
        -6.0, "least mean log-probability per token an operator output may have after a neutral context (measured"
        " on SmolLM2-135M: hand-written prompts -5.3 to -2.0, invented words -9 to -6)")
    quality_min_relevance: float = _setting(
        0.1, "least gain in mean token log-probability a task prompt must get from seeing the task description"
        " (hand-written task prompts gain 0.6 to 1.0, off-task ones about 0)")
    mutation_temperature_min: float = _setting(
        0.6, "lowest sampling temperature drawn for a mutation (each mutation draws its own, uniformly, when the"
        " mutation decoder samples; the paper samples at one temperature)", minimum=0.01)
    mutation_temperature_max: float = _setting(
        1.2, "highest sampling temperature drawn for a mutation (equal to the lowest: one fixed temperature)",
        minimum=0.01)
    chunk_size: int = _setting(32, "tokens LMQL generates speculatively per model call", minimum=1)
    test_CoT: bool = _setting(True, "score the chain-of-thought variant of each prompt")
    test_noCoT: bool = _setting(True, "score the direct-answer (no chain of thought) variant of each prompt")
    fitness_batch_size: int = _setting(
        100, "test examples drawn for each fitness evaluation (more than the training split: all of it)", minimum=1)
    fitness_context_examples: int = _setting(
        0, "correct workings-out from a unit's own context shown as worked examples before its task prompt in the"
        " fitness tests (the paper shows the whole context, up to 8; 0 shows none, which suits small models that"
        " worked examples confuse)", minimum=0)
    choice_by_likelihood: bool = _setting(
        True, "answer choice tasks by likelihood (rank classification: each choice scored after the prompt, the"
        " likeliest is the answer) where the model can score text (local models); off, or on a server without"
        " log-probabilities, the model picks a choice by constrained generation")
    selection_examples: int = _setting(
        100, "training examples on which the report re-ranks the 3 fittest units before comparing the best with"
        " the baselines (one common set; training fitness alone favours the unit with the luckiest batches);"
        " 0 ranks by training fitness alone", minimum=0)
    reasoning_max_tokens: int = _setting(
        96, "tokens the chain-of-thought fitness test may spend on its working-out before the answer", minimum=1)
    heldout_fraction: float = _setting(
        0.2, "share of the test suite kept out of evolution to report final scores on", between=(0.0, 1.0))
    verbose: bool = _setting(False, "print progress details, and tracebacks on errors", defines_run=False)
    seed: int = _setting(0, "random seed for sampling, selection and the model", minimum=0)
    continue_run_number: int | None = _setting(
        None, "number of an earlier run of this task to resume", minimum=0, default_text="default: start a new run", defines_run=False)
    debug_mode: bool = _setting(
        False, "write into a separate debug run folder and apply the mutation operators in turn instead of at random")
    device: str = _setting("auto", "where a local model runs: auto (a GPU when there is one), cpu, cuda, or"
                           " multi-gpu (layers spread over every visible GPU)", choices=DEVICES, defines_run=False)
    dtype: str = _setting("auto", "weights' precision for a local model: auto (float16 on a GPU, float32 on the CPU),"
                          " float32, bfloat16 or float16", choices=DTYPES)
    max_llm_calls: int | None = _setting(
        None, "stop after the step during which this many model queries have been made (cached answers are free)",
        minimum=1, default_text="default: no limit", defines_run=False)
    max_generated_tokens: int | None = _setting(
        None, "stop after the step during which the model has generated this many tokens", minimum=1,
        default_text="default: no limit", defines_run=False)
    max_metric_calls: int | None = _setting(
        None, "stop after the step during which this many fitness evaluations have been made (the unit GEPA and"
        " DSPy report budgets in: one answer scored on one training example; for HPO and text or code tasks one"
        " evaluation of a candidate; one the run's cache answers counts too, so the count is the algorithm's and"
        " the same however often the run was interrupted)",
        minimum=1, default_text="default: no limit", defines_run=False)
    max_seconds: float | None = _setting(
        None, "stop after the step during which this many seconds of wall-clock time have passed", minimum=0,
        default_text="default: no limit", defines_run=False)
    calculate_entropy: bool = _setting(
        False, "measure the entropy of the model's next-token distribution at each generated step (local models);"
        " kept per fitness evaluation and per mutation, and averaged per generation in the events and on wandb")
    return_attention: str | None = _setting(
        None, "comma-separated query names (e.g. 'fitness_noCoT') whose answers' attention over the prompt is saved"
        " to the run folder's attention/ (the first 4 of each, local models) and drawn by `promptbreeder report`",
        default_text="default: off")
    dry_run: bool = _setting(
        False, "print the projected model queries, generated tokens and time of this run (counted on a simulated run,"
        " timed on a few real queries) and exit without starting it", defines_run=False)
    use_wandb: bool = _setting(False, "log the run to Weights & Biases", defines_run=False)
    wandb_project: str = _setting("promptbreeder", "Weights & Biases project to log to", defines_run=False)

    def validate(self) -> "RunConfig":
        """Check every value and the rules between them; raises UsageError with a one-line message."""
        _check_values(self.to_dict(), UsageError, "", lambda name: f"setting {name}")
        if not self.task:
            raise UsageError("no task given: pass --task NAME or set 'task:' in the config file")
        if not (self.test_CoT or self.test_noCoT):
            raise UsageError("test_CoT and test_noCoT are both off, so nothing would be scored:"
                             " enable at least one (--test_CoT or --test_noCoT)")
        if self.mutation_temperature_min > self.mutation_temperature_max:
            raise UsageError(f"mutation_temperature_min ({self.mutation_temperature_min}) is above"
                             f" mutation_temperature_max ({self.mutation_temperature_max})")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def fitness_variants(self) -> list[str]:
        """The fitness tests each prompt is scored with, in order: "noCoT", "CoT" (validate() keeps one on)."""
        return [variant for variant, on in (("noCoT", self.test_noCoT), ("CoT", self.test_CoT)) if on]

    @functools.cached_property
    def model_spec(self) -> ModelSpec:
        """The model, resolved once per run (ModelError for a name no form accepts)."""
        return resolve_model(self.model_name_or_path)

    @functools.cached_property
    def role_specs(self) -> dict[str, ModelSpec]:
        """The model of each role (task, mutation, scorer; see backends/roles.py), resolved once per run."""
        other = {"mutation": self.mutation_model, "scorer": self.scorer_model}
        return {"task": self.model_spec, **{role: resolve_model(value) if value else self.model_spec
                                           for role, value in other.items()}}

    @property
    def model_identity(self) -> str:
        """The model's canonical name, which the run cache keys answers by."""
        return self.model_spec.identity

    @functools.cached_property
    def decoder_override(self) -> DecoderOptions | None:
        """`decoder_options_override`, parsed (validated with the other settings), or None."""
        return DecoderOptions.parse(self.decoder_options_override) if self.decoder_options_override else None

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "saved config") -> "RunConfig":
        """Rebuild a config (e.g. from a run folder); missing settings take their defaults."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
        _check_values(data, ConfigError, f"{source}: ", lambda name: f"{source}: at {name}")
        return cls(**_coerce(data)).validate()


SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunConfig))


def setting_fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(RunConfig)}


def changeable_settings() -> frozenset[str]:
    """Settings a continued run may change (`defines_run=False`); the others define the run."""
    return frozenset(f.name for f in dataclasses.fields(RunConfig) if not f.metadata["defines_run"])


@functools.cache
def _type_hints() -> dict[str, Any]:
    return typing.get_type_hints(RunConfig)


def setting_type(name: str) -> type:
    """The Python type of a setting's value, without the `| None`."""
    return _python_types(setting_fields()[name])[0]


def _python_types(f: dataclasses.Field) -> tuple[type, bool]:
    """(base type, whether None is allowed) of a field annotated `T` or `T | None`."""
    hint = _type_hints()[f.name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def config_schema() -> dict[str, Any]:
    """JSON Schema of a YAML config file, derived from RunConfig's fields."""
    properties = {}
    for f in dataclasses.fields(RunConfig):
        base, nullable = _python_types(f)
        prop: dict[str, Any] = {"type": [_JSON_TYPES[base], "null"] if nullable else _JSON_TYPES[base],
                                "description": f.metadata["help"]}
        if f.metadata["minimum"] is not None:
            prop["minimum"] = f.metadata["minimum"]
        if f.metadata["between"] is not None:
            prop["exclusiveMinimum"], prop["exclusiveMaximum"] = f.metadata["between"]
        if f.metadata["choices"] is not None:
            prop["enum"] = list(f.metadata["choices"]) + ([None] if nullable else [])
        properties[f.name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "promptbreeder run config",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def describe_setting(name: str) -> str:
    """What a setting accepts, in words, e.g. 'integer >= 1' (used by error messages)."""
    f = setting_fields()[name]
    base, nullable = _python_types(f)
    meta = f.metadata
    if meta["choices"]:
        text = "one of " + ", ".join(repr(c) for c in meta["choices"])
    elif meta["between"]:
        low, high = meta["between"]
        text = f"number between {low:g} and {high:g} (both excluded)"
    elif base is bool:
        text = "true or false"
    else:
        text = {int: "integer", float: "number", str: "string"}[base]
        if meta["minimum"] is not None:
            text += f" >= {meta['minimum']:g}"
    return text + " or null" if nullable else text


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _check_values(values: dict[str, Any], error: type[UsageError], prefix: str,
                  locate: Callable[[str], str]) -> None:
    """Validate settings against the schema; raise `error` naming the first problem on one line.

    `prefix` starts messages about the whole mapping (unknown keys); `locate(name)` names one setting.
    """
    import jsonschema  # deferred: --help and bad-flag paths should not pay for it

    validator = jsonschema.Draft202012Validator(config_schema())
    problems = sorted(validator.iter_errors(values), key=lambda e: (e.validator != "additionalProperties",
                                                                     [str(p) for p in e.absolute_path]))
    if problems:
        problem = problems[0]
        if problem.validator == "additionalProperties":
            unknown = [str(k) for k in values if k not in SETTING_NAMES]
            hint = difflib.get_close_matches(unknown[0], SETTING_NAMES, n=1)
            raise error(
                f"{prefix}unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(repr(u) for u in unknown)};"
                f" known settings: {', '.join(SETTING_NAMES)}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        name = str(problem.absolute_path[0])
        raise error(f"{locate(name)}: expected {describe_setting(name)}, got {_show(values[name])}")
    decoder = values.get("decoder_options_override")
    if decoder is not None:
        try:
            DecoderOptions.parse(decoder)
        except UsageError as exc:
            raise error(f"{locate('decoder_options_override')}: {exc}") from None


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema counts 2.0 as an integer and 1 as a number; give fields their Python type."""
    out = dict(values)
    for name, value in values.items():
        base, _ = _python_types(setting_fields()[name])
        if base is int and isinstance(value, float):
            out[name] = int(value)
        elif base is float and isinstance(value, int) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def find_config(name_or_path: str | Path, configs_dir: str | Path = "configs") -> Path:
    """Resolve `--config`: an existing file path, or a bare name looked up in ./configs (suffix optional)."""
    given, folder = Path(name_or_path), Path(configs_dir)
    candidates = [given]
    if given.parent == Path("."):
        candidates += [folder / given.name] + [folder / (given.name + s) for s in CONFIG_SUFFIXES]
    candidates += [given.with_name(given.name + s) for s in CONFIG_SUFFIXES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    available = available_configs(folder)
    where = (f"available configs in {folder}/: {', '.join(available)}" if available
             else f"no config files found in {folder}/")
    looked = "no such file" + (f", nor {folder / given.name}.yaml" if given.parent == Path(".") else "")
    raise ConfigError(f"unknown config {str(name_or_path)!r} ({looked}); {where}")


def available_configs(configs_dir: str | Path = "configs") -> list[str]:
    folder = Path(configs_dir)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.iterdir() if p.suffix in CONFIG_SUFFIXES and p.is_file())


def load_yaml_config(path: str | Path, configs_dir: str | Path = "configs") -> dict[str, Any]:
    """Read and validate a YAML config (a path or a bare name in ./configs); returns only the settings it sets."""
    import yaml  # deferred like jsonschema

    resolved = find_config(path, configs_dir)
    where = str(resolved)
    try:
        text = resolved.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read the file ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: {line}invalid YAML ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of 'setting: value' lines, got a {type(data).__name__}")
    _check_values(data, ConfigError, f"{where}: ", lambda name: f"{where}: at {name}")
    return _coerce(data)


def resolve_config(cli_values: dict[str, Any], config_path: str | Path | None = None) -> RunConfig:
    """Merge defaults < YAML file < command line and validate the result.

    A command-line value counts only when it was passed: keys absent or set to None fall through to the
    YAML file and then to the defaults.
    """
    passed = {k: v for k, v in cli_values.items() if v is not None}
    _check_values(passed, UsageError, "", lambda name: f"--{name}")
    from_file = load_yaml_config(config_path) if config_path is not None else {}
    return RunConfig(**{**from_file, **_coerce(passed)}).validate()
