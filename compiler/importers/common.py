"""What every importer shares: source YAML with positions, a report of what could not be carried
over, and names, labels, annotations and numbers made valid for slo/v1.

Nothing here drops a value silently: whatever is changed or left out becomes a warning that names
the source file, line and field.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from compiler.core import conventions, windows
from compiler.core.diagnostics import Diagnostic, Position, Severity, error, warning
from compiler.core.durations import UNITS
from compiler.spec.validate import field_path
from compiler.spec.yaml_source import SourceDocument
from compiler.text.promtext import TEMPLATE_OPEN

NAME_MAX = 30
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ALERT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_URL = re.compile(r"^https?://\S+$")
_KUBERNETES_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_KUBERNETES_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_KUBERNETES_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
# Prometheus / Go durations as Sloth and Pyrra write them: 5m, 36h, 4w, 1h30m0s.
_DURATION_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_DURATION_UNITS = {**UNITS, "y": 365 * UNITS["d"]}

# A step into parsed YAML: a mapping key or a list index.
Key = str | int


@dataclass(frozen=True)
class Options:
    team: str | None = None  # owning team of every imported service (else from the source)
    service: str | None = None  # put every imported SLO into this service
    period: int = windows.DEFAULT_PERIOD  # for sources that state none (Sloth)


@dataclass(frozen=True)
class Node:
    """A value inside a parsed source document, and where it came from.

    Source YAML is whatever the user wrote, so values are typed ``Any``: every caller checks the
    shape it needs (``isinstance``, ``has``, ``mapping``, ``elements``) before relying on it."""

    doc: SourceDocument
    path: tuple[Key, ...] = ()

    @property
    def value(self) -> Any:
        value: Any = self.doc.data
        for part in self.path:
            value = value[part]
        return value

    @property
    def position(self) -> Position:
        return self.doc.at(self.path)

    @property
    def key_position(self) -> Position:
        return self.doc.key_at(self.path)

    @property
    def field(self) -> str:
        return field_path(self.path)

    def __getitem__(self, key: Key) -> Node:
        return Node(self.doc, self.path + (key,))

    def has(self, key: str) -> bool:
        value = self.value
        return isinstance(value, dict) and key in value and value[key] is not None

    def get(self, key: str, default: Any = None) -> Any:
        return self.value[key] if self.has(key) else default

    def pick(self, *keys: str) -> Node | None:
        """The first of ``keys`` present: Sloth's CRD spells snake_case keys in camelCase."""
        return next((self[k] for k in keys if self.has(k)), None)

    def mapping(self, key: str) -> dict[Any, Any]:
        value = self.get(key)
        return value if isinstance(value, dict) else {}

    def elements(self, key: str) -> list[Node]:
        value = self.get(key)
        return [self[key][i] for i in range(len(value))] if isinstance(value, list) else []


@dataclass
class Report:
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def warn(self, node: Node, check: str, message: str, key: bool = False) -> None:
        where = node.key_position if key else node.position
        self.diagnostics.append(warning(where, check, f"{node.field}: {message}"))

    def fail(self, node: Node, check: str, message: str) -> None:
        self.diagnostics.append(error(node.position, check, f"{node.field}: {message}"))

    @property
    def has_errors(self) -> bool:
        return any(d.severity >= Severity.ERROR for d in self.diagnostics)


# --- names ----------------------------------------------------------------------------------------
def valid_name(raw: object) -> str:
    """A service / SLO name as slo/v1 allows it; long names keep a hash so they stay distinct."""
    text = re.sub(r"[^a-z0-9]+", "-", str(raw).lower()).strip("-") or "unnamed"
    if not text[0].isalpha():
        text = "slo-" + text
    if len(text) > NAME_MAX:
        digest = hashlib.sha1(str(raw).encode("utf-8")).hexdigest()[:6]
        text = text[: NAME_MAX - len(digest) - 1].rstrip("-") + "-" + digest
    return text


def name(report: Report, node: Node, raw: object = None) -> str:
    raw = node.value if raw is None else raw
    new = valid_name(raw)
    if new != raw:
        report.warn(
            node,
            "import/renamed",
            f"'{raw}' is not a valid slo/v1 name (lowercase letters, digits and single hyphens, "
            f"at most {NAME_MAX} characters); imported as '{new}'",
        )
    return new


def alert_name(report: Report, node: Node) -> str:
    raw = str(node.value)
    if _ALERT_NAME.match(raw) and len(raw) <= 100:
        return raw
    new = re.sub(r"[^A-Za-z0-9_]", "", raw)[:100]
    new = new if new[:1].isalpha() else "Slo" + new
    report.warn(
        node,
        "import/renamed",
        f"alert name '{raw}' is not a valid Prometheus alert name; imported as '{new}'",
    )
    return new


# --- labels and annotations -----------------------------------------------------------------------
def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):  # OpenSLO label values may be lists
        return ",".join(_text(v) for v in value)
    return "" if value is None else str(value)


def _template_warning(report: Report, node: Node, value: str) -> None:
    if TEMPLATE_OPEN in value:
        report.warn(
            node,
            "import/template",
            "contains a Go template ('{{'); slo prints spec text literally, so it will be shown "
            "as written, not executed",
        )


def _entries(node: Node | None, prefix: str) -> list[tuple[str, Node]]:
    """(name, node) of a mapping's entries whose key starts with ``prefix``, the prefix stripped."""
    if node is None or not isinstance(node.value, dict):
        return []
    return [(key[len(prefix) :], node[key]) for key in sorted(node.value) if key.startswith(prefix)]


