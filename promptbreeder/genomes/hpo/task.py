"""HPO task folders (`"genome": "config"` in task_description.json): search space, objective, options.

Checked against `schemas/config_task.schema.json`, then the search space (`hpo.space`) and the
objective (`hpo.objectives`) are built, so a mistake anywhere names the file, the JSON path and what
was expected. The objective is built once here, which also checks that its model/dataset or Python
function exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from promptbreeder.backends.base import DecoderOptions
from promptbreeder.jsonio import check, fail, schema
from promptbreeder.errors import UsageError
from promptbreeder.genomes.hpo.genome import ConfigOptions
from promptbreeder.genomes.hpo.objectives import ObjectiveError, objective_from_spec
from promptbreeder.genomes.hpo.space import SearchSpace, SearchSpaceError

DEFAULT_DECODER = "sample(temperature=0.8)"


@dataclass
class ConfigTask:
    name: str
    dir: Path
    description: str
    space: SearchSpace
    objective_spec: dict[str, Any]
    objective: Callable[[dict], float] = field(repr=False)
    direction: str = "maximize"
    decoder: DecoderOptions = field(default_factory=lambda: DecoderOptions.parse(DEFAULT_DECODER))
    options: ConfigOptions = field(default_factory=ConfigOptions)
    genome: str = "config"


def load_config_task(task_dir: Path, data: dict[str, Any], file: Path) -> ConfigTask:
    check(data, schema("config_task"), file)
    try:
        space = SearchSpace.from_spec(data["search_space"], root="$.search_space")
    except SearchSpaceError as exc:
        raise fail(file, exc.path, exc.message) from None
    try:
        objective = objective_from_spec(data["objective"])
    except ObjectiveError as exc:
        raise fail(file, "$.objective" + exc.path.removeprefix("$"), exc.message) from None
    try:
        decoder = DecoderOptions.parse(data.get("decoder_options", DEFAULT_DECODER))
    except UsageError as exc:
        raise fail(file, "$.decoder_options", f"expected a valid LMQL decoder ({exc})") from None
    options = ConfigOptions(**data.get("config_options", {}))
    problem = options.problem()
    if problem:
        raise fail(file, f"$.config_options.{problem[0]}", f"expected {problem[1]}")
    return ConfigTask(name=task_dir.name, dir=task_dir, description=data["task_description"], space=space,
                      objective_spec=dict(data["objective"]), objective=objective,
                      direction=data.get("direction", "maximize"), decoder=decoder, options=options)
