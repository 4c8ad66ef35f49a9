"""The compile's only reads: which spec files there are, how they are named, their bytes, and
the Alertmanager base config a Routing spec names."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from compiler.core.diagnostics import Diagnostic, Position, error
from compiler.spec.yaml_source import SourceDocument

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Source:
    """One spec file's bytes, named as diagnostics and file headers name it."""

    name: str
    raw: bytes
    path: Path | None = None  # None for a spec that is not a file (e.g. one `slo import` makes)


def spec_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file())


def display_name(root: Path, path: Path) -> str:
    """How a spec file is named in diagnostics and headers: relative, stable across machines."""
    if root.is_file():
        return root.name if root.is_absolute() else str(root)
    return (Path(root.name) / path.relative_to(root)).as_posix()


def read_tree(root: Path) -> tuple[list[Source], list[Diagnostic]]:
    """Every spec file under ``root`` (or ``root`` itself); why one could not be read."""
    if not root.exists():
        return [], [error(Position(str(root)), "spec/missing", "no such file or directory")]
    files = spec_files(root)
    if not files:
        return [], [error(Position(str(root)), "spec/missing", "no .yaml or .yml spec files found")]
    sources, diagnostics = [], []
    for path in files:
        name = display_name(root, path)
        try:
            sources.append(Source(name, path.read_bytes(), path))
        except OSError as exc:
            diagnostics.append(error(Position(name), "spec/read", exc.strerror or str(exc)))
    return sources, diagnostics


def from_texts(texts: list[tuple[str, bytes | str]]) -> list[Source]:
    """Spec texts that are not (yet) files, each with the name diagnostics should give it."""
    return [
        Source(name, raw.encode("utf-8") if isinstance(raw, str) else raw) for name, raw in texts
    ]


def read_base_config(
    doc: SourceDocument, source: Source, root: Path | None
) -> tuple[tuple[str, bytes] | None, list[Diagnostic]]:
    """The base config the Routing document ``doc`` (of ``source``) names, as (its name in
    diagnostics, its bytes); or why it cannot be read. (None, []) when it names none."""
    ref = doc.data.get("base_config") if isinstance(doc.data, dict) else None
    if ref is None:
        return None, []
    where = doc.at(("base_config",))
    if source.path is None:
        return None, [
            error(where, "routing/base-config", "base_config needs the spec to be a file")
        ]
    base_path = (source.path.parent / ref).resolve()
    shown = posixpath.normpath(posixpath.join(posixpath.dirname(source.name), ref))
    if root is not None and root.is_dir() and base_path.is_relative_to(root.resolve()):
        return None, [
            error(
                where,
                "routing/base-config",
                f"base_config: keep {shown} outside {root.name}/ (every YAML file there is read "
                "as a spec)",
            )
        ]
    try:
        return (shown, base_path.read_bytes()), []
    except OSError as exc:
        return None, [error(where, "spec/read", f"base_config: {shown}: {exc.strerror or exc}")]
