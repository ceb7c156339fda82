"""A live session's memory and its per-bar step, for the strategy runner (``strategies.runner``). No Django here."""
