"""RunConfig: defaults, YAML loading and its errors, precedence, validation, round trip."""

import dataclasses
from pathlib import Path

import pytest

from promptbreeder.config import (
    SETTING_NAMES,
    RunConfig,
    available_configs,
    config_schema,
    find_config,
    load_yaml_config,
    resolve_config,
)
from promptbreeder.errors import ConfigError, UsageError

REPO = Path(__file__).resolve().parents[1]
REPO_CONFIGS = REPO / "configs"


def write_config(folder: Path, name: str, text: str) -> Path:
    (folder / "configs").mkdir(exist_ok=True)
    path = folder / "configs" / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message and message.strip() == message and message
    return message


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- defaults and schema ---------------------------------------------------------------------------------


def test_defaults_follow_the_paper():
    config = RunConfig()
    assert (config.population_size, config.initial_prompts_per_unit) == (50, 2)
    assert (config.fitness_batch_size, config.evolution_generations) == (100, 20)
    assert config.test_CoT and config.test_noCoT
    assert config.model_name_or_path == "smollm2-135m"
    assert config.task is None and config.device == "auto" and config.heldout_fraction == 0.2


def test_schema_covers_exactly_the_dataclass_fields():
    schema = config_schema()
    assert list(schema["properties"]) == [f.name for f in dataclasses.fields(RunConfig)]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["population_size"] == {
        "type": "integer", "minimum": 1, "description": schema["properties"]["population_size"]["description"]}
    assert schema["properties"]["task"]["type"] == ["string", "null"]
    assert schema["properties"]["device"]["enum"] == ["auto", "cpu", "cuda", "multi-gpu"]


def test_shipped_default_yaml_matches_the_dataclass_defaults():
    assert load_yaml_config(REPO_CONFIGS / "default.yaml") == RunConfig().to_dict()


def test_shipped_smoke_and_paper_configs_resolve():
    smoke = resolve_config({}, REPO_CONFIGS / "smoke.yaml")
    assert smoke.task == "arithmetic_1_digit_addition"
    assert (smoke.population_size, smoke.initial_prompts_per_unit, smoke.evolution_generations) == (4, 1, 2)
    assert (smoke.fitness_batch_size, smoke.chunk_size) == (10, 16)
    assert (smoke.test_CoT, smoke.test_noCoT, smoke.use_wandb) == (False, True, False)
    assert smoke.start_from_seed_prompts, "the demo starts from the task's own prompts"
    paper = resolve_config({"task": "t"}, REPO_CONFIGS / "paper.yaml")
    assert (paper.population_size, paper.initial_prompts_per_unit, paper.fitness_batch_size) == (50, 2, 100)
    assert paper.test_CoT and paper.test_noCoT
    vllm = resolve_config({"task": "t"}, REPO_CONFIGS / "vllm.yaml")
    assert vllm.model_name_or_path.startswith("openai-compat:") and vllm.mutation_model.startswith("openai-compat:")
    assert vllm.mutation_model.endswith(":8001/v1") and vllm.scorer_model is None


def test_round_trip_through_dict():
    config = resolve_config({"task": "t", "population_size": 7, "decoder_options_override": "beam(n=2)"})
    again = RunConfig.from_dict(config.to_dict())
    assert again == config
    assert RunConfig.from_dict({"task": "t"}) == RunConfig(task="t")


def test_from_dict_rejects_unknown_and_bad_values():
    with pytest.raises(ConfigError, match=r"^runs/run_1/config.json: unknown setting 'bogus'"):
        RunConfig.from_dict({"task": "t", "bogus": 1}, source="runs/run_1/config.json")
    with pytest.raises(ConfigError, match="at seed: expected integer >= 0, got -1"):
        RunConfig.from_dict({"task": "t", "seed": -1})


# --- precedence ------------------------------------------------------------------------------------------


def test_cli_beats_yaml_beats_defaults(tmp_path):
    path = write_config(tmp_path, "mine.yaml", "task: from_yaml\npopulation_size: 8\nseed: 3\n")
    config = resolve_config({"population_size": 4}, path)
    assert config.population_size == 4  # CLI over YAML
    assert config.seed == 3  # YAML over default
    assert config.task == "from_yaml"
    assert config.chunk_size == 32  # default


