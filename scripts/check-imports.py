#!/usr/bin/env python3
"""Import loops between the files of a Rust crate fail `make lint`.

For shared/src, each tools/*/src and tests/e2e/src (or the src directories given), builds the
file-level import graph and exits 1, printing every loop, when files import each other in a
loop, directly or through others. A file imports another when it names a module or item defined
there: `use crate::...`, `use super::...`, `use self::...`, `use child::...`, and paths in the
code (`crate::a::f()`, `super::T`, `child::f()`, `record::closed()` after `use ...::record`).

Not edges: `mod x;` declarations, `pub use` re-exports (a path through a module that re-exports a
name is followed to the file that defines it, so `pub use app::App` in api/mod.rs does not tie
api/app.rs to api/mod.rs), comments, strings, test code (`#[cfg(test)]` items, files named
tests.rs, anything under a tests/ folder). Python 3 standard library only.

usage: scripts/check-imports.py [--list | --dot] [--selftest] [SRC_DIR...]
  --list      print every edge with the names behind it
  --dot       print the graph in Graphviz dot instead of checking it
  --selftest  check the checker on small crates made in a temporary directory
"""

import os
import re
import signal
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
ITEM_KINDS = r"(?:fn|struct|enum|trait|type|const|static|union|mod)"


def strip(text):
    """Comments, strings and char literals blanked (newlines kept, so lines still count)."""
    out = []
    i, n = 0, len(text)

    def blank(s):
        return "".join("\n" if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j]))
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
            out.append(blank(text[i:j]))
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and (i == 0 or not re.match(r"\w", text[i - 1])):
            end = text.find('"' + m.group(1), m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""' + blank(text[i + 2:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + blank(text[i + 2:j + 1]))
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}'), or a lifetime ('a, 'static): left as is.
            m = re.compile(r"'(?:\\(?:u\{[0-9a-fA-F]*\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'").match(text, i)
            if m:
                out.append("' '" + blank(text[i + 3:m.end()]))
                i = m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def item_end(code, i):
    """The end of the item starting at i: its first `;` outside brackets, or its body's `}`."""
    depth = 0
    while i < len(code):
        c = code[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0 and c == "}":
                return i + 1
        elif c == ";" and depth == 0:
            return i + 1
        i += 1
    return len(code)


CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*(?:all\s*\(\s*)?test\b")
ATTR = re.compile(r"\s*#\s*!?\s*\[")


def drop_test_code(code):
    """Blanks every #[cfg(test)] item; returns the code and the names of test-only `mod x;`."""
    test_mods = set()
    while m := CFG_TEST.search(code):
        start = m.start()
        i = code.index("[", start)
        i = item_end(code, i)  # past the attribute's ]
        while a := ATTR.match(code, i):
            i = item_end(code, a.end() - 1)
        d = re.compile(r"\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;").match(code, i)
        if d:
            test_mods.add(d.group(1))
        end = item_end(code, i)
        code = code[:start] + "".join("\n" if c == "\n" else " " for c in code[start:end]) + code[end:]
    return code, test_mods


def expand_use_tree(tree):
    """`a::{b, c::{self, D as E}, f::*}` -> [(segments, binding or None, is_glob)]."""
    tree = re.sub(r"\s*([:{},*])\s*", r"\1", re.sub(r"\s+", " ", tree.strip()))
    results = []

    def parse(s, i, prefix):
        # One tree at s[i:]; returns the index after it.
        segs = list(prefix)
        while True:
            if s.startswith("{", i):
                i += 1
                while not s.startswith("}", i):
                    i = parse(s, i, segs)
                    if s.startswith(",", i):
                        i += 1
                return i + 1
            if s.startswith("*", i):
                results.append((segs, None, True))
                return i + 1
            m = re.compile(IDENT).match(s, i)
            if not m:
                return len(s)
            name, i = m.group(0), m.end()
            if s.startswith("::", i):
                segs = segs + [name]
                i += 2
                continue
            alias = name
            if s.startswith(" as ", i):
                a = re.compile(IDENT).match(s, i + 4)
                alias, i = a.group(0), a.end()
            if name == "self":
                results.append((segs, None if alias == "_" else (segs[-1] if alias == "self" else alias), False))
            else:
                results.append((segs + [name], None if alias == "_" else alias, False))
            return i

    if tree.startswith("::"):
        return []  # an external crate, spelled absolutely
    parse(tree, 0, [])
    return results


USE = re.compile(r"(?<![\w:])(pub\s*(?:\([^)]*\))?\s*)?use\s+([^;]+);")
PATH = re.compile(r"(?<![\w:$])(" + IDENT + r")((?:\s*::\s*" + IDENT + r")+)")


class SourceFile:
    def __init__(self, crate, rel, text):
        self.crate, self.rel = crate, rel
        code, self.test_mods = drop_test_code(strip(text))
        self.is_test = bool(re.search(r"#\s*!\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]", code))
        self.code = code
        parts = rel[:-3].split("/")
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        self.module = tuple(parts)
        # Inline modules: (start, end, path inside the file).
        self.inline = []
        for m in re.finditer(r"(?<![\w])mod\s+(" + IDENT + r")\s*\{", code):
            self.inline.append((m.start(), item_end(code, m.end() - 1), m.group(1)))
        # use declarations: (position, segments, binding, glob, public, span).
        self.uses = []
        for m in USE.finditer(code):
            for segs, binding, glob in expand_use_tree(m.group(2)):
                self.uses.append((m.start(), segs, binding, glob, bool(m.group(1)), m.span()))
        self.defined = set(re.findall(r"(?<![\w])" + ITEM_KINDS + r"\s+(" + IDENT + r")", code))
        self.defined |= set(re.findall(r"macro_rules!\s*(" + IDENT + r")", code))

    def module_at(self, pos):
        path = list(self.module)
        for start, end, name in self.inline:
            if start <= pos < end:
                path.append(name)
        return tuple(path)

    def depth0_uses(self):
        """The uses visible module-wide (not inside a function or an inline module)."""
        if not hasattr(self, "_depth0"):
            self._depth0 = [
                u for u in self.uses
                if not any(s <= u[0] < e for s, e, _ in self.inline)
                and self.code.count("{", 0, u[0]) == self.code.count("}", 0, u[0])
            ]
        return self._depth0


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}  # rel -> SourceFile
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = sorted(d for d in dirnames if d != "tests")
            for f in sorted(filenames):
                if not f.endswith(".rs") or f == "tests.rs":
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, src).replace(os.sep, "/")
                with open(path, encoding="utf-8") as fh:
                    self.files[rel] = SourceFile(self, rel, fh.read())
        # Files a #[cfg(test)] `mod x;` declares are test code too.
        for rel, sf in list(self.files.items()):
            base = os.path.dirname(rel) if os.path.basename(rel) in ("mod.rs", "lib.rs", "main.rs") else rel[:-3]
            for name in sf.test_mods:
                for cand in (f"{base}/{name}.rs", f"{base}/{name}/mod.rs"):
                    self.files.pop(cand.lstrip("/"), None)
        self.files = {r: f for r, f in self.files.items() if not f.is_test}
        # Module path -> file, for the library's tree (main.rs and bin/ are roots of their own).
        self.modules = {}
        for rel, sf in self.files.items():
            if rel == "main.rs" or rel.startswith("bin/"):
                continue
            self.modules[sf.module] = rel

    def module_file(self, path, ctx_file):
        if not path and (ctx_file.rel == "main.rs" or ctx_file.rel.startswith("bin/")):
            return ctx_file.rel
        return self.modules.get(tuple(path))

    def is_module(self, path, ctx_file):
        """Is `path` a module: a file's or an inline one's."""
        if self.module_file(path, ctx_file):
            return True
        for k in range(len(path), -1, -1):
            f = self.module_file(path[:k], ctx_file)
            if f:
                sf = self.files[f]
                return any(tuple(sf.module) + (name,) == tuple(path) for _, _, name in sf.inline) if k == len(path) - 1 else False
        return False

    def absolute(self, segs, ctx_mod, ctx_file, pos=None):
        """A path as written in ctx_mod -> its segments from the crate root, or None (external)."""
        if not segs:
            return None
        head = segs[0]
        if head == "crate":
            return list(segs[1:])
        if head in ("self", "super"):
            path, rest = list(ctx_mod), list(segs)
            if rest[0] == "self":
                rest = rest[1:]
            while rest and rest[0] == "super":
                if not path:
                    return None
                path, rest = path[:-1], rest[1:]
            return path + rest
        if self.is_module(list(ctx_mod) + [head], ctx_file):
            return list(ctx_mod) + list(segs)
        # A name a `use` of this module brought in (`use crate::metrics::record; record::f()`).
        for upos, usegs, binding, glob, _, _ in ctx_file.uses:
            if binding == head and not glob and ctx_file.module_at(upos) == tuple(ctx_mod):
                base = self.absolute(usegs, ctx_file.module_at(upos), ctx_file)
                return None if base is None else base + list(segs[1:])
        return None

    def resolve(self, abs_segs, seen=None):
        """Crate-root segments -> (defining file, the name that led there), or None if external."""
        seen = set() if seen is None else seen
        key = tuple(abs_segs)
        if key in seen:
            return None
        seen.add(key)
        k = len(abs_segs)
        while k >= 0 and tuple(abs_segs[:k]) not in self.modules:
            k -= 1
        if k < 0:
            return None
        rel = self.modules[tuple(abs_segs[:k])]
        sf = self.files[rel]
        rest = abs_segs[k:]
        if not rest:
            return rel, abs_segs[-1] if abs_segs else "crate"
        name = rest[0]
        if name in sf.defined:
            return rel, name
        uses = list(sf.depth0_uses())
        for upos, usegs, binding, glob, _, _ in uses:
            if binding == name and not glob:
                base = self.absolute(usegs, sf.module_at(upos), sf)
                if base is None:
                    return None  # an external crate's item, re-exported
                return self.resolve(base + rest[1:], seen) or None
        for upos, usegs, binding, glob, _, _ in uses:
            if glob:
                base = self.absolute(usegs, sf.module_at(upos), sf)
                if base is not None:
                    hit = self.resolve(base + rest, set(seen))
                    if hit and hit[0] != rel:
                        return hit
        return rel, name

    def edges(self):
        """{(from, to): {names}} for every file of the crate."""
        graph = {}

        def add(src, hit):
            if hit and hit[0] != src and hit[0] in self.files:
                graph.setdefault((src, hit[0]), set()).add(hit[1])

        for rel, sf in self.files.items():
            code = sf.code
            spans = [u[5] for u in sf.uses]
            outside = "".join(" " if any(s <= i < e for s, e in spans) else c for i, c in enumerate(code)) if any(
                u[4] for u in sf.uses) else code
            for pos, segs, binding, glob, public, span in sf.uses:
                if public and (glob or not binding or not re.search(r"(?<![\w:])" + binding + r"\b", outside)):
                    continue  # a re-export only: followed by whoever names it, not an edge
                ctx = sf.module_at(pos)
                base = self.absolute(segs, ctx, sf, pos=pos)
                if base is None:
                    continue
                hit = self.resolve(base)
                if hit is None:
                    continue
                # A module brought into scope is an edge to the files its paths below name.
                if not glob and binding and self.is_module(base, sf) and self.module_file(base, sf):
                    uses_of = [
                        m for m in PATH.finditer(code)
                        if m.group(1) == binding and not any(s <= m.start() < e for s, e in spans)
                    ]
                    if uses_of:
                        for m in uses_of:
                            rest = [p.strip() for p in m.group(2).split("::")[1:]]
                            add(rel, self.resolve(base + rest))
                        continue
                add(rel, (hit[0], "*" if glob else hit[1]))
            # Paths in the code: crate::, super::, self::, a child module's or an imported module's.
            use_spans = [u[5] for u in sf.uses]
            for m in PATH.finditer(code):
                if any(s <= m.start() < e for s, e in use_spans):
                    continue
                if re.search(r"\bin\s*$", code[max(0, m.start() - 8):m.start()]):
                    continue  # pub(in crate::x)
                segs = [m.group(1)] + [p.strip() for p in m.group(2).split("::")[1:]]
                ctx = sf.module_at(m.start())
                if segs[0] not in ("crate", "self", "super") and not self.is_module(list(ctx) + [segs[0]], sf):
                    continue  # imported modules were handled with their use above
                base = self.absolute(segs, ctx, sf, pos=m.start())
                if base is not None:
                    add(rel, self.resolve(base))
        return graph


