#!/usr/bin/env python3
"""Check that the files of src/ form layers: no import cycle, no upward import.

Every `crate::...`, `super::...` and `self::...` path in a file (in `use`
declarations and inline alike; comments and string literals are ignored)
is resolved to the file that defines the module it names: the longest
prefix of the path that is a file of src/. That gives a graph of files.

Fails (exit 1) when
  * the files form a cycle: A uses B and B (directly or not) uses A. A file
    using its own ancestors (`super::`, `crate::parent::`) is fine, and so is
    a parent using its children (its `mod`s and `pub use`s): containment is
    not a cycle, so edges from a module to its descendants are left out;
  * a file uses a top-level module of a higher layer than its own (LAYERS).

Run from anywhere: `python3 .ci/check_imports.py` (prints the graph with -v;
`--self-test` first checks that it catches what it should on small trees).
"""
import os
import re
import sys

# Top-level modules of src/, lowest layer first. A file may use modules of its
# own layer's tree only through ancestors/siblings without a cycle, and
# modules of strictly lower layers freely. Modules of the same rank that are
# different top-level modules may not use each other (families are
# independent of each other).
LAYERS = {
    "names": 0,
    "error": 1,
    "wire": 2,
    "netns": 3,
    "conn": 4,
    "rtnl": 5,
    "conntrack": 5,
    "nft": 5,
    "testing": 6,
    "fuzzing": 6,
}

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(rel):
    """src-relative file path -> module path tuple."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def strip(text):
    """Remove comments, string and char literals (keep the braces' structure)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            i = n if j < 0 else j + len(end)
            out.append('""')
        elif c == '"' or (c == "b" and text.startswith('b"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))):
            i = text.find('"', i) + 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'":
            # char literal or lifetime
            m = re.match(r"'(\\.[^']*|[^'\\])'", text[i:])
            if m:
                i += len(m.group(0))
                out.append("' '")
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    i = tree.find("{")
    if i < 0:
        return [re.sub(r"as\w+$", "", tree)] if tree else []
    prefix, body = tree[:i], tree[i + 1:]
    depth, parts, cur = 0, [], ""
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        for e in expand_use(p):
            out.append(prefix + e if e != "self" else prefix.rstrip(":"))
    return out


def paths_in(code):
    """Yield (path string, inline module nesting) for every module path."""
    # Track inline `mod x {` blocks so `super::` inside them resolves.
    stack = []  # (name, depth at which it opened)
    depth = 0
    tokens = re.finditer(r"\buse\s+([^;]+);|\bmod\s+(\w+)\s*\{|[{}]|\b((?:crate|super|self)(?:::\w+)+)", code)
    for m in tokens:
        t = m.group(0)
        if m.group(1) is not None:
            for p in expand_use(m.group(1)):
                if p.startswith(("crate::", "super::", "self::")) or p in ("crate", "super"):
                    yield p, [s[0] for s in stack]
        elif m.group(2) is not None:
            depth += 1
            stack.append((m.group(2), depth))
        elif t == "{":
            depth += 1
        elif t == "}":
            if stack and stack[-1][1] == depth:
                stack.pop()
            depth -= 1
        else:
            yield m.group(3), [s[0] for s in stack]


def resolve(path, here, inline, modules):
    """Path string -> the module tuple of the file that defines it."""
    segs = path.split("::")
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    else:
        base = here + tuple(inline)
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
    full = base + tuple(segs)
    for k in range(len(full), -1, -1):
        if full[:k] in modules:
            return full[:k]
    return ()


def find_cycles(graph):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, onstack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        onstack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in onstack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                onstack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check(root, verbose=False):
    """Errors (strings) for the tree of .rs files under `root`."""
    files = {}
    for d, _, names in os.walk(root):
        for f in names:
            if f.endswith(".rs"):
                rel = os.path.relpath(os.path.join(d, f), root)
                files[module_of(rel)] = rel
    modules = set(files)
    graph, why = {}, {}
    for mod, rel in files.items():
        with open(os.path.join(root, rel), encoding="utf-8") as fh:
            code = strip(fh.read())
        for p, inline in paths_in(code):
            target = resolve(p, mod, inline, modules)
            if target == mod or target[: len(mod)] == mod:
                continue  # itself, or one of its own descendants
            graph.setdefault(mod, set()).add(target)
            why.setdefault((mod, target), p)
    name = lambda m: files[m]
    errors = []
    for comp in find_cycles(graph):
        inside = set(comp)
        edges = [f"    {name(a)} -> {name(b)}  ({why[(a, b)]})" for a in comp for b in sorted(graph.get(a, ())) if b in inside]
        errors.append("import cycle between " + ", ".join(name(m) for m in comp) + ":\n" + "\n".join(edges))
    for a, targets in sorted(graph.items()):
        for b in sorted(targets):
            if not a or not b or a[0] == b[0]:
                continue
            la, lb = LAYERS.get(a[0]), LAYERS.get(b[0])
            if la is None or lb is None:
                errors.append(f"{name(a) if la is None else name(b)}: top-level module not in LAYERS of {__file__}")
            elif lb >= la:
                errors.append(f"upward import: {name(a)} (layer {a[0]}) uses {name(b)} (layer {b[0]}) via {why[(a, b)]}")
    if verbose:
        for a in sorted(graph):
            print(name(a), "->", ", ".join(name(b) for b in sorted(graph[a])))
    return sorted(set(errors)), len(files)


def self_test():
    """The checker must catch a sibling cycle, a longer cycle, an upward
    import and `super::` cycles, and accept parent/child containment."""
    import tempfile

    cases = [
        # (files, expected error substrings; [] means clean)
        ({"lib.rs": "pub mod rtnl;", "rtnl/mod.rs": "pub mod a; pub mod b; pub use a::X;",
          "rtnl/a.rs": "use super::b::Y; pub struct X;", "rtnl/b.rs": "use crate::rtnl::a::X; pub struct Y;"},
         ["import cycle between rtnl/a.rs, rtnl/b.rs"]),
        ({"lib.rs": "", "nft/mod.rs": "mod a; mod b; mod c;", "nft/a.rs": "fn f() { crate::nft::b::g() }",
          "nft/b.rs": "use super::c::Z;", "nft/c.rs": "// use super::a; is a comment\nuse super::a::W;"},
         ["import cycle between nft/a.rs, nft/b.rs, nft/c.rs"]),
        ({"lib.rs": "", "error.rs": "use crate::wire::names::MsgType;", "wire/mod.rs": "pub mod names;",
          "wire/names.rs": "pub struct MsgType;"},
         ["upward import: error.rs"]),
        ({"lib.rs": "", "conn/mod.rs": "use crate::{error::Error, rtnl::IfIndex};", "rtnl/mod.rs": "", "error.rs": ""},
         ["upward import: conn/mod.rs"]),
        ({"lib.rs": "", "rtnl/mod.rs": "pub mod link; pub use link::Links; fn f() { link::g() }",
          "rtnl/link/mod.rs": "use super::IfIndex; mod kind; #[cfg(test)] mod tests { use super::*; }",
          "rtnl/link/kind.rs": "use super::super::IfIndex; use crate::error::Error; const S: &str = \"crate::nft::x\";",
          "error.rs": ""},
         []),
    ]
    ok = True
    for files, expected in cases:
        with tempfile.TemporaryDirectory() as root:
            for rel, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                with open(os.path.join(root, rel), "w", encoding="utf-8") as fh:
                    fh.write(text)
            errors, _ = check(root)
            text = "\n".join(errors)
            good = all(e in text for e in expected) and (bool(errors) == bool(expected))
            if not good:
                ok = False
                print(f"self-test failed on {sorted(files)}: expected {expected}, got:\n{text}", file=sys.stderr)
    return ok


def main():
    if "--self-test" in sys.argv and not self_test():
        return 1
    errors, n = check(ROOT, "-v" in sys.argv)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"{len(errors)} layering error(s); see DESIGN.md, section Layers", file=sys.stderr)
        return 1
    print(f"imports: {n} files, no cycle, no upward import")
    return 0


if __name__ == "__main__":
    sys.exit(main())
