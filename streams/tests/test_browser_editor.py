"""The strategy editor in Debian's Chromium against daphne: a Trader builds an EMA crossover from the
palette (HTML5 drag and drop, ports wired with the mouse), the browser refuses a wire of the wrong
kind, the server's compiler refuses a cycle on its nodes, the graph is saved as version 1 in React
Flow's shape, backtested from the page by a real Celery worker until its equity chart appears, and a
Viewer sees it read-only. These tests fail (never skip) when Chromium is missing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from marketdata.tests.stored_bars import store_history_bars
from orders.models import Instrument
from orders.tests.celery_processes import CELERY, Process
from strategies.engine import compile_graph
from strategies.engine.tests.helpers import walk_bars
from strategies.models import Backtest, StrategyVersion
from strategies.tests.factories import StrategyFactory
from streams.tests.harness import in_db, log_in
from streams.tests.stack import process_env, running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
EDITOR = "/live/strategies/editor/"
# One task at a time in the worker's own process: enough for one backtest, and stopped by its pid.
WORKER = ["worker", "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle", "-n", "editor-test@%h"]


def _node(page, node_id: str):
    return page.locator(f'.drawflow-node[data-node-id="{node_id}"]')


def _drop(page, node_type: str, x: int, y: int) -> str:
    """Drag ``node_type`` from the palette to (x, y) of the canvas; the id the editor gave the new node."""
    before = set(page.eval_on_selector_all(".drawflow-node", "nodes => nodes.map(n => n.dataset.nodeId)"))
    page.drag_and_drop(
        f'.editor-palette-node[data-type="{node_type}"]', "#editor-canvas", target_position={"x": x, "y": y}
    )
    after = set(page.eval_on_selector_all(".drawflow-node", "nodes => nodes.map(n => n.dataset.nodeId)"))
    (added,) = after - before
    return added


def _centre(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _wire(page, source: str, output: str, target: str, input_: str) -> None:
    """Press on ``source``'s output port and release on ``target``'s input port, as a person wires them."""
    start = _centre(_node(page, source).locator(f'.output[data-port="{output}"]'))
    end = _centre(_node(page, target).locator(f'.input[data-port="{input_}"]'))
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=4)
    page.mouse.move(*end, steps=4)
    page.mouse.up()


def _edges(page) -> set[tuple[str, str, str, str]]:
    graph = page.evaluate("window.strategyEditor.canvas.graph()")
    return {(e["source"], e["sourceHandle"], e["target"], e["targetHandle"]) for e in graph["edges"]}


def _store_bars() -> None:
    """1,500 one-minute AAPL bars (a random walk over XNYS sessions from 2026-03-02) in marketdata.Bar."""
    store_history_bars(Instrument.objects.get(symbol="AAPL"), walk_bars(1500, seed=19))


def _strategy(account):
    strategy = StrategyFactory(name="EMA crossover (drawn)")
    strategy.accounts.add(account)
    return strategy


def test_a_trader_draws_an_ema_crossover_sees_a_cycle_refused_and_saves_it(desk, redis_client, browser, tmp_path):
    strategy = in_db(lambda: _strategy(desk["account"]))
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", EDITOR)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.wait_for_function("window.strategyEditor && window.strategyEditor.ready")

        bar = _drop(page, "bar", 30, 200)
        fast = _drop(page, "ema", 230, 80)
        slow = _drop(page, "ema", 230, 300)
        up = _drop(page, "crossover", 430, 180)
        buy = _drop(page, "buy", 630, 180)
        assert (bar, fast, slow, up, buy) == ("bar_1", "ema_1", "ema_2", "crossover_1", "buy_1")

        # Parameters come from the catalogue (EMA's default period 20) and are edited in the side panel.
        _node(page, slow).click()
        expect(page.locator("#param-period")).to_have_value("20")
        page.fill("#param-period", "5000")
        page.locator("#param-period").dispatch_event("change")
        expect(page.locator(".editor-param-error")).to_contain_text("between 2 and 500")
        page.fill("#param-period", "26")
        page.locator("#param-period").dispatch_event("change")
        _node(page, fast).click()
        page.fill("#param-period", "12")
        page.locator("#param-period").dispatch_event("change")

        for wire in (
            (bar, "close", fast, "series"),
            (bar, "close", slow, "series"),
            (fast, "value", up, "a"),
            (slow, "value", up, "b"),
        ):
            _wire(page, *wire)
        # A number series cannot say when to buy: the browser refuses the wire at once.
        _wire(page, fast, "value", buy, "when")
        expect(page.locator("#editor-status")).to_contain_text("Not wired")
        assert (fast, "value", buy, "when") not in _edges(page)

        # A cycle through AND and OR: the compiler refuses it and names both nodes on the canvas.
        both, either = _drop(page, "and", 430, 400), _drop(page, "or", 430, 520)
        for wire in ((up, "result", both, "a"), (either, "result", both, "b"), (both, "result", either, "a")):
            _wire(page, *wire)
        _wire(page, up, "result", either, "b")
        _wire(page, both, "result", buy, "when")
        page.click("#editor-save")
        page.wait_for_function("window.strategyEditor.refused === 1")
        for node_id in (both, either):
            expect(_node(page, node_id)).to_have_class(re.compile(r"\bhas-problem\b"))
            expect(_node(page, node_id)).to_have_attribute("data-problems", re.compile("graph.cycle"))
        expect(page.locator('#editor-problem-list li[data-code="graph.cycle"]')).to_have_count(2)
        assert in_db(StrategyVersion.objects.count) == 0

        # Take the cycle out (select, Delete), feed the buy from the crossover and save: version 1.
        for node_id in (both, either):
            _node(page, node_id).locator(".node-title").click()
            page.keyboard.press("Delete")
        expect(page.locator(".drawflow-node")).to_have_count(5)
        assert page.locator('.drawflow-node[data-node-id="and_1"]').count() == 0
        _wire(page, up, "result", buy, "when")
        # The way out: the fast EMA crossing under the slow one closes the position.
        down, close = _drop(page, "crossunder", 430, 380), _drop(page, "close", 630, 380)
        for wire in ((fast, "value", down, "a"), (slow, "value", down, "b"), (down, "result", close, "when")):
            _wire(page, *wire)
        page.click("#editor-save")
        page.wait_for_function("window.strategyEditor.saved === 1")
        expect(page.locator("#editor-status")).to_contain_text("Saved as version 1")
        expect(page.locator("#editor-version option").first).to_have_text(re.compile(r"^v1 · trader"))
        expect(page.locator("#editor-problems")).to_be_hidden()
        assert page.evaluate("window.strategyEditor.dirty()") is False

        version = in_db(lambda: StrategyVersion.objects.get(strategy=strategy))
        assert version.number == 1 and version.author_id == desk["trader"].pk
        nodes = {n["id"]: n for n in version.graph["nodes"]}
        assert {i: n["type"] for i, n in nodes.items()} == {
            bar: "bar",
            fast: "ema",
            slow: "ema",
            up: "crossover",
            buy: "buy",
            down: "crossunder",
            close: "close",
        }
        assert nodes[fast]["data"]["params"] == {"period": 12} and nodes[slow]["data"]["params"] == {"period": 26}
        assert {(e["source"], e["sourceHandle"], e["target"], e["targetHandle"]) for e in version.graph["edges"]} == {
            (bar, "close", fast, "series"),
            (bar, "close", slow, "series"),
            (fast, "value", up, "a"),
            (slow, "value", up, "b"),
            (up, "result", buy, "when"),
            (fast, "value", down, "a"),
            (slow, "value", down, "b"),
            (down, "result", close, "when"),
        }
        assert compile_graph(version.graph).hash == version.graph_hash

        # Reopened, the page draws the saved version as it was.
        page.reload()
        page.wait_for_function("window.strategyEditor && window.strategyEditor.ready")
        assert _edges(page) == {
            (e["source"], e["sourceHandle"], e["target"], e["targetHandle"]) for e in version.graph["edges"]
        }

        # Backtest the saved version from the page: a real Celery worker runs it over bars in PostgreSQL.
        in_db(_store_bars)
        worker = Process([*CELERY, *WORKER], process_env(), tmp_path / "celery.log")
        try:
            page.fill("#editor-backtest input[name=start]", "2026-03-01")
            page.fill("#editor-backtest input[name=end]", "2026-04-01")
            page.select_option("#editor-backtest select[name=resolution]", "1")
            page.click("#editor-backtest-run")
            try:
                page.wait_for_function("window.tcStrategy.backtest.status === 'done'", timeout=90_000)
            except Exception:
                pytest.fail(f"{page.inner_text('#backtest-status')}\n{worker.output()[-3000:]}\n{stack.log('web')}")
        finally:
            worker.stop()
        backtest = in_db(lambda: Backtest.objects.select_related("version").get())
        assert (backtest.status, backtest.version.number, backtest.requested_by_id) == ("done", 1, desk["trader"].pk)
        expect(page.locator("#backtest-chart canvas").first).to_be_visible()
        points = len(backtest.results["equity_curve"]["time"])
        assert page.evaluate("window.tcStrategy.backtest.points") == points > 0
        trades = backtest.results["metrics"]["trade_count"]
        assert trades > 0
        expect(page.locator('#backtest-metrics dd[data-metric="trade_count"]')).to_have_text(str(trades))
        assert errors == []

        if os.environ.get("TC_UPDATE_SCREENSHOTS") == "1":
            _readme_picture(page)
        context.close()


def _readme_picture(page) -> None:
    """docs/editor.png (``make screenshot``): the drawn crossover as saved, a node's parameters open and the
    backtest's metrics and equity curve under it."""
    _node(page, "ema_2").locator(".node-title").click()
    page.screenshot(path=str(ROOT / "docs" / "editor.png"), full_page=True)