def sccs(nodes, graph):
    """Tarjan's strongly connected components of more than one file."""
    adj = {n: sorted({b for (a, b) in graph if a == n}) for n in nodes}
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        work = [(v, iter(adj[v]))]
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
                    work.append((w, iter(adj[w])))
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
                    out.append(sorted(comp))

    for n in sorted(nodes):
        if n not in index:
            visit(n)
    return out


def shortest_cycle(comp, graph):
    """One shortest loop inside a component, as a list of files (first repeated at the end)."""
    inside = set(comp)
    adj = {n: sorted(b for (a, b) in graph if a == n and b in inside) for n in comp}
    best = None
    for start in comp:
        prev, frontier = {start: None}, [start]
        found = None
        while frontier and not found:
            nxt = []
            for v in frontier:
                for w in adj[v]:
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found:
                    break
            frontier = nxt
        if found:
            path = [found]
            while prev[path[-1]] is not None:
                path.append(prev[path[-1]])
            path = path[::-1] + [start]
            if best is None or len(path) < len(best):
                best = path
    return best


def check(src_dirs, label=lambda d: d, list_edges=False, out=sys.stdout):
    """Prints the summary and every loop; returns the loops as [(src, [files])]."""
    loops = []
    for src in src_dirs:
        crate = Crate(src)
        graph = crate.edges()
        comps = sccs(crate.files, graph)
        name = label(src)
        print(f"check-imports: {name}: {len(crate.files)} files, {len(graph)} edges"
              + (f", {len(comps)} loop(s)" if comps else ""), file=out)
        if list_edges:
            for (a, b), names in sorted(graph.items()):
                print(f"  {a} -> {b}: {', '.join(sorted(names))}", file=out)
        for comp in comps:
            loops.append((name, comp))
            print(f"\nLOOP in {name}, {len(comp)} files: {' '.join(comp)}", file=out)
            cycle = shortest_cycle(comp, graph)
            print(f"  shortest: {' -> '.join(cycle)}", file=out)
            print("  the imports that tie them (file -> file: names):", file=out)
            inside = set(comp)
            for (a, b), names in sorted(graph.items()):
                if a in inside and b in inside:
                    print(f"    {a} -> {b}: {', '.join(sorted(names))}", file=out)
    return loops