def is_label_name(value: object) -> bool:
    return isinstance(value, str) and bool(_LABEL_NAME.match(value))


def labels(
    report: Report, node: Node | None, skip: tuple[str, ...] = (), prefix: str = ""
) -> dict[str, str]:
    """A source label mapping as slo/v1 labels: reserved and invalid names are left out, with a
    warning. With ``prefix``, only keys carrying it count, and it is stripped (Pyrra's
    `pyrra.dev/team`)."""
    out: dict[str, str] = {}
    for key, child in _entries(node, prefix):
        if key in skip:
            continue
        if not _LABEL_NAME.match(key):
            report.warn(
                child,
                "import/dropped",
                f"'{key}' is not a Prometheus label name; label not imported",
                key=True,
            )
        elif key in conventions.RESERVED_LABELS:
            report.warn(
                child,
                "import/dropped",
                f"label '{key}: {_text(child.value)}' not imported: slo sets '{key}' itself "
                f"(route on the generated value instead)",
                key=True,
            )
        else:
            value = _text(child.value)
            _template_warning(report, child, value)
            out[key] = value
    return out


def alert_annotations(
    report: Report, node: Node | None, runbook: bool = True, prefix: str = ""
) -> tuple[dict[str, str], str | None]:
    """(annotations, runbook_url if ``runbook`` and one is given). Names slo generates are kept
    under a prefix of their own; ``prefix`` selects and strips source keys as for labels()."""
    out: dict[str, str] = {}
    url: str | None = None
    for key, child in _entries(node, prefix):
        value = _text(child.value)
        if not _LABEL_NAME.match(key):
            report.warn(
                child,
                "import/dropped",
                f"'{key}' is not a valid annotation name; annotation not imported",
                key=True,
            )
            continue
        _template_warning(report, child, value)
        if runbook and key == "runbook_url" and _URL.match(value) and len(value) <= 500:
            url = value
        elif key in conventions.GENERATED_ANNOTATIONS:
            renamed = conventions.IMPORTED_ANNOTATION_PREFIX + key
            report.warn(
                child,
                "import/renamed",
                f"slo writes its own '{key}' annotation; this one is kept as '{renamed}'",
                key=True,
            )
            out[renamed] = value
        else:
            out[key] = value
    return out, url


# --- numbers and durations ------------------------------------------------------------------------
def decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def yaml_number(d: Decimal) -> int | float:
    """What the written spec shows: 99 rather than 99.0, 99.95 rather than 9.995E+1."""
    return int(d) if d == d.to_integral_value() else float(d)


def objective(report: Report, node: Node, percent: Decimal | None) -> int | float | None:
    if percent is None:
        report.warn(node, "import/unsupported", f"'{node.value}' is not a number; SLO not imported")
        return None
    if not 0 < percent < 100:
        report.warn(
            node,
            "import/unsupported",
            f"objective {yaml_number(percent)}% cannot be expressed: slo/v1 needs "
            "0 < objective < 100; SLO not imported",
        )
        return None
    return yaml_number(percent)


def seconds(text: object) -> int | None:
    """Seconds in a Prometheus / Go duration (``5m``, ``4w``, ``1h30m0s``), or None."""
    text = str(text).strip()
    if not text or _DURATION_PART.sub("", text):
        return None
    total = 0
    for amount, unit in _DURATION_PART.findall(text):
        if unit == "ms":
            if int(amount) % 1000:
                return None
            total += int(amount) // 1000
        else:
            total += int(amount) * _DURATION_UNITS[unit]
    return total or None


# --- Kubernetes objects ---------------------------------------------------------------------------
def kubernetes_output(
    report: Report, metadata: Node | None, skip_prefix: str | None = None
) -> dict[str, Any]:
    """`outputs` for a source that was a Kubernetes object: its PrometheusRule goes where the tool
    put it (the object's namespace) with the object's labels, which the Prometheus' ruleSelector
    matches. Labels starting with ``skip_prefix`` mean something else to the source tool."""
    if metadata is None:
        return {"kubernetes": True}
    settings: dict[str, Any] = {}
    namespace = metadata.get("namespace")
    if isinstance(namespace, str) and _KUBERNETES_NAME.match(namespace) and len(namespace) <= 63:
        settings["namespace"] = namespace
    elif namespace is not None:
        report.warn(
            metadata["namespace"],
            "import/dropped",
            f"'{namespace}' is not a Kubernetes namespace name; not imported",
        )
    rule_labels: dict[str, str] = {}
    for key, value in sorted(metadata.mapping("labels").items()):
        if skip_prefix and key.startswith(skip_prefix):
            continue
        managed = key in conventions.KUBERNETES_MANAGED_LABELS
        if (
            isinstance(value, str)
            and _KUBERNETES_LABEL_KEY.match(key)
            and _KUBERNETES_LABEL_VALUE.match(value)
            and not managed
        ):
            rule_labels[key] = value
        else:
            why = "is set by slo" if managed else "is not a valid Kubernetes label"
            report.warn(
                metadata["labels"][key],
                "import/dropped",
                f"{why}; not put on the PrometheusRule",
                key=True,
            )
    if rule_labels:
        settings["labels"] = rule_labels
    return {"kubernetes": settings or True}
