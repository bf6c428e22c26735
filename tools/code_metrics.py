#!/usr/bin/env python3
"""Structure figures for src/: the longest function, functions over 100 lines, the deepest
nesting (brace depth inside a function, its body counting 1), and import cycles between modules (a module is a layer's direct child: `engine::predict`,
`render::check`, `app::worker`; `ports`, `lib` and `main` are modules of their own; `engine/mod.rs`
is a room of its own, as in `tests/integration/architecture.rs`, so a loop through a re-export
there counts).

Usage: python3 tools/code_metrics.py [SRC_DIR] [--cycles] [--long] [--nesting]   (default src). Comments, strings
and char literals are blanked before braces are counted, so the figures are exact for
rustfmt-formatted code.
"""
import os
import re
import sys

LAYERS = {"engine", "render", "app", "adapters", "cli", "action", "server"}


def blank(text):
    """Replace comments, string and char literals by spaces, keeping newlines."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 70]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i:j + 1]))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    """(name, lines, nesting) for every fn with a body in the file."""
    text = blank(open(path, encoding="utf-8").read())
    found = []
    for m in re.finditer(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)", text):
        j = m.end()
        # the body starts at the first `{` before a `;` (a `;` first means no body)
        depth_paren = 0
        while j < len(text):
            ch = text[j]
            if ch in "(<[":
                depth_paren += 1
            elif ch in ")>]":
                depth_paren -= 1
            elif ch == ";" and depth_paren <= 0:
                j = -1
                break
            elif ch == "{" and depth_paren <= 0:
                break
            j += 1
        if j < 0 or j >= len(text):
            continue
        depth, deepest, k = 0, 0, j
        while k < len(text):
            if text[k] == "{":
                depth += 1
                deepest = max(deepest, depth)
            elif text[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        start = text.count("\n", 0, m.start()) + 1
        end = text.count("\n", 0, k) + 1
        found.append((m.group(1), end - start + 1, deepest))
    return found


def module_of(rel):
    parts = rel[:-3].split("/")
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts[0] in LAYERS and len(parts) >= 2:
        return "::".join(parts[:2])
    return parts[0]


def references(rel, text, children=()):
    """Modules a file names through `crate::` or `super::` paths, and, in a `mod.rs`, through a
    path that starts with one of its `children` (`pub use memo::Memo;`)."""
    me = rel[:-3].split("/")
    if me[-1] == "mod":
        me = me[:-1]
    refs = set()
    for child in children:
        if re.search(r"(?<![A-Za-z0-9_:])" + child + r"::", text):
            refs.add(target(me + [child]))
    # a path, not the prefix of a group (`crate::engine::{a, b}` names a and b, not engine)
    for m in re.finditer(r"\bcrate((?:::[a-z_][a-z0-9_]*)+)(?![a-z0-9_])(?!::\{)(?!::[a-z_])", text):
        parts = m.group(1).strip(":").split("::")
        refs.add(target(parts))
    # `super::x` from a file
    for m in re.finditer(r"\b((?:super::)+)([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)", text):
        ups = m.group(1).count("super")
        base = me[:-ups] if ups <= len(me) else []
        refs.add(target(base + m.group(2).split("::")))
    # grouped imports `use crate::{a::b, c}`
    for m in re.finditer(r"\bcrate((?:::[a-z_][a-z0-9_]*)*)::\{([^;]*?)\};", text, re.S):
        prefix = [p for p in m.group(1).split("::") if p]
        for item in re.findall(r"(?:^|[,{]\s*)([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)", m.group(2)):
            if item != "self":
                refs.add(target(prefix + item.split("::")))
    refs.discard(None)
    return refs


def target(parts):
    if not parts or not parts[0]:
        return None
    if parts[0] in LAYERS:
        if len(parts) >= 2 and re.match(r"^[a-z_][a-z0-9_]*$", parts[1]):
            return parts[0] + "::" + parts[1]
        return parts[0]
    return parts[0]


def cycles(edges):
    """Strongly connected components with more than one module, and the mutual pairs."""
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]
    nodes = set(edges) | {t for ts in edges.values() for t in ts}

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    pairs = sorted({tuple(sorted((a, b))) for a, ts in edges.items() for b in ts if a in edges.get(b, ())})
    return sccs, pairs


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    src = args[0] if args else "src"
    fns, nests, edges = [], [], {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            for name, n, deep in functions(path):
                fns.append((n, rel, name))
                nests.append((deep, rel, name))
            me = module_of(rel)
            text = blank(open(path, encoding="utf-8").read())
            children = []
            if f == "mod.rs":
                children = [c[:-3] if c.endswith(".rs") else c for c in os.listdir(root)
                            if c != "mod.rs" and (c.endswith(".rs") or os.path.isdir(os.path.join(root, c)))]
            for t in references(rel, text, children):
                known = t.split("::")[0] in LAYERS | {"ports", "lib"}
                # a layer's `mod.rs` and its children are one family, except the engine's, which
                # only declares its rooms and re-exports: a room of its own (as the architecture
                # test counts it), so a loop through it is a loop
                family = t == me or (me != "engine" and t.startswith(me + "::")) or (
                    t != "engine" and me.startswith(t + "::"))
                if known and not family:
                    edges.setdefault(me, set()).add(t)
    fns.sort(reverse=True)
    over = [f for f in fns if f[0] > 100]
    print(f"functions: {len(fns)}; longest: {fns[0][0]} lines ({fns[0][1]} {fns[0][2]}); over 100 lines: {len(over)}")
    nests.sort(reverse=True)
    deep = [f for f in nests if f[0] >= 7]
    print(f"deepest nesting: {nests[0][0]} ({nests[0][1]} {nests[0][2]}); nested 7 or deeper: {len(deep)}")
    sccs, pairs = cycles(edges)
    print(f"import cycles: {len(sccs)} strongly connected groups; {len(pairs)} mutual pairs")
    if "--cycles" in sys.argv:
        for comp in sccs:
            print("  scc:", " ".join(comp))
        for a, b in pairs:
            print(f"  pair: {a} <-> {b}")
    if "--long" in sys.argv:
        for n, rel, name in over:
            print(f"  {n:5} {rel} {name}")
    if "--nesting" in sys.argv:
        for n, rel, name in deep:
            print(f"  depth {n:2} {rel} {name}")


if __name__ == "__main__":
    main()
