"""The Markdown benchmark's inputs: each as long as asked, so its figures speak of messages at the length limit."""

from __future__ import annotations

import pytest

from bench.markdown import inputs, main


def test_every_input_but_the_short_one_is_as_long_as_asked() -> None:
    texts = inputs(2000)
    assert {name: len(text) for name, text in texts.items() if len(text) != 2000} == {"short": len(texts["short"])}


def test_the_benchmark_prints_a_row_per_input(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--samples", "1", "--length", "60"])
    rows = capsys.readouterr().out.splitlines()
    assert [row.split()[0] for row in rows[1:]] == list(inputs(60))
