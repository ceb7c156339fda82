"""The strategy engine: the node catalogue, the graph compiler and the bar evaluator (no Django).

Usage::

    plan = compile_graph(graph_json, history_bars=5000)   # raises GraphRefused(.problems)
    evaluator = Evaluator(plan, "AAPL")
    for bar in closed_bars:
        decisions = evaluator.on_bar(bar)                  # Decision stamped with the bar's time
"""

from strategies.engine.catalogue import catalogue
from strategies.engine.compiler import cache_clear, compile_graph
from strategies.engine.decisions import Decision
from strategies.engine.evaluator import BarRefused, Evaluator, run_history
from strategies.engine.plan import Plan
from strategies.engine.problems import CODES, GraphRefused, Problem

__all__ = [
    "CODES",
    "BarRefused",
    "Decision",
    "Evaluator",
    "GraphRefused",
    "Plan",
    "Problem",
    "cache_clear",
    "catalogue",
    "compile_graph",
    "run_history",
]
