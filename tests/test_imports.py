"""The tree's import rules, checked on the source (top-level imports, as Python runs them).

``protocol`` is pure: no I/O, no clock, no trio, no libp2p (it is fed bytes and the
time); ``storage`` imports only ``protocol``; ``tui`` talks to a node through the local
API and never imports ``node`` or ``storage``; only ``node`` uses trio and libp2p; and
no package's modules import each other in a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"protocol": "cercle.protocol", "storage": "cercle.storage", "node": "cercle.node",
            "tui": "cercle.tui"}  # fmt: skip
# What pure code must not import: I/O, clocks, concurrency, the network.
IMPURE = {"trio", "libp2p", "multiaddr", "lmdb", "asyncio", "socket", "threading", "time",
          "os", "subprocess", "pathlib", "textual", "random", "secrets"}  # fmt: skip


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((package, *parts))] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Modules imported at the top level (not under ``if TYPE_CHECKING:``)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up) + (f".{node.module}" if node.module else "")
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.add(sub if sub in MODULES else base)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _top(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("name", sorted(n for n in GRAPH if n.startswith("cercle.protocol")))
def test_protocol_is_pure(name: str) -> None:
    bad = {m for m in GRAPH[name] if _top(m) in IMPURE}
    outside = {
        m for m in GRAPH[name] if m.startswith("cercle.") and not m.startswith("cercle.protocol")
    }
    assert not bad and not outside, f"{name} imports {sorted(bad | outside)}"


def test_storage_imports_only_protocol() -> None:
    for name in (n for n in GRAPH if n.startswith("cercle.storage")):
        outside = {m for m in GRAPH[name] if m.startswith("cercle.")
                   and not m.startswith(("cercle.storage", "cercle.protocol"))}  # fmt: skip
        assert not outside, f"{name} imports {sorted(outside)}"
        assert not {m for m in GRAPH[name] if _top(m) in {"trio", "libp2p"}}


def test_tui_talks_to_a_node_only_through_the_api() -> None:
    for name in (n for n in GRAPH if n.startswith("cercle.tui")):
        bad = {m for m in GRAPH[name] if m.startswith(("cercle.node", "cercle.storage"))}
        assert not bad and "trio" not in {_top(m) for m in GRAPH[name]}, name


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(u: str) -> None:
        state[u] = 1
        path.append(u)
        for v in sorted(m for m in GRAPH[u] if m in GRAPH and m != u):
            if state.get(v) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(v) :], v]))
            if v not in state:
                visit(v)
        path.pop()
        state[u] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)