def test_false_on_cli_beats_true_in_yaml(tmp_path):
    path = write_config(tmp_path, "mine.yaml", "task: t\ntest_CoT: true\nis_async: true\nuse_wandb: true\n")
    config = resolve_config({"test_CoT": False, "is_async": False}, path)
    assert config.test_CoT is False and config.is_async is False
    assert config.use_wandb is True


def test_true_on_cli_beats_false_in_yaml(tmp_path):
    path = write_config(tmp_path, "mine.yaml", "task: t\nverbose: false\n")
    assert resolve_config({"verbose": True}, path).verbose is True


def test_values_not_passed_fall_through(tmp_path):
    path = write_config(tmp_path, "mine.yaml", "task: t\nwandb_project: p\n")
    config = resolve_config({"wandb_project": None, "task": None}, path)
    assert (config.task, config.wandb_project) == ("t", "p")


def test_yaml_floats_and_ints_get_the_field_type(tmp_path):
    path = write_config(tmp_path, "mine.yaml", "task: t\npopulation_size: 6.0\n")
    value = resolve_config({}, path).population_size
    assert value == 6 and type(value) is int


# --- --config lookup -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mine", "mine.yaml", "configs/mine.yaml", "configs/mine"])
def test_config_by_bare_name_or_path(in_tmp, name):
    write_config(in_tmp, "mine.yaml", "task: t\npopulation_size: 9\n")
    assert resolve_config({}, name).population_size == 9


def test_config_by_absolute_path(tmp_path):
    path = write_config(tmp_path, "mine.yml", "task: t\n")
    assert find_config(str(path)) == path
    assert resolve_config({}, path).task == "t"


def test_unknown_config_name_lists_available(in_tmp):
    write_config(in_tmp, "alpha.yaml", "{}\n")
    write_config(in_tmp, "beta.yml", "{}\n")
    assert available_configs() == ["alpha", "beta"]
    with pytest.raises(ConfigError) as exc:
        resolve_config({"task": "t"}, "gamma")
    message = assert_one_line(exc)
    assert "unknown config 'gamma'" in message and "alpha, beta" in message


def test_unknown_config_without_configs_folder(in_tmp):
    with pytest.raises(ConfigError, match="no config files found"):
        load_yaml_config("nothing")


# --- YAML errors -----------------------------------------------------------------------------------------


def test_unknown_yaml_key_lists_known_settings(in_tmp):
    write_config(in_tmp, "x.yaml", "task: t\npopsize: 3\n")
    with pytest.raises(ConfigError) as exc:
        load_yaml_config("x")
    message = assert_one_line(exc)
    assert message.startswith("configs/x.yaml: unknown setting 'popsize'; known settings: ")
    for name in SETTING_NAMES:
        assert name in message
    assert "did you mean 'population_size'" in message


def test_wrong_type_in_yaml_names_setting_and_expectation(in_tmp):
    write_config(in_tmp, "x.yaml", "population_size: abc\n")
    with pytest.raises(ConfigError) as exc:
        load_yaml_config("x")
    assert assert_one_line(exc) == "configs/x.yaml: at population_size: expected integer >= 1, got 'abc'"


@pytest.mark.parametrize(
    "line, expected",
    [
        ("test_CoT: maybe", "at test_CoT: expected true or false, got 'maybe'"),
        ("population_size: true", "at population_size: expected integer >= 1, got true"),
        ("population_size: 0", "at population_size: expected integer >= 1, got 0"),
        ("evolution_generations: -1", "at evolution_generations: expected integer >= 0, got -1"),
        ("num_eda_samples: 1", "at num_eda_samples: expected integer >= 2, got 1"),
        ("heldout_fraction: 1.0", "at heldout_fraction: expected number between 0 and 1 (both excluded), got 1.0"),
        ("device: tpu", "at device: expected one of 'auto', 'cpu', 'cuda', 'multi-gpu', got 'tpu'"),
        ("continue_run_number: x", "at continue_run_number: expected integer >= 0 or null, got 'x'"),
        ("decoder_options_override: greedy", "at decoder_options_override: decoder 'greedy' is not one of"),
    ],
)
def test_each_yaml_validation_error(in_tmp, line, expected):
    write_config(in_tmp, "x.yaml", line + "\n")
    with pytest.raises(ConfigError) as exc:
        load_yaml_config("x")
    assert assert_one_line(exc).startswith("configs/x.yaml: " + expected)


