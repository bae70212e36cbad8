"""How much of MXNet 1.9.1's public API mxrs has, per namespace.

The names come from tests/data/mxnet_api_names.json (written by tools/mxnet_api_names.py with
real MXNet). The names mxrs leaves out, with the reasons, are the list in the README section
"MXNet names left out": bullets of the form::

    - `mx.nd.contrib`: why these names are left out.
      `AdaptiveAvgPooling2D`, `BatchNormWithReLU`, ...

Usage::

    python tools/api_coverage.py           # the table; exits 1 when the list is not honest
    python tools/api_coverage.py --prune   # drop from the list the names mxrs now has

The list is honest when every MXNet name that mxrs lacks is in it and no name in it exists in
mxrs (tests/unit/test_api_coverage.py checks both).
"""

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMES_FILE = ROOT / "tests" / "data" / "mxnet_api_names.json"
README = ROOT / "README.md"
SECTION = "## MXNet names left out"
_HEAD = re.compile(r"^- `(mx(?:\.\w+)*)`: (.+)$")
_NAME = re.compile(r"`([A-Za-z_]\w*)`")
_WIDTH = 100


def mxnet_names():
    """``{namespace: [names]}`` of MXNet 1.9.1 (namespaces as ``mx.gluon.nn``)."""
    return json.loads(NAMES_FILE.read_text())["namespaces"]


def _resolve(mx, ns):
    obj = mx
    for part in ns.split(".")[1:]:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def present(mx, ns, name):
    """Whether ``ns.name`` exists in the library ``mx``."""
    obj = _resolve(mx, ns)
    return obj is not None and hasattr(obj, name)


def _section_bounds(lines):
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is None:
        raise SystemExit(f"{README}: no section '{SECTION}'")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return start, end


def parse_left_out(text=None):
    """The README's list: ``[(namespace, reason, [names])]`` in order."""
    lines = (README.read_text() if text is None else text).splitlines()
    start, end = _section_bounds(lines)
    entries = []
    for line in lines[start + 1 : end]:
        head = _HEAD.match(line)
        if head:
            entries.append((head.group(1), head.group(2).strip(), []))
        elif entries and line.startswith("  ") and line.strip():
            entries[-1][2].extend(_NAME.findall(line))
        elif line.strip() and not line.startswith("- ") and entries:
            # A paragraph after the bullets ends the list.
            break
    return entries


def left_out_names(entries):
    """``{(namespace, name): reason}`` of the list."""
    return {(ns, name): reason for ns, reason, names in entries for name in names}


def _wrap(names):
    out, line = [], "  "
    for token in (f"`{n}`," for n in names):
        if len(line) + len(token) + 1 > _WIDTH and line.strip():
            out.append(line.rstrip())
            line = "  "
        line += token + " "
    out.append(line.rstrip().rstrip(","))
    return out


def render_entries(entries):
    """The bullet lines of ``entries`` (empty entries left out)."""
    lines = []
    for ns, reason, names in entries:
        if names:
            lines.append(f"- `{ns}`: {reason}")
            lines.extend(_wrap(names))
    return lines


def coverage(mx):
    """Per namespace: ``(total, present, left_out, unlisted_missing, listed_but_present)``."""
    names = mxnet_names()
    listed = left_out_names(parse_left_out())
    rows = {}
    for ns, ns_names in names.items():
        have = [n for n in ns_names if present(mx, ns, n)]
        missing = [n for n in ns_names if n not in set(have)]
        left = [n for n in missing if (ns, n) in listed]
        unlisted = [n for n in missing if (ns, n) not in listed]
        stale = [n for (lns, n) in listed if lns == ns and (n in set(have) or n not in set(ns_names))]
        rows[ns] = (len(ns_names), len(have), len(left), unlisted, stale)
    extra = sorted({lns for lns, _ in listed} - set(names))
    for ns in extra:
        rows[ns] = (0, 0, 0, [], [n for (lns, n) in listed if lns == ns])
    return rows


def table(rows):
    """The coverage table as text."""
    out = [f"{'namespace':34} {'MXNet':>6} {'mxrs':>6} {'left out':>8} {'coverage':>9}"]
    tot = [0, 0, 0]
    for ns, (total, have, left, _, _) in rows.items():
        pct = 100.0 * have / total if total else 100.0
        out.append(f"{ns:34} {total:6d} {have:6d} {left:8d} {pct:8.1f}%")
        tot = [tot[0] + total, tot[1] + have, tot[2] + left]
    out.append(f"{'all':34} {tot[0]:6d} {tot[1]:6d} {tot[2]:8d} {100.0 * tot[1] / max(tot[0], 1):8.1f}%")
    return "\n".join(out)


def problems(rows):
    """Lines naming each dishonesty of the list (empty when it is honest)."""
    out = []
    for ns, (_, _, _, unlisted, stale) in rows.items():
        if unlisted:
            out.append(f"{ns}: missing from mxrs and not in the left-out list: {', '.join(unlisted)}")
        if stale:
            out.append(f"{ns}: in the left-out list but present in mxrs (or not MXNet's): {', '.join(stale)}")
    return out


def prune(mx):
    """Rewrite the README's list without the names mxrs now has; returns how many went."""
    text = README.read_text()
    lines = text.splitlines()
    start, end = _section_bounds(lines)
    entries = parse_left_out(text)
    names = mxnet_names()
    kept, dropped = [], 0
    for ns, reason, ns_names in entries:
        keep = [n for n in ns_names if n in names.get(ns, ()) and not present(mx, ns, n)]
        dropped += len(ns_names) - len(keep)
        kept.append((ns, reason, keep))
    body = lines[start + 1 : end]
    first = next((i for i, line in enumerate(body) if _HEAD.match(line)), len(body))
    last = first
    for i in range(first, len(body)):
        if _HEAD.match(body[i]) or (body[i].startswith("  ") and body[i].strip()):
            last = i + 1
        elif body[i].strip():
            break
    new_body = body[:first] + render_entries(kept) + body[last:]
    README.write_text("\n".join(lines[: start + 1] + new_body + lines[end:]) + "\n")
    return dropped


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prune", action="store_true", help="drop the names mxrs now has from the README's list")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "python"))
    import mxrs

    if args.prune:
        print(f"pruned {prune(mxrs)} names from the README's left-out list")
    rows = coverage(mxrs)
    print(table(rows))
    issues = problems(rows)
    for line in issues:
        print(line, file=sys.stderr)
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
