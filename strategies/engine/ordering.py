"""The order of a graph's nodes: Kahn's topological sort, the cycles that stop it, reachability."""

from __future__ import annotations

import heapq
from collections import defaultdict

from strategies.engine.problems import Problem


def topological(nodes, wires, problems) -> list[str]:
    """Kahn's order of the nodes (ties by id, so plans are stable); a problem per node on a cycle."""
    successors: dict[str, set[str]] = defaultdict(set)
    indegree = dict.fromkeys(nodes, 0)
    for (target, _port), sources in wires.items():
        for source, _out in sources:
            if target not in successors[source]:
                successors[source].add(target)
                indegree[target] += 1
    # A heap: of the nodes ready, the smallest id goes first, so equal graphs give equal plans.
    ready = sorted(n for n, d in indegree.items() if d == 0)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for nxt in successors[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, nxt)
    if len(order) < len(nodes):
        left = {n for n in nodes if n not in set(order)}
        for cycle in _cycles(left, successors):
            path = " → ".join([*cycle, cycle[0]])
            problems.extend(Problem("graph.cycle", f"Node {n} is on a cycle: {path}.", node=n) for n in cycle)
    return order


def _cycles(left: set[str], successors) -> list[list[str]]:
    """The cycles among ``left`` (Kahn's leftovers): Tarjan's strongly connected components, ordered."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        # Recursion depth is bounded by MAX_NODES (200), well within Python's limit.
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(successors[v] & left):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in successors[v]:
                found.append(_walk(sorted(component), successors))

    for v in sorted(left):
        if v not in index:
            visit(v)
    return found


def _walk(component: list[str], successors) -> list[str]:
    """A closed walk through ``component`` from its first node, for a readable message."""
    members, path, node = set(component), [component[0]], component[0]
    while True:
        node = min(successors[node] & members)
        if node == path[0] or node in path:
            return path
        path.append(node)


def ancestors(roots, wires) -> set[str]:
    """The nodes ``roots`` read from, directly or not, and the roots themselves."""
    sources: dict[str, set[str]] = defaultdict(set)
    for (target, _port), srcs in wires.items():
        sources[target].update(s for s, _ in srcs)
    seen, todo = set(roots), list(roots)
    while todo:
        for s in sources[todo.pop()] - seen:
            seen.add(s)
            todo.append(s)
    return seen


def descendants(roots, wires) -> set[str]:
    """The nodes reading from ``roots``, directly or not, and the roots themselves."""
    targets: dict[str, set[str]] = defaultdict(set)
    for (target, _port), srcs in wires.items():
        for s, _ in srcs:
            targets[s].add(target)
    seen, todo = set(roots), list(roots)
    while todo:
        for t in targets[todo.pop()] - seen:
            seen.add(t)
            todo.append(t)
    return seen
