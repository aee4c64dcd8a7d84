"""`promptbreeder report RUN_DIR`: the page and the figures for finished, killed and single-step runs of
every genome, and one-line errors for paths that are not runs."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from promptbreeder import cli
from promptbreeder.reporting.analysis import best_unit_id, lineage
from promptbreeder.reporting.figures import CORE_FIGURES as FIGURES
from promptbreeder.reporting.load import load_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def report(run_dir: Path, capsys, *extra: str) -> Path:
    code = cli.main(["report", str(run_dir), *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    page = Path(out.strip())
    assert out.count("\n") == 1 and page.name == "report.html" and page.is_file()
    return page


def assert_figures(page: Path, expected: tuple[str, ...]) -> str:
    """Each expected PNG is written, is a real picture, and is embedded in the page as a data URI."""
    html = page.read_text(encoding="utf-8")
    written = sorted(p.stem for p in page.parent.glob("*.png"))
    assert written == sorted(expected)
    for name in expected:
        path = page.parent / f"{name}.png"
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000, name
        pixels = imread(path)
        assert pixels.shape[0] > 100 and pixels.shape[1] > 300 and float(np.std(pixels)) > 0.01, name
        assert f"data:image/png;base64,{base64.b64encode(data).decode('ascii')}" in html, name
    assert html.count("data:image/png;base64,") == len(expected)
    return html


def assert_self_contained(html: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*['"](?!data:|#)""", html), "nothing is fetched from elsewhere"
    assert "<script" not in html and "<link" not in html and "http://" not in html and "https://" not in html


def lineage_rows(html: str) -> list[str]:
    table = html[html.index("<table id='lineage-table'>"):]
    table = table[: table.index("</table>")]
    return re.findall(r"<tr data-unit='([^']+)'>", table)


def test_a_prompt_run_report_has_every_figure_the_lineage_and_the_report_text(prompt_run, capsys):
    page = report(prompt_run, capsys)
    assert page == prompt_run / "report" / "report.html"
    html = assert_figures(page, FIGURES)
    assert_self_contained(html)
    run = load_run(prompt_run)
    saved = json.loads((prompt_run / "report.json").read_text())
    assert best_unit_id(run) == saved["best"]["id"]
    rows = lineage_rows(html)
    assert rows[-1] == saved["best"]["id"], "the lineage table ends at the best unit"
    chain = lineage(run)
    assert [u["id"] for u in chain] == rows and len(chain) >= 2, "the climbing world breeds a best child"
    assert chain[0]["generation"] == 0 and chain[0]["operator"] == "init" and chain[0]["parent"] is None
    assert all(child["parent"] == parent["id"] for parent, child in zip(chain, chain[1:]))
    assert "held-out comparison on" in html and "baseline: task description" in html
    assert "Add the numbers carefully, level" in html and "evolution_generations" in html
    assert "no report.json" not in html


def test_a_config_run_report(config_run, capsys, tmp_path):
    page = report(config_run, capsys, "--out", str(tmp_path / "elsewhere"))
    assert page == tmp_path / "elsewhere" / "report.html" and not (config_run / "report").exists()
    html = assert_figures(page, FIGURES)
    assert_self_contained(html)
    saved = json.loads((config_run / "report.json").read_text())
    assert lineage_rows(html)[-1] == saved["best"]["unit"]
    assert "configurations evaluated (maximize)" in html and "genome <b>config</b>" in html


def test_a_killed_run_still_reports(prompt_run, capsys):
    (prompt_run / "report.json").unlink()
    snapshots = sorted((prompt_run / "snapshots").iterdir())
    snapshots[-1].unlink()
    page = report(prompt_run, capsys)
    html = assert_figures(page, ("fitness", "operators", "diversity", "lineage"))
    assert "no report.json" in html and "Not drawn: report.json is missing" in html
    run = load_run(prompt_run)
    assert run.last.step == 3 and run.report is None
    rows = lineage_rows(html)
    assert rows[-1] == best_unit_id(run) == max(run.population, key=lambda u: u["fitness"] or -1)["id"]
    last_ids = {u["id"] for u in run.population}
    assert any(unit not in last_ids for unit in rows), "ancestors come from earlier snapshots"


def test_a_run_with_a_single_snapshot_reports(single_step_run, capsys):
    html = assert_figures(report(single_step_run, capsys), ("fitness", "heldout", "diversity", "lineage"))
    assert "Not drawn: no operator has been used yet" in html
    assert len(lineage_rows(html)) == 1


@pytest.mark.parametrize("kind", ["text", "code"])
def test_text_and_code_runs_report(text_run, capsys, kind):
    run_dir = text_run(kind)
    html = assert_figures(report(run_dir, capsys), FIGURES)
    saved = json.loads((run_dir / "report.json").read_text())
    assert f"genome <b>{kind}</b>" in html and "candidates evaluated; best" in html
    assert lineage_rows(html)[-1] == saved["best"]["unit"]
    assert "llm_improve" in html


def test_a_generation_run_reports(generation_run, capsys):
    html = assert_figures(report(generation_run, capsys), FIGURES)
    assert "genome <b>generation</b>" in html and "configurations evaluated" in html
    assert "&quot;temperature&quot;" in html, "configurations are shown (escaped)"


def test_a_path_that_does_not_exist_is_one_line_naming_the_runs_nearby(prompt_run, capsys):
    missing = prompt_run.parent / "run_9"
    assert cli.main(["report", str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert f"{missing} does not exist" in err and str(prompt_run) in err


def test_a_folder_without_snapshots_is_not_a_run(prompt_run, capsys):
    task_dir = prompt_run.parent.parent
    assert cli.main(["report", str(task_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{task_dir} is not a run folder (no snapshots)" in err
    assert f"runs nearby: {prompt_run}" in err
    empty = task_dir / "elsewhere"
    empty.mkdir()
    assert cli.main(["report", str(empty)]) == 2
    assert "no run folders found nearby" in capsys.readouterr().err


def test_a_run_whose_snapshots_are_all_torn_is_not_a_run(prompt_run, capsys):
    for path in (prompt_run / "snapshots").iterdir():
        path.write_text('{"format_version": 1, "step"')
    assert cli.main(["report", str(prompt_run)]) == 2
    assert "is not a run folder (no readable snapshot)" in capsys.readouterr().err


def test_a_torn_last_snapshot_is_skipped_and_said(prompt_run, capsys):
    sorted((prompt_run / "snapshots").iterdir())[-1].write_text("{")
    html = report(prompt_run, capsys).read_text()
    assert "Read with problems: step_000004.json cannot be read" in html