def test_a_viewer_sees_the_saved_graph_read_only(desk, redis_client, browser, tmp_path):
    from strategies.services import strategy_version_save
    from strategies.tests.factories import template_graph

    def seed():
        strategy = _strategy(desk["account"])
        strategy_version_save(
            actor=desk["trader"], strategy=strategy, graph=template_graph("ema_crossover"), via="test"
        )

    in_db(seed)
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "viewer", EDITOR)
        page.wait_for_function("window.strategyEditor && window.strategyEditor.ready")
        expect(page.locator(".drawflow-node")).to_have_count(9)
        assert len(_edges(page)) == 10
        for control in ("#editor-save", ".editor-palette", "#editor-import-file", "#editor-template"):
            expect(page.locator(control)).to_have_count(0)
        assert page.evaluate("window.strategyEditor.canvas.editor.editor_mode") == "view"
        # The parameters are shown, not editable.
        _node(page, "fast").click()
        expect(page.locator("#param-period")).to_have_value("12")
        expect(page.locator("#param-period")).to_be_disabled()
        context.close()


def _sorted_edges(graph: dict) -> list[tuple]:
    return sorted((e["source"], e["sourceHandle"], e["target"], e["targetHandle"]) for e in graph["edges"])


def test_templates_import_and_export_keep_react_flows_json(desk, redis_client, browser, tmp_path):
    from streams.editor_page import strategy_templates

    in_db(lambda: _strategy(desk["account"]))
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", EDITOR)
        page.wait_for_function("window.strategyEditor && window.strategyEditor.ready")

        # Each template drawn and read back is the template: ids, types, parameters, positions, edges.
        for name, template in strategy_templates().items():
            page.select_option("#editor-template", name)
            page.click("#editor-template-load")
            drawn = page.evaluate("window.strategyEditor.canvas.graph()")
            assert drawn["nodes"] == template["nodes"], name
            assert _sorted_edges(drawn) == _sorted_edges(template), name
            # A template is an edit until it is saved.
            assert page.evaluate("window.strategyEditor.dirty()") is True

        # Export downloads what the canvas holds (the last template); importing the file draws it again.
        with page.expect_download() as download:
            page.click("#editor-export")
        exported = json.loads(Path(download.value.path()).read_text())
        assert exported == page.evaluate("window.strategyEditor.canvas.graph()")
        page.click("#editor-clear")
        expect(page.locator(".drawflow-node")).to_have_count(0)
        page.set_input_files("#editor-import-file", str(download.value.path()))
        expect(page.locator(".drawflow-node")).to_have_count(len(exported["nodes"]))
        assert page.evaluate("window.strategyEditor.canvas.graph()")["nodes"] == exported["nodes"]

        # Pasted JSON: a node of an unknown type is left out and said so; a parameter out of bounds is
        # drawn as given, and the compiler names it on its node and in the parameter panel.
        pasted = strategy_templates()["ema_crossover"]
        pasted["nodes"][1]["data"]["params"]["period"] = 9999
        pasted["nodes"].append(
            {"id": "oracle", "type": "crystal_ball", "data": {"params": {}}, "position": {"x": 0, "y": 0}}
        )
        page.click("#editor-json-box summary")
        page.fill("#editor-json", json.dumps(pasted))
        page.click("#editor-json-load")
        expect(page.locator("#editor-status")).to_contain_text("unknown type")
        page.fill("#editor-json", "{not json")
        page.click("#editor-json-load")
        expect(page.locator("#editor-status")).to_contain_text("graph.not_json")
        page.fill("#editor-json", json.dumps(pasted))
        page.click("#editor-json-load")
        page.click("#editor-save")
        page.wait_for_function("window.strategyEditor.refused === 1")
        expect(_node(page, "fast")).to_have_attribute("data-problems", "node.bad_parameter")
        _node(page, "fast").locator(".node-title").click()
        expect(page.locator('.editor-param[data-param="period"] .errornote').last).to_contain_text("node.bad_parameter")
        assert in_db(StrategyVersion.objects.count) == 0
        context.close()
