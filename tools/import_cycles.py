"""Find file-level import cycles in the Python package and (with ``--rust``) the Rust crates.

Python: every ``import``/``from ... import`` in ``python/mxrs`` counts, at module level or inside
a function, except those under ``if TYPE_CHECKING:`` (never run). ``from pkg import name``
points at ``pkg/name.py`` when that is a module, else at ``pkg/__init__.py``; importing a module
does not count as importing its parent packages.

Rust: each ``.rs`` file reachable through ``mod`` declarations from ``crates/*/src/lib.rs``
(``main.rs``) is a node. Its ``use`` trees and the paths in its code that start with ``crate::``,
``super::``, ``self::`` or a child module's name point at the file of the longest module prefix
of the path (inline modules such as ``mod tests { .. }`` belong to their file and resolve
``super`` from where they stand). ``mod x;`` declarations themselves are not imports.

Prints each strongly connected component with more than one file, with the imports inside
it, and exits 1 when there is one::

    python tools/import_cycles.py           # the Python package (CI)
    python tools/import_cycles.py --rust    # the Rust crates too
"""

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY_ROOT = ROOT / "python"
PY_PACKAGE = "mxrs"


class Graph:
    """Files and the imports between them: ``edges[src][dst]`` is the first ``(line, note)``."""

    def __init__(self):
        self.nodes = set()
        self.edges = {}

    def add_edge(self, src, dst, line, note):
        """Record an import of ``dst`` by ``src`` (a file importing itself is ignored)."""
        if src != dst:
            self.edges.setdefault(src, {}).setdefault(dst, (line, note))

    def cycles(self):
        """The strongly connected components with more than one node, each sorted."""
        index, low, on_stack, stack, comps = {}, {}, set(), [], []
        for root in sorted(self.nodes):
            if root in index:
                continue
            work = [(root, iter(sorted(self.edges.get(root, {}))))]
            index[root] = low[root] = len(index)
            stack.append(root)
            on_stack.add(root)
            while work:
                node, children = work[-1]
                child = next(children, None)
                if child is not None:
                    if child not in index:
                        index[child] = low[child] = len(index)
                        stack.append(child)
                        on_stack.add(child)
                        work.append((child, iter(sorted(self.edges.get(child, {})))))
                    elif child in on_stack:
                        low[node] = min(low[node], index[child])
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        comp.append(member)
                        if member == node:
                            break
                    if len(comp) > 1:
                        comps.append(sorted(comp))
        return sorted(comps)

    def report(self, label):
        """Print the cycles of the graph; returns how many there are."""
        comps = self.cycles()
        if not comps:
            print(f"{label}: no import cycles ({len(self.nodes)} files)")
            return 0
        for comp in comps:
            members = set(comp)
            print(f"{label}: import cycle through {len(comp)} files:")
            for src in comp:
                for dst, (line, note) in sorted(self.edges.get(src, {}).items()):
                    if dst in members:
                        print(f"  {src}:{line} -> {dst}{f' ({note})' if note else ''}")
        return len(comps)


