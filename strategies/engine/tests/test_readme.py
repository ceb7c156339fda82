"""The README's node catalogue table is the catalogue's own (regenerate it with the module when it changes)."""

from __future__ import annotations

from pathlib import Path

from strategies.engine.catalogue_table import END, START, markdown

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_table_matches_the_catalogue():
    text = README.read_text()
    assert START in text and END in text, "the README lost its catalogue markers"
    table = text[text.index(START) : text.index(END) + len(END)]
    assert table == markdown(), "run python -m strategies.engine.catalogue_table and paste its output"