def dot(src_dirs, label):
    print("digraph imports {\n  rankdir=LR; node [shape=box, fontsize=10];")
    for src in src_dirs:
        crate = Crate(src)
        name = label(src)
        print(f'  subgraph "cluster_{name}" {{ label="{name}";')
        for rel in sorted(crate.files):
            print(f'    "{name}/{rel}" [label="{rel}"];')
        for (a, b), names in sorted(crate.edges().items()):
            print(f'    "{name}/{a}" -> "{name}/{b}" [tooltip="{", ".join(sorted(names))}"];')
        print("  }")
    print("}")


def selftest():
    import io
    import tempfile

    cases = {
        "a direct loop": (True, {
            "lib.rs": "pub mod a;\npub mod b;\n",
            "a.rs": "use crate::b::B;\npub struct A;\n",
            "b.rs": "use crate::a::A;\npub struct B;\n",
        }),
        "a loop through a third file and an inline path": (True, {
            "lib.rs": "pub mod a;\npub mod b;\npub mod c;\n",
            "a.rs": "pub fn f() { crate::b::g(); }\n",
            "b.rs": "use crate::c::{self};\npub fn g() { c::h(); }\n",
            "c.rs": "use super::a::f;\npub fn h() { f() }\n",
        }),
        "a loop through a glob re-export": (True, {
            "lib.rs": "pub mod a;\npub mod m;\n",
            "m/mod.rs": "mod inner;\npub use inner::*;\n",
            "m/inner.rs": "use crate::a::A;\npub struct I(A);\n",
            "a.rs": "use crate::m::I;\npub struct A;\n",
        }),
        "no loop: re-exports are followed to the defining file": (False, {
            "lib.rs": "pub mod api;\npub mod metrics;\npub use api::App;\n",
            "api/mod.rs": ("pub mod app;\npub mod error;\npub use app::App;\npub use error::{ApiError as Error, Kind};\n"
                           "pub fn serve() { app::run() }\n"),
            "api/app.rs": "use super::Error;\nuse crate::metrics::count;\npub struct App(Error);\npub fn run() {}\n",
            "api/error.rs": "pub struct ApiError;\npub enum Kind { A }\n",
            "metrics.rs": "use crate::api::Kind;\npub fn count(_: Kind) {}\n",
        }),
        "no loop: comments, strings and test code are not imports": (False, {
            "lib.rs": "pub mod a;\npub mod b;\n",
            "a.rs": "use crate::b::B;\n/// See [`crate::b::B`] and crate::b::B.\npub struct A;\n",
            "b.rs": ('pub struct B;\n// crate::a::A\n/* use crate::a::A; */\n'
                     'pub const S: &str = "crate::a::A";\n'
                     '#[cfg(test)]\nmod tests {\n    use crate::a::A;\n    fn t() { let _ = A; }\n}\n'
                     '#[cfg(test)]\nmod more;\n'),
            "b/more.rs": "use crate::a::A;\n",
            "tests.rs": "use crate::a::A;\n",
        }),
    }
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, (loops_expected, files)) in enumerate(cases.items()):
            src = os.path.join(tmp, f"case{i}", "src")
            for rel, text in files.items():
                path = os.path.join(src, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text)
            buf = io.StringIO()
            found = bool(check([src], out=buf))
            ok = found == loops_expected
            failed += not ok
            if not ok:
                print(f"FAILED: {name}: {'a loop' if found else 'no loop'} found\n{buf.getvalue()}")
    print(f"check-imports selftest: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    flags = {a for a in argv if a.startswith("--")}
    unknown = flags - {"--list", "--dot", "--selftest"}
    if unknown:
        print(__doc__.split("\n\n")[-1], file=sys.stderr)
        return 2
    if "--selftest" in flags:
        return selftest()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not args:
        tools = os.path.join(root, "tools")
        args = [os.path.join(root, "shared", "src")]
        args += sorted(os.path.join(tools, t, "src") for t in os.listdir(tools) if os.path.isdir(os.path.join(tools, t, "src")))
        args += [os.path.join(root, "tests", "e2e", "src")]
    args = [a for a in args if os.path.isdir(a)]

    def label(d):
        rel = os.path.relpath(d, root)
        return d if rel.startswith("..") else rel

    if "--dot" in flags:
        dot(args, label)
        return 0
    loops = check(args, label, list_edges="--list" in flags)
    if loops:
        print(f"\ncheck-imports: {len(loops)} import loop(s); move what both sides need into a module of its own "
              "(scripts/check-imports.py --list shows every edge)")
        return 1
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends it quietly
    sys.exit(main(sys.argv[1:]))