# ----------------------------------------------------------------------------------- Python
def _py_modules(pkg_dir):
    """Dotted module name -> file, for every ``.py`` file of the package.

    An extension module counts through its stub (``_native.pyi``); its stub is not parsed.
    """
    mods = {}
    for path in sorted(pkg_dir.rglob("*.py")) + sorted(pkg_dir.rglob("*.pyi")):
        parts = list(path.relative_to(pkg_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods.setdefault(".".join(parts), path)
    return mods


def _is_type_checking(test):
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _py_imports(tree):
    """``(node, in_function)`` for every import statement that can run."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    visit_one(stmt, in_function)
                continue
            visit_one(child, in_function)

    def visit_one(node, in_function):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append((node, in_function))
        fn = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        visit(node, in_function or fn)

    visit(tree, False)
    return found


def _py_targets(node, module, is_package, mods):
    """Module names (known to ``mods``) that an import statement loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = module.split(".")
            keep = len(parts) - node.level + (1 if is_package else 0)
            base = ".".join(parts[:keep] + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else base for alias in node.names]
    out = []
    for name in names:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        if name:
            out.append(name)
    return out


def python_graph(pkg_dir):
    """The import graph of the package in ``pkg_dir`` (paths relative to the repository)."""
    graph = Graph()
    mods = _py_modules(pkg_dir)
    for module, path in mods.items():
        src = str(path.relative_to(ROOT))
        graph.nodes.add(src)
        if path.suffix == ".pyi":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, in_function in _py_imports(tree):
            for target in _py_targets(node, module, path.name == "__init__.py", mods):
                dst = str(mods[target].relative_to(ROOT))
                graph.add_edge(src, dst, node.lineno, "in a function" if in_function else "")
    return graph


# ------------------------------------------------------------------------------------- Rust
_RUST_TOKEN = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*|::|\"\d+\"|\S")


def _strip_rust(text):
    """``text`` with comments blanked and each string literal replaced by ``"<index>"``.

    Newlines are kept so that line numbers stay right; returns ``(code, strings)``.
    """
    out, strings, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif m := re.match(r'b?r(#*)"', text[i : i + 260]):
            end = text.find('"' + m.group(1), i + m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            strings.append(text[i + m.end() : end - 1 - len(m.group(1))])
            out.append(f'"{len(strings) - 1}"' + "\n" * text.count("\n", i, end))
            i = end
        elif c == '"' or text.startswith('b"', i):
            j = i + (2 if c == "b" else 1)
            start = j
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            strings.append(text[start:j])
            out.append(f'"{len(strings) - 1}"' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and (m := re.match(r"'(\\.[^']*|[^\\'])'", text[i : i + 12])):
            out.append("' '")
            i += m.end()
        elif c.isalnum() or c == "_":
            m = re.match(r"[A-Za-z0-9_]+", text[i:])
            out.append(m.group(0))
            i += m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out), strings


def _rust_tokens(text):
    """``[(token, line)]`` of a Rust file, comments and strings stripped."""
    code, strings = _strip_rust(text)
    tokens, line = [], 1
    for m in re.finditer(r"\n|" + _RUST_TOKEN.pattern, code):
        tok = m.group(0)
        if tok == "\n":
            line += 1
        else:
            tokens.append((tok, line))
    return tokens, strings


def _use_paths(tokens):
    """Expand a use tree (the tokens between ``use`` and ``;``) into segment lists."""
    paths, pos = [], 0

    def tree(prefix):
        nonlocal pos
        path = list(prefix)
        while pos < len(tokens):
            tok = tokens[pos]
            if tok == "{":
                pos += 1
                while pos < len(tokens) and tokens[pos] != "}":
                    tree(path)
                    if pos < len(tokens) and tokens[pos] == ",":
                        pos += 1
                pos += 1
                return
            if tok in (",", "}"):
                break
            if tok == "as":
                pos += 2
                break
            if tok != "::":
                path.append(tok)
            pos += 1
        if path:
            paths.append(path)

    while pos < len(tokens):
        tree([])
        if pos < len(tokens) and tokens[pos] == ",":
            pos += 1
    return paths


class _RustFile:
    """One parsed file: its ``mod`` declarations and the paths it uses."""

    def __init__(self, path):
        self.path = path
        tokens, strings = _rust_tokens(path.read_text(encoding="utf-8"))
        self.mods = []  # (inline path, name, inline?, #[path] or None)
        self.refs = []  # (inline path, segments, line, note)
        self._parse([t for t, _ in tokens], [line for _, line in tokens], strings)

    def _parse(self, toks, lines, strings):
        inline, depth_stack, depth, attr_path, i = [], [], 0, None, 0
        while i < len(toks):
            tok = toks[i]
            if tok == "#" and toks[i + 1 : i + 4] == ["[", "path", "="]:
                attr_path = strings[int(toks[i + 4].strip('"'))]
            elif tok == "mod" and i + 2 < len(toks) and toks[i + 2] in (";", "{"):
                name = toks[i + 1]
                self.mods.append((tuple(inline), name, toks[i + 2] == "{", attr_path))
                attr_path = None
                if toks[i + 2] == "{":
                    inline.append(name)
                    depth_stack.append(depth)
                    depth += 1
                i += 3
                continue
            elif tok == "{":
                depth += 1
            elif tok == "}":
                depth -= 1
                if depth_stack and depth == depth_stack[-1]:
                    depth_stack.pop()
                    inline.pop()
            elif tok == "use":
                end = toks.index(";", i)
                public = toks[i - 1] == "pub" or (toks[i - 1] == ")" and "pub" in toks[max(0, i - 5) : i])
                for segs in _use_paths(toks[i + 1 : end]):
                    self.refs.append((tuple(inline), segs, lines[i], "pub use" if public else "use"))
                i = end
            elif tok not in ("::", "$crate") and i + 1 < len(toks) and toks[i + 1] == "::":
                if i == 0 or toks[i - 1] != "::":
                    segs, j = [tok], i + 1
                    while j + 1 < len(toks) and toks[j] == "::" and toks[j + 1] not in ("{", "<", "*"):
                        segs.append(toks[j + 1])
                        j += 2
                    self.refs.append((tuple(inline), segs, lines[i], "path"))
                    i = j
                    continue
            i += 1


def _crate_modules(src):
    """Module path (tuple) -> ``(file, parsed file)`` from the crate root's ``mod`` tree."""
    roots = [p for p in (src / "lib.rs", src / "main.rs") if p.exists()]
    files, inline_of = {}, {}
    todo = [((), root, True) for root in roots]
    while todo:
        mod_path, path, owns_dir = todo.pop()
        if not path.exists() or mod_path in files:
            continue
        parsed = _RustFile(path)
        files[mod_path] = (path, parsed)
        base = path.parent if owns_dir else path.parent / path.stem
        for inline, name, is_inline, attr_path in parsed.mods:
            full = mod_path + inline + (name,)
            if is_inline:
                inline_of[full] = path
                continue
            if attr_path is not None:
                todo.append((full, path.parent / attr_path, False))
                continue
            sub = base.joinpath(*inline)
            child = sub / f"{name}.rs"
            todo.append((full, child, False) if child.exists() else (full, sub / name / "mod.rs", True))
    return files, inline_of


def _resolve(segs, here, modules):
    """The module path a Rust path names (its longest known module prefix), or None."""
    if segs[0] == "crate":
        base, rest = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base, k = here, 0
        while k < len(segs) and segs[k] in ("super", "self"):
            base = base[:-1] if segs[k] == "super" else base
            k += 1
        rest = segs[k:]
    elif here + (segs[0],) in modules:
        base, rest = here + (segs[0],), segs[1:]
    else:
        return None
    for seg in rest:
        if base + (seg,) not in modules:
            break
        base = base + (seg,)
    return base


def rust_graph(crates_dir):
    """The file-level import graph of every crate under ``crates_dir``."""
    graph = Graph()
    for src in sorted(crates_dir.glob("*/src")):
        files, inline_of = _crate_modules(src)
        modules = set(files) | set(inline_of)

        def file_of(mod, files=files, inline_of=inline_of):
            while mod not in files:
                if mod in inline_of:
                    return inline_of[mod]
                mod = mod[:-1]
            return files[mod][0]

        for mod_path, (path, parsed) in files.items():
            rel = str(path.relative_to(ROOT))
            graph.nodes.add(rel)
            for inline, segs, line, note in parsed.refs:
                here = mod_path + inline
                target = _resolve(segs, here, modules)
                if note == "pub use" and target is not None and target[: len(here)] == here:
                    continue  # a parent presenting its children's items, as a `mod` declaration does
                if target is not None:
                    graph.add_edge(rel, str(file_of(target).relative_to(ROOT)), line, note)
    return graph


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rust", action="store_true", help="check the Rust crates too")
    ap.add_argument("--no-python", action="store_true", help="skip the Python package")
    args = ap.parse_args(argv)
    found = 0
    if not args.no_python:
        found += python_graph(PY_ROOT / PY_PACKAGE).report("python")
    if args.rust:
        found += rust_graph(ROOT / "crates").report("rust")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
