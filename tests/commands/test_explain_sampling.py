"""explain_sampling's pure functions on made-up logits (no model)."""

from __future__ import annotations

import pytest
import torch

from promptbreeder.commands import explain_sampling as ex

LOGITS = torch.tensor([2.0, 1.0, 0.5, 3.0, -1.0, 0.0, 1.5, -2.0])


def entropy(p: torch.Tensor) -> float:
    return -(p * p.log()).sum().item()


def test_distribution_sums_to_one_and_sharpens_as_temperature_drops():
    tables = {t: ex.distribution(LOGITS, t) for t in (0.3, 1.0, 1.5)}
    for probs in tables.values():
        assert probs.sum().item() == pytest.approx(1.0, abs=1e-6)
        assert probs.argmax().item() == 3  # temperature never changes the order
    assert tables[0.3].max() > tables[1.0].max() > tables[1.5].max()
    assert entropy(tables[0.3]) < entropy(tables[1.0]) < entropy(tables[1.5])
    assert torch.allclose(tables[1.0], torch.softmax(LOGITS, -1))


@pytest.mark.parametrize("k, kept", [(1, {3}), (3, {3, 0, 6}), (5, {3, 0, 6, 1, 2}),
                                     (0, set(range(8))), (50, set(range(8)))])
def test_top_k_survivors_are_the_k_best_at_every_temperature(k, kept):
    for t in (0.3, 1.0, 1.5):
        mask = ex.survivors(LOGITS, t, k)
        assert set(mask.nonzero()[:, 0].tolist()) == kept


def test_top_tokens_probability_rows_and_table():
    top = ex.top_tokens(ex.distribution(LOGITS, 1.0), 3)
    assert [i for i, _ in top] == [3, 0, 6]
    labels = {i: f"t{i}" for i in range(8)}
    rows = ex.probability_rows(LOGITS, [0.5, 2.0], labels, 2)
    assert [r[:2] for r in rows] == [[1, "'t3'"], [2, "'t0'"]]
    assert float(rows[0][2]) > float(rows[0][3])  # the top token loses mass as T rises
    table = ex.format_table(["#", "token"], [[1, "a"], [10, "bb"]]).splitlines()
    assert table == ["#   token", "--  -----", "1   a", "10  bb"]

    class Llama3Like:
        chat_template = "llama-3"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            text = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>"
                           for m in messages)
            return text + ("<|start_header_id|>assistant<|end_header_id|>\n\n" if add_generation_prompt else "")

    assert ex.chat_prompt(Llama3Like(), "Hi") == ("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                                                 "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_figure_is_written(tmp_path):
    path = tmp_path / "fig.png"
    ex.draw_figure(LOGITS, [0.3, 1.5], [0, 2], {i: f"t{i}" for i in range(8)}, str(path), n=5)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv", [["--prompt", "x", "--temperatures", "0"], ["--prompt", "x", "--top_k", "-1"],
                                  ["--prompt", "x", "--samples", "0"]])
def test_bad_arguments_are_usage_errors(argv):
    with pytest.raises(SystemExit) as info:
        ex.parse_args(argv)
    assert info.value.code == 2
