#!/usr/bin/env python3
"""The pod's module graph, checked for the layering docs/ARCHITECTURE.md
describes. Fails (exit 1) when:

- two modules import each other, directly or through others (an import
  cycle), or
- a foundation module (shared state and clients) imports a context.

A node is a top-level module of `pod/src` (`pod/src/catalog/*` is
`catalog`). The HTTP faces of the contexts live in one module above them
all, `routes/` (one file per context), which only `startup` imports.

An edge `a -> b` is a reference from a file of `a` to `crate::b...` (in a
path or a `use crate::{...}` tree). Names re-exported by `lib.rs`
(`crate::AppState`) count as references to the module they come from. Test
modules (`#[cfg(test)] mod tests`) are left out.

usage: module_graph.py [SRC_DIR] [--dot]"""
import os
import re
import sys

FOUNDATION = {
    "config", "error", "db", "redis_handle", "cache", "keys", "paging", "periodic",
    "payments", "media", "state",
}

USE = re.compile(r"\buse\s+crate::(.*?);", re.S)
PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
CAPS = re.compile(r"\bcrate::([A-Z][A-Za-z0-9_]*)")
TESTS = re.compile(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", re.S)
COMMENT = re.compile(r"//[^\n]*")


def use_paths(tree):
    """Expands a use tree (`a::{b, c::{d, e}}`) into its paths, as lists."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def expand(prefix, text):
        depth, start, parts = 0, 0, []
        for i, ch in enumerate(text):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(text[start:i])
                start = i + 1
        parts.append(text[start:])
        for part in parts:
            if not part:
                continue
            brace = part.find("{")
            if brace >= 0 and part.endswith("}"):
                head = [p for p in part[:brace].split("::") if p]
                expand(prefix + head, part[brace + 1 : -1])
            else:
                name = part.split(" as ")[0]
                out.append(prefix + [p for p in name.split("::") if p and p != "self"])

    expand([], tree)
    return out


def node_of(rel):
    """The node a file (path relative to src, as parts) belongs to."""
    return rel[0][:-3] if len(rel) == 1 else rel[0]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    src = args[0] if args else "pod/src"
    dot = "--dot" in sys.argv
    lib = open(os.path.join(src, "lib.rs"), encoding="utf-8").read()
    reexports = {}
    for tree in re.findall(r"\bpub\s+use\s+(.*?);", lib, re.S):
        for path in use_paths(tree):
            if len(path) >= 2 and path[0] not in ("crate", "mercato_tenants"):
                reexports[path[-1]] = path[0]

    files = {}
    for root, _, names in os.walk(src):
        for f in names:
            if f.endswith(".rs"):
                full = os.path.join(root, f)
                rel = os.path.relpath(full, src).split(os.sep)
                if rel in (["lib.rs"], ["main.rs"]):
                    continue
                files[tuple(rel)] = full
    nodes = {node_of(list(rel)) for rel in files}

    edges = {}
    for rel, full in files.items():
        rel = list(rel)
        me = node_of(rel)
        text = open(full, encoding="utf-8", errors="replace").read()
        text = COMMENT.sub("", TESTS.sub("", text))
        found = set()
        for tree in USE.findall(text):
            for path in use_paths(tree):
                if not path:
                    continue
                if path[0][:1].isupper():
                    if path[0] in reexports:
                        found.add(reexports[path[0]])
                else:
                    found.add(path[0])
        for first in PATH.findall(text):
            found.add(first)
        for name in CAPS.findall(text):
            if name in reexports:
                found.add(reexports[name])
        for t in found:
            if t != me and t in nodes:
                edges.setdefault(me, set()).add(t)

    if dot:
        print("digraph pod {")
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f'  "{a}" -> "{b}";')
        print("}")
        return 0

    # Strongly connected components (Tarjan), iteratively.
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]

    def strongconnect(v):
        work = [(v, iter(sorted(edges.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    sccs.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            strongconnect(v)

    failed = False
    for comp in sccs:
        failed = True
        members = set(comp)
        print("import cycle:", " ".join(comp))
        for a in comp:
            inside = sorted(edges.get(a, set()) & members)
            print(f"  {a} -> {', '.join(inside)}")
    for a in sorted(FOUNDATION & nodes):
        up = sorted(t for t in edges.get(a, ()) if t not in FOUNDATION)
        if up:
            failed = True
            print(f"foundation module {a} imports {', '.join(up)}")
    print(f"{len(nodes)} modules, {sum(len(v) for v in edges.values())} imports, "
          f"{len(sccs)} cycles")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