def test_invalid_yaml_reports_the_line(in_tmp):
    write_config(in_tmp, "x.yaml", "task: t\nseed: 1\n  population_size: [1\n")
    with pytest.raises(ConfigError) as exc:
        load_yaml_config("x")
    message = assert_one_line(exc)
    assert message.startswith("configs/x.yaml: line 3: invalid YAML")


def test_yaml_that_is_not_a_mapping(in_tmp):
    write_config(in_tmp, "x.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_yaml_config("x")


def test_empty_yaml_sets_nothing(in_tmp):
    write_config(in_tmp, "x.yaml", "# only a comment\n")
    assert load_yaml_config("x") == {}


# --- validation of merged values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"population_size": 0}, "--population_size: expected integer >= 1, got 0"),
        ({"client_batch_size": 0}, "--client_batch_size: expected integer >= 1, got 0"),
        ({"server_batch_size": 0}, "--server_batch_size: expected integer >= 1, got 0"),
        ({"initial_prompts_per_unit": 0}, "--initial_prompts_per_unit: expected integer >= 1, got 0"),
        ({"evolution_generations": -1}, "--evolution_generations: expected integer >= 0, got -1"),
        ({"num_eda_samples": 1}, "--num_eda_samples: expected integer >= 2, got 1"),
        ({"num_lamarckian_reasonings": 0}, "--num_lamarckian_reasonings: expected integer >= 1, got 0"),
        ({"chunk_size": 0}, "--chunk_size: expected integer >= 1, got 0"),
        ({"fitness_batch_size": 0}, "--fitness_batch_size: expected integer >= 1, got 0"),
        ({"seed": -5}, "--seed: expected integer >= 0, got -5"),
        ({"heldout_fraction": 0.0}, "--heldout_fraction: expected number between 0 and 1 (both excluded), got 0.0"),
        ({"device": "gpu"}, "--device: expected one of 'auto', 'cpu', 'cuda', 'multi-gpu', got 'gpu'"),
        ({"decoder_options_override": "sample(bogus=1)"}, "--decoder_options_override: decoder 'sample(bogus=1)'"),
        ({"test_CoT": False, "test_noCoT": False}, "test_CoT and test_noCoT are both off"),
        ({"mutation_temperature_min": 1.5, "mutation_temperature_max": 1.0},
         "mutation_temperature_min (1.5) is above mutation_temperature_max (1.0)"),
        ({"selection_examples": -1}, "--selection_examples: expected integer >= 0, got -1"),
        ({"task": None}, "no task given: pass --task NAME"),
        ({"colour": "red"}, "unknown setting 'colour'; known settings: model_name_or_path"),
    ],
)
def test_each_validation_error_is_one_clear_line(values, expected):
    values = {"task": "t", **values}
    with pytest.raises(UsageError) as exc:
        resolve_config(values)
    assert assert_one_line(exc).startswith(expected)


def test_validate_checks_values_set_in_python():
    with pytest.raises(UsageError, match="setting chunk_size: expected integer >= 1, got 0"):
        RunConfig(task="t", chunk_size=0).validate()
    with pytest.raises(UsageError, match="setting population_size: expected integer >= 1, got true"):
        RunConfig(task="t", population_size=True).validate()


def test_valid_decoder_override_and_edge_values_pass():
    config = resolve_config({"task": "t", "decoder_options_override": "sample(temperature=0.7, top_p=0.9)",
                             "evolution_generations": 0, "num_eda_samples": 2, "heldout_fraction": 0.5,
                             "test_CoT": False, "continue_run_number": 3})
    assert config.evolution_generations == 0 and config.continue_run_number == 3


def test_yaml_problem_is_a_config_error_and_a_usage_error(in_tmp):
    write_config(in_tmp, "x.yaml", "seed: -1\n")
    with pytest.raises(UsageError) as exc:
        load_yaml_config("x")
    assert isinstance(exc.value, ConfigError) and exc.value.exit_code == 2


def test_the_settings_a_continued_run_may_change_are_marked_on_the_fields():
    from promptbreeder.config import changeable_settings, setting_fields

    may_change = changeable_settings()
    assert {"evolution_generations", "max_llm_calls", "max_seconds", "verbose", "device"} <= may_change
    assert not {"model_name_or_path", "task", "seed", "population_size", "heldout_fraction"} & may_change
    assert all(isinstance(f.metadata["defines_run"], bool) for f in setting_fields().values())
