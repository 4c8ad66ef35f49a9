"""Read YAML keeping the line and column of every key and value.

PyYAML's composer gives nodes with marks; we build plain Python data from them ourselves so
that every value can be traced back to ``file:line:col``. Building by hand also lets us refuse
what PyYAML would accept silently: duplicate keys (the last one would win) and alias bombs
(a few lines that expand to billions of nodes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from compiler.core.diagnostics import Diagnostic, Position, error

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_FILE_BYTES = 1024 * 1024  # a spec file is hand-written; 1 MiB is far beyond any real one
MAX_NODES = 200_000  # after alias expansion
MAX_DEPTH = 64
# Documents in one file (`---` between them). A spec file holds one service, and its Routing
# document at most; what a file costs to compile grows with its services (bench/README.md).
MAX_DOCUMENTS = 100
_BASE_60_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
# The tags of plain YAML data. Anything else (!!python/object/apply:..., !!omap, custom !tags) is
# refused: PyYAML would build a list from a !!python/object/apply list and hide the tag.
_DATA_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}"
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary")
)
_READ_AS = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:timestamp": "a date",
}

Path = tuple  # keys (str) and list indexes (int) from the document root


@dataclass
class SourceDocument:
    """One YAML document: its data plus where each value and key came from."""

    file: str
    data: Any  # plain YAML data: a mapping, a list or a scalar
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)

    def at(self, path: Path) -> Position:
        """Position of the value at ``path``, or of its nearest ancestor that exists."""
        path = tuple(path)
        while path and path not in self.values:
            path = path[:-1]
        return self.values.get(path, Position(self.file, 1, 1))

    def key_at(self, path: Path) -> Position:
        return self.keys.get(tuple(path)) or self.at(path)


class _TooBig(Exception):
    pass


_OPENS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSES = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _surely_shallow(text: str, limit: int) -> bool:
    """True when ``text`` cannot nest deeper than ``limit``, told without parsing it: a block
    collection starts to the right of its parent (one column per level at least), and a flow
    collection needs a bracket of its own. Reading events is several times slower than reading
    the data, and almost every file is far from the limit."""
    longest = max(map(len, text.splitlines()), default=0)
    return longest + 1 + text.count("[") + text.count("{") <= limit


# What libyaml 0.2.5+ says when flow nesting passes its own limit (see _too_deep).
_LIBYAML_NESTING = "exceeded maximum nesting depth"


def _too_deep(file: str, text: str, limit: int = MAX_DEPTH) -> Diagnostic | None:
    """Where the nesting first goes deeper than ``limit``, measured on the event stream.

    libyaml's composer recurses once per level and overflows the C stack (a segfault, not an
    exception) at some ten thousand levels, which ``[[[[...`` reaches in a small file. Its
    parser keeps a stack of its own, so reading events first is safe and stops at the limit.
    """
    if _surely_shallow(text, limit):
        return None
    try:
        return _deeper_than(file, text, limit, _Loader)
    except yaml.YAMLError as exc:
        if _LIBYAML_NESTING not in str(exc):
            return None  # composing finds the same error and reports it with its position
    # libyaml 0.2.5+ (in PyYAML 6.0.4's wheels) refuses flow nesting beyond its own limit while
    # scanning ahead, before the event that crosses ours: the pure-Python parser, which has no
    # such limit and keeps no C stack, finds where ours is crossed, as before.
    try:
        return _deeper_than(file, text, limit, yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def _deeper_than(
    file: str, text: str, limit: int, loader: type[yaml.SafeLoader]
) -> Diagnostic | None:
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, _OPENS):
            depth += 1
            if depth > limit:
                mark = event.start_mark
                assert mark is not None  # the parser marks every event
                return error(
                    Position(file, mark.line + 1, mark.column + 1),
                    "yaml/too-large",
                    f"nested deeper than {limit} levels",
                )
        elif isinstance(event, _CLOSES):
            depth -= 1
    return None


class _Builder:
    def __init__(self, file: str):
        self.file = file
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self.diagnostics: list[Diagnostic] = []
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def pos(self, node: yaml.Node) -> Position:
        return Position(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: Path, depth: int = 0) -> Any:
        """The plain data of ``node`` (None where a diagnostic says why not)."""
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(f"more than {MAX_NODES} YAML nodes (an alias bomb?)")
        if depth > MAX_DEPTH:
            raise _TooBig(f"nested deeper than {MAX_DEPTH} levels")
        self.values[path] = self.pos(node)
        if node.tag not in _DATA_TAGS:
            shown = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.diagnostics.append(
                error(
                    self.pos(node),
                    "yaml/tag",
                    f"tag '{shown}' is not allowed in a spec; write plain YAML data",
                )
            )
            return None
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.diagnostics.append(
                        error(
                            self.pos(key_node),
                            "yaml/merge-key",
                            "'<<' merge keys are not supported; write the keys out",
                        )
                    )
                    continue
                key = self.build(key_node, path + ("<key>",), depth + 1)
                if not isinstance(key, str):
                    key = str(key)  # the schema reports non-string keys by name
                if key in result:
                    first = self.keys[path + (key,)]
                    self.diagnostics.append(
                        error(
                            self.pos(key_node),
                            "yaml/duplicate-key",
                            f"key '{key}' appears twice in the same mapping "
                            f"(first at line {first.line})",
                        )
                    )
                    continue
                self.keys[path + (key,)] = self.pos(key_node)
                result[key] = self.build(value_node, path + (key,), depth + 1)
            self.values.pop(path + ("<key>",), None)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        if (  # a plain (unquoted) scalar: mappings and sequences are done above
            node.tag in _BASE_60_TAGS
            and isinstance(node, yaml.ScalarNode)
            and ":" in node.value
            and not node.style
        ):
            # YAML 1.1 reads 17:00 as the number 1020; Go's YAML (Prometheus, Alertmanager) and
            # YAML 1.2 read the string "17:00", which is what a time of day means.
            return node.value
        try:
            value = self.constructor.construct_object(node, deep=True)
        except ValueError:  # an integer of more than 4300 digits (Python's limit), 2024-13-45
            shown = node.value if len(node.value) <= 20 else node.value[:20] + "..."
            what = _READ_AS.get(node.tag, node.tag)
            self.diagnostics.append(
                error(
                    self.pos(node),
                    "yaml/value",
                    f"cannot read {shown} as {what}; quote it if it is text",
                )
            )
            return None
        if isinstance(value, bytes):
            self.diagnostics.append(
                error(self.pos(node), "yaml/binary", "binary values are not supported")
            )
            return None
        return value


DATA_MAX_DEPTH = 1000  # for YAML that is not a spec: far beyond any real file, far below a crash
# YAML that is not a spec may be large (a ruler's answer for 1,000 services is 20 MiB), so its
# own size is bounded only by what a server answer may be (push/transport.py), with the same
# 1 GiB here for text read some other way. What aliases add is bounded by the spec limit:
# MAX_NODES nodes more than the text has (Go's YAML, which servers write, uses no aliases at all).
MAX_DATA_BYTES = 1024**3


# Where an anchor may start: "&" opening a node's properties, after a line start, a space or a
# flow indicator ("a=1&b=2" in a URL is no anchor). A superset: a quoted " &x" also matches.
_ANCHOR = re.compile(r"(?:^|[\s\[{,])&", re.M)


class DataTooLarge(yaml.YAMLError):
    """YAML that is not a spec exceeds a limit (size, nesting, or what its aliases expand to)."""


def _alias_growth(root: yaml.Node, limit: int) -> int | None:
    """How many nodes more than ``root``'s own the data has once every alias is expanded, as soon
    as that passes ``limit`` (None below). A node an alias reaches counts each time it is reached;
    a node inside itself (``&a [*a]``) is without end. Iterative: the graph is up to
    DATA_MAX_DEPTH deep."""
    expanded: dict[int, int] = {}  # node id -> its size with aliases expanded
    open_ids: set[int] = set()
    distinct = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = _children(node)
        if children_done:
            open_ids.discard(key)
            size = 1 + sum(expanded[id(child)] for child in children)
            expanded[key] = min(size, limit * 2 + 1)  # large enough to say so, no huge ints
            continue
        if key in expanded:
            continue
        if key in open_ids:
            return limit + 1  # reached from inside itself: without end
        open_ids.add(key)
        distinct += 1
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in expanded)
        if any(id(child) in open_ids for child in children):
            return limit + 1
    growth = expanded[id(root)] - distinct
    return growth if growth > limit else None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def load_data(text: str) -> Any:
    """``yaml.safe_load`` for YAML that is not a spec (a server's answer, a generated file), with
    limits: at most MAX_DATA_BYTES characters, DATA_MAX_DEPTH levels (libyaml would crash
    deeper), and aliases that add at most MAX_NODES nodes (an alias bomb of a few hundred bytes
    would otherwise expand to billions as soon as the data is walked). Raises yaml.YAMLError
    (DataTooLarge for a limit)."""
    if len(text) > MAX_DATA_BYTES:
        raise DataTooLarge(f"{len(text)} characters; the limit is {MAX_DATA_BYTES}")
    too_deep = _too_deep("", text, DATA_MAX_DEPTH)
    if too_deep is not None:
        raise DataTooLarge(too_deep.message)
    if not _ANCHOR.search(text):  # no anchor, so no alias can expand anything: the fast path
        return yaml.load(text, Loader=_Loader)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        growth = _alias_growth(root, MAX_NODES)
        if growth is not None:
            raise DataTooLarge(
                f"its aliases expand to more than {MAX_NODES} nodes more than it has "
                "(an alias bomb?)"
            )
        return loader.construct_document(root)
    finally:
        loader.dispose()


def load_documents(file: str, text: bytes | str) -> tuple[list[SourceDocument], list[Diagnostic]]:
    """All documents in ``text`` (empty ones skipped), or diagnostics saying why not."""
    size = len(text)
    if size > MAX_FILE_BYTES:
        return [], [
            error(
                Position(file),
                "yaml/too-large",
                f"file is {size} bytes; the limit is {MAX_FILE_BYTES}",
            )
        ]
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [], [
                error(Position(file), "yaml/encoding", f"not UTF-8 text (byte {exc.start})")
            ]
    if "\x00" in text:
        return [], [
            error(Position(file), "yaml/encoding", "file contains NUL bytes; is it binary?")
        ]
    too_deep = _too_deep(file, text)
    if too_deep is not None:
        return [], [too_deep]
    documents: list[SourceDocument] = []
    diagnostics: list[Diagnostic] = []
    try:
        for node in yaml.compose_all(text, Loader=_Loader):
            if node is None:
                continue
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
                continue  # an empty document between two '---'
            if len(documents) == MAX_DOCUMENTS:
                return [], [
                    error(
                        Position(file, node.start_mark.line + 1, node.start_mark.column + 1),
                        "yaml/too-large",
                        f"more than {MAX_DOCUMENTS} documents in one file; put each service "
                        "in a file of its own",
                    )
                ]
            builder = _Builder(file)
            data = builder.build(node, ())
            diagnostics.extend(builder.diagnostics)
            documents.append(SourceDocument(file, data, builder.values, builder.keys))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file)
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark and exc.problem:
            # e.g. "found unexpected end of stream (while scanning a quoted scalar at line 2,
            # column 10)"
            start = exc.context_mark
            problem += f" ({exc.context} at line {start.line + 1}, column {start.column + 1})"
        return [], [error(where, "yaml/syntax", problem)]
    except yaml.YAMLError as exc:
        return [], [error(Position(file), "yaml/syntax", str(exc).splitlines()[0])]
    except _TooBig as exc:
        return [], [error(Position(file), "yaml/too-large", str(exc))]
    except RecursionError:
        return [], [
            error(Position(file), "yaml/too-large", f"nested deeper than {MAX_DEPTH} levels")
        ]
    return documents, diagnostics
