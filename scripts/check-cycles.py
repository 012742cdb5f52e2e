#!/usr/bin/env python3
"""Fails when the library's modules import each other in a cycle.

Reads the dependency graph `cargo modules dependencies` prints (DOT: modules, types, traits and
functions, with "uses" edges), folds every item into the module that declares it, and looks for
strongly connected components among the modules. A module using its own parent or child (`super::AppState`, a parent
routing to a child's handler) is containment, not a cycle, and is left out; every other pair of
modules must depend one way only.

Usage: cargo modules dependencies --lib --no-externs --no-sysroot --no-owns \
         | python3 scripts/check-cycles.py
"""

import re
import sys

EDGE = re.compile(r'^\s*"([^"]+)"\s*->\s*"([^"]+)"\s*\[label="uses"')
NODE = re.compile(r'^\s*"([^"]+)"\s*\[label=.*// "(\w+)" node')


def related(a: str, b: str) -> bool:
    return a == b or b.startswith(a + "::") or a.startswith(b + "::")


def main() -> int:
    lines = sys.stdin.read().splitlines()
    modules = {m[1] for m in map(NODE.match, lines) if m and m[2] in ("mod", "crate")}

    def module_of(path: str) -> str:
        while path not in modules and "::" in path:
            path = path.rsplit("::", 1)[0]
        return path

    graph: dict[str, set[str]] = {}
    for line in lines:
        m = EDGE.match(line)
        if not m:
            continue
        a, b = module_of(m[1]), module_of(m[2])
        if not related(a, b):
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    if not graph:
        print("check-cycles: no module graph on stdin", file=sys.stderr)
        return 2

    # Tarjan's strongly connected components, iteratively (the graph is small, the stack deep).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))

    edges = sum(len(v) for v in graph.values())
    if not cycles:
        print(f"check-cycles: {len(graph)} modules, {edges} uses edges, no cycle")
        return 0
    for component in cycles:
        print("check-cycles: these modules import each other in a cycle:")
        members = set(component)
        for a in component:
            for b in sorted(graph[a] & members):
                print(f"  {a} -> {b}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
