"""The command line: breeding flags and help (commands/breed.py), precedence through cli.main, and how
cli.main maps errors to exit codes."""

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from promptbreeder import cli
from promptbreeder.commands import breed
from promptbreeder.config import SETTING_NAMES, RunConfig
from promptbreeder.errors import ConfigError, RunError, UsageError

REPO = Path(__file__).resolve().parents[1]

# The predecessor's flags, spelled exactly as its users type them.
LEGACY_FLAGS = [
    "model_name_or_path", "day_care_dir", "task", "decoder_options_override", "fitness_test_suite", "is_async",
    "client_batch_size", "server_batch_size", "population_size", "initial_prompts_per_unit",
    "evolution_generations", "num_eda_samples", "num_lamarckian_reasonings", "chunk_size", "test_CoT",
    "test_noCoT", "verbose", "seed", "continue_run_number", "debug_mode", "use_wandb", "wandb_project",
]
BOOLEAN_FLAGS = ["is_async", "test_CoT", "test_noCoT", "verbose", "debug_mode", "use_wandb"]


@pytest.fixture
def fake_app(monkeypatch):
    """Stand in for promptbreeder.app so main never loads a model; `calls` records the configs it got."""
    module = types.ModuleType("promptbreeder.app")
    module.calls = []
    module.behaviour = lambda config: 0

    def run(config):
        module.calls.append(config)
        return module.behaviour(config)

    module.run = run
    monkeypatch.setitem(sys.modules, "promptbreeder.app", module)
    return module


def help_text(capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        breed.build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


# --- the parser ------------------------------------------------------------------------------------------


def test_there_are_22_legacy_flags():
    assert len(LEGACY_FLAGS) == 22


@pytest.mark.parametrize("name", LEGACY_FLAGS + ["config", "fitness_batch_size", "heldout_fraction", "device"])
def test_every_flag_is_in_help(capsys, name):
    assert f"--{name}" in help_text(capsys)


def test_every_setting_has_a_flag_in_exactly_one_group():
    grouped = [name for names in breed.FLAG_GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(SETTING_NAMES)


def test_help_explains_defaults_model_forms_and_examples(capsys):
    text = " ".join(help_text(capsys).split())
    for form in ("smollm2-135m", "Hugging Face model folder", "hub id", ".gguf", "compat:<model>@<base url>",
                 "local:gpt2"):
        assert form in text
    assert "(default: 50)" in text and "(default: day_care)" in text and "(required)" in text
    assert "--no-test_CoT" in text and "(default: on)" in text and "(default: off)" in text
    for heading in breed.FLAG_GROUPS:
        assert heading + ":" in text
    assert text.count("python -m promptbreeder --config") == 2


def test_parser_defaults_are_suppressed():
    assert vars(breed.build_parser().parse_args([])) == {}


@pytest.mark.parametrize("name", BOOLEAN_FLAGS)
def test_boolean_flags_have_a_negative_form(name):
    parser = breed.build_parser()
    assert vars(parser.parse_args([f"--{name}"])) == {name: True}
    assert vars(parser.parse_args([f"--no-{name}"])) == {name: False}


def test_flag_values_are_converted():
    args = vars(breed.build_parser().parse_args(
        ["--population_size", "3", "--heldout_fraction", "0.3", "--continue_run_number", "2", "--device", "cpu"]))
    assert args == {"population_size": 3, "heldout_fraction": 0.3, "continue_run_number": 2, "device": "cpu"}


@pytest.mark.parametrize("argv", [["--population_size", "abc"], ["--device", "tpu"], ["--popsize", "3"]])
def test_argparse_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "promptbreeder: error:" in capsys.readouterr().err


# --- main: precedence ------------------------------------------------------------------------------------


def test_main_passes_the_resolved_config(fake_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yaml").write_text("task: yaml_task\ntest_CoT: true\nseed: 4\npopulation_size: 6\n")
    assert cli.main(["--config", "mine", "--no-test_CoT", "--population_size", "3"]) == 0
    (config,) = fake_app.calls
    assert isinstance(config, RunConfig)
    assert (config.task, config.test_CoT, config.seed, config.population_size) == ("yaml_task", False, 4, 3)
    assert config.chunk_size == 32


def test_main_without_config_uses_defaults(fake_app):
    assert cli.main(["--task", "t"]) == 0
    assert fake_app.calls == [RunConfig(task="t")]


# --- main: exit codes ------------------------------------------------------------------------------------


def raising(exc):
    def behaviour(config):
        raise exc
    return behaviour


def test_run_return_code_is_passed_through(fake_app):
    fake_app.behaviour = lambda config: 3
    assert cli.main(["--task", "t"]) == 3


def test_usage_error_exits_2_without_traceback(fake_app, capsys):
    fake_app.behaviour = raising(UsageError("unknown task 'x'; known tasks: a, b"))
    assert cli.main(["--task", "t"]) == 2
    err = capsys.readouterr().err
    assert err == "promptbreeder: error: unknown task 'x'; known tasks: a, b\n"


def test_usage_error_has_no_traceback_even_when_verbose(fake_app, capsys):
    fake_app.behaviour = raising(ConfigError("bad"))
    assert cli.main(["--task", "t", "--verbose"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_run_error_exits_1(fake_app, capsys):
    fake_app.behaviour = raising(RunError("run folder is locked"))
    assert cli.main(["--task", "t"]) == 1
    err = capsys.readouterr().err
    assert err == "promptbreeder: error: run folder is locked\n"


def test_invalid_setting_exits_2_before_running(fake_app, capsys):
    assert cli.main(["--task", "t", "--population_size", "0"]) == 2
    assert fake_app.calls == []
    assert capsys.readouterr().err == "promptbreeder: error: --population_size: expected integer >= 1, got 0\n"


def test_missing_task_exits_2(fake_app, capsys):
    assert cli.main([]) == 2
    assert "no task given" in capsys.readouterr().err


def test_unknown_config_exits_2(fake_app, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--task", "t", "--config", "nope"]) == 2
    assert "unknown config 'nope'" in capsys.readouterr().err


def test_internal_error_is_one_line_with_hint(fake_app, capsys):
    fake_app.behaviour = raising(ValueError("bad\nvalue"))
    assert cli.main(["--task", "t"]) == 1
    err = capsys.readouterr().err
    assert err == ("promptbreeder: internal error: ValueError: bad value"
                   " (rerun with --verbose for the traceback)\n")


def test_internal_error_traceback_only_with_verbose(fake_app, capsys):
    fake_app.behaviour = raising(ValueError("boom"))
    assert cli.main(["--task", "t", "--verbose"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1] == "promptbreeder: internal error: ValueError: boom"


def test_verbose_from_yaml_also_shows_traceback(fake_app, capsys, tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("task: t\nverbose: true\n")
    fake_app.behaviour = raising(KeyError("k"))
    assert cli.main(["--config", str(path)]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_keyboard_interrupt_exits_130(fake_app, capsys):
    fake_app.behaviour = raising(KeyboardInterrupt())
    assert cli.main(["--task", "t"]) == 130
    assert "interrupted" in capsys.readouterr().err


# --- as a program ----------------------------------------------------------------------------------------


def run_module(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "promptbreeder", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_python_m_help_exits_0():
    result = run_module("--help")
    assert result.returncode == 0, result.stderr
    assert "--model_name_or_path" in result.stdout


def test_python_m_bad_setting_exits_2():
    result = run_module("--config", "smoke", "--chunk_size", "0")
    assert result.returncode == 2
    assert result.stderr == "promptbreeder: error: --chunk_size: expected integer >= 1, got 0\n"
