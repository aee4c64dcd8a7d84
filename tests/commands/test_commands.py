"""One command line: every command in COMMANDS is reachable through cli.main, has its own --help, and its
errors come back as one line and an exit code; `breed` is the default."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from promptbreeder import cli
from promptbreeder.commands import COMMANDS, DEFAULT, breed
from promptbreeder.config import RunConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_app(monkeypatch):
    """Stand in for promptbreeder.app so breeding never loads a model; `calls` records the configs it got."""
    module = types.ModuleType("promptbreeder.app")
    module.calls = []
    module.run = lambda config: module.calls.append(config) or 0
    monkeypatch.setitem(sys.modules, "promptbreeder.app", module)
    return module


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_imports_and_has_a_main(name):
    module = importlib.import_module(COMMANDS[name].module)
    assert callable(module.main)


def test_every_command_is_summarised_and_listed_in_the_breeding_help():
    assert DEFAULT in COMMANDS
    text = breed.build_parser().format_help()
    for name, command in COMMANDS.items():
        assert command.synopsis.startswith(name) and command.synopsis in text and command.summary in text


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_its_own_help(name, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([name, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    # breed is the default command, so its usage line is the program's own
    prog = "promptbreeder" if name == DEFAULT else f"promptbreeder {name}"
    assert out.startswith(f"usage: {prog} ")


def test_help_without_a_command_is_the_breeding_help(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and "--model_name_or_path" in out and "make-hpo-tasks" in out


def test_explicit_breed_resolves_the_same_config(fake_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yaml").write_text("task: yaml_task\nseed: 4\npopulation_size: 6\n")
    flags = ["--config", "mine", "--population_size", "3", "--no-test_CoT"]
    assert cli.main(flags) == 0
    assert cli.main(["breed", *flags]) == 0
    implicit, explicit = fake_app.calls
    assert isinstance(explicit, RunConfig) and explicit == implicit
    assert (explicit.task, explicit.seed, explicit.population_size, explicit.test_CoT) == ("yaml_task", 4, 3, False)


def test_explicit_breed_usage_errors_read_as_without_it(fake_app, capsys):
    assert cli.main(["breed", "--task", "t", "--population_size", "0"]) == 2
    assert fake_app.calls == []
    assert capsys.readouterr().err == "promptbreeder: error: --population_size: expected integer >= 1, got 0\n"


def test_explicit_breed_takes_verbose_from_the_config_file(fake_app, capsys, tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("task: t\nverbose: true\n")

    def fail(config):
        raise KeyError("k")

    fake_app.run = fail
    assert cli.main(["breed", "--config", str(path)]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_an_unknown_word_is_one_line_listing_the_commands(capsys):
    assert cli.main(["nope-command", "--task", "t"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("promptbreeder: error: unknown command 'nope-command'")
    for name in COMMANDS:
        assert name in err


def test_a_stray_word_after_breeding_flags_is_an_argparse_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--task", "t", "nope"])
    assert info.value.code == 2 and "unrecognized arguments: nope" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["serve", "--model", "./no/such/model"],
                                  ["explain-sampling", "--prompt", "x", "--model", "./no/such/model"]])
def test_a_bad_model_is_a_model_error_before_anything_loads(argv, capsys):
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith("promptbreeder: error: model path ./no/such/model does not exist")


def test_make_hpo_tasks_checks_cv_and_prints_the_folders(tmp_path, capsys, monkeypatch):
    assert cli.main(["make-hpo-tasks", str(tmp_path), "--cv", "1"]) == 2
    assert "--cv must be >= 2 (got 1)" in capsys.readouterr().err
    module = importlib.import_module(COMMANDS["make-hpo-tasks"].module)
    calls = []
    monkeypatch.setattr(module, "write_tasks", lambda day_care, cv: calls.append((day_care, cv)) or [day_care / "t"])
    assert cli.main(["make-hpo-tasks", str(tmp_path), "--cv", "2"]) == 0
    assert calls == [(tmp_path, 2)] and capsys.readouterr().out == f"{tmp_path / 't'}\n"


@pytest.mark.parametrize("module", ["promptbreeder.commands.serve", "promptbreeder.commands.make_hpo_tasks"])
def test_python_m_of_a_command_module_goes_through_cli(module, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    args = ["--model", "./no/such/model"] if module.endswith("serve") else [str(tmp_path), "--cv", "0"]
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("promptbreeder: error:") and result.stderr.count("\n") == 1
