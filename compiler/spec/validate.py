"""JSON Schema validation of spec documents, with every error turned into a Diagnostic.

The schemas are compiled once per process. Messages name the field path the way a user
would write it (``slos[0].indicator.ratio.total``) and point at the offending key or value.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any, TypeGuard

import jsonschema

from compiler.core.diagnostics import Diagnostic, error, shown
from compiler.spec.yaml_source import SourceDocument

API_VERSION = "slo/v1"
# kind -> schema file. A document without `kind` is a Service.
SCHEMAS = {"Service": "slo.v1.json", "Routing": "routing.v1.json"}


def _numeric(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float range: Prometheus would read it as ±Inf
        return False


def _finite_number(checker: object, instance: object) -> bool:
    # YAML has .nan and .inf; neither is a usable objective, threshold or count.
    return _numeric(instance) and _finite(instance)


@functools.cache
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    r"""A JSON Schema ``pattern`` (an ECMA-262 regex) as Python must run it to mean the same.

    jsonschema runs patterns through ``re.search``, where ``$`` also matches before a final
    newline and ``.`` matches a carriage return: "checkout\n" passed ``^[a-z]+$`` and became a
    rule file name. In ECMA-262 (without the m and s flags) ``$`` is the end of the input and
    ``.`` matches no line terminator, so outside character classes ``$`` becomes ``\Z`` and
    ``.`` a class without them."""
    out = []
    in_class = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "$":
            c = r"\Z"
        elif c == ".":
            c = r"[^\n\r\u2028\u2029]"
        out.append(c)
        i += 1
    return re.compile("".join(out))


def _pattern(
    validator: jsonschema.protocols.Validator, pattern: str, instance: object, schema: dict
) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(str(instance)):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 2020-12 with the two places where Python would read a schema differently from its
# authors: numbers (finite only) and patterns (ECMA-262 anchors). Every schema slo validates
# with goes through SchemaValidator.
SchemaValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("number", _finite_number),
)


@functools.cache
def validator(kind: str) -> jsonschema.Draft202012Validator:
    text = resources.files("compiler.spec").joinpath("schema", SCHEMAS[kind]).read_text("utf-8")
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return SchemaValidator(_inline_refs(schema, schema.get("$defs", {})))


def _inline_refs(node: Any, defs: dict, seen: tuple = ()) -> Any:
    """The schema with each ``{"$ref": "#/$defs/x", ...}`` replaced by the definition itself
    (when its keys do not clash), so validating does not resolve references for every value:
    half the validation time of a spec. A recursive definition keeps its ``$ref``."""
    if isinstance(node, list):
        return [_inline_refs(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and ref not in seen and ref[8:] in defs:
        target = _inline_refs(defs[ref[8:]], defs, seen + (ref,))
        rest = {k: _inline_refs(v, defs, seen) for k, v in node.items() if k != "$ref"}
        if isinstance(target, dict) and not rest.keys() & target.keys():
            return {**target, **rest}
    return {k: _inline_refs(v, defs, seen) for k, v in node.items()}


def field_path(path: Iterable[object]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = shown(str(part), 100)  # a key may hold a newline: the message stays one line
            out += f".{text}" if out else text
    return out or "(document)"


def document_kind(doc: SourceDocument) -> tuple[str | None, list[Diagnostic]]:
    data = doc.data
    if not isinstance(data, dict):
        return None, [
            error(
                doc.at(()),
                "schema/type",
                f"a spec document must be a mapping, got {_type_name(data)}",
            )
        ]
    version = data.get("apiVersion")
    if version is None:
        return None, [error(doc.at(()), "spec/api-version", f"missing 'apiVersion: {API_VERSION}'")]
    if version != API_VERSION:
        return None, [
            error(
                doc.at(("apiVersion",)),
                "spec/api-version",
                f"apiVersion {_quoted(version)} is not supported; use '{API_VERSION}'",
            )
        ]
    kind = data.get("kind", "Service")
    if not isinstance(kind, str) or kind not in SCHEMAS:
        known = ", ".join(sorted(SCHEMAS))
        return None, [
            error(
                doc.at(("kind",)),
                "spec/kind",
                f"kind {_quoted(kind)} is not known; expected one of: {known}",
            )
        ]
    return kind, []


def validate_document(doc: SourceDocument, kind: str) -> list[Diagnostic]:
    errors = validator(kind).iter_errors(doc.data)
    return [
        schema_diagnostic(doc, e)
        for e in sorted(errors, key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    ]


def _type_name(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _quoted(value: object) -> str:
    return f"'{shown(value)}'" if isinstance(value, str) else _show(value)


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def schema_diagnostic(doc: SourceDocument, e: jsonschema.ValidationError) -> Diagnostic:
    """One JSON Schema error as a Diagnostic: the field path as a user writes it, at the key or
    value it is about. Shared by every YAML file slo validates (specs, targets.yaml)."""
    path = tuple(e.absolute_path)
    where = field_path(path)
    check = f"schema/{e.validator}"
    schema = e.schema if isinstance(e.schema, dict) else {}
    v = e.validator
    if v == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extras = [k for k in e.instance if k not in schema.get("properties", {})]
        key = sorted(extras)[0]
        hint = difflib.get_close_matches(key, allowed, n=1)
        suggestion = (
            f"; did you mean '{hint[0]}'?" if hint else f"; allowed keys: {', '.join(allowed)}"
        )
        return error(
            doc.key_at(path + (key,)),
            "schema/unknown-key",
            f"{field_path(path + (key,))}: unknown key '{shown(key, 100)}'{suggestion}",
        )
    if v == "required":
        match = re.match(r"^'(.*)' is a required property$", e.message)
        key = match.group(1) if match else next(k for k in e.validator_value if k not in e.instance)
        prefix = f"{where}: " if path else ""
        return error(doc.at(path), "schema/required", f"{prefix}missing required key '{key}'")
    if v == "type":
        expected = e.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        if _numeric(e.instance) and not _finite(e.instance):
            rng = _range_text(schema) or "a finite number"
            return error(
                doc.at(path),
                "schema/range",
                f"{where}: {_show(e.instance)} is out of range; must be {rng}",
            )
        got = "" if e.instance is None else " " + _show(e.instance)
        return error(
            doc.at(path),
            "schema/type",
            f"{where}: expected {expected}, got {_type_name(e.instance)}{got}",
        )
    if "propertyNames" in e.schema_path:
        key = str(e.instance)
        what = "label name" if path and path[-1] in ("labels", "annotations", "match") else "key"
        rule = "letters, digits and underscores, not starting with a digit"
        return error(
            doc.key_at(path + (key,)),
            "schema/label-name",
            f"{field_path(path + (key,))}: {what} '{shown(key, 100)}' is not valid: use {rule}",
        )
    if v == "pattern":
        description = schema.get("description") or f"must match {e.validator_value}"
        return error(
            doc.at(path),
            "schema/pattern",
            f"{where}: {_show(e.instance)} is not valid: {description}",
        )
    if v in ("enum", "const"):
        options = e.validator_value if v == "enum" else [e.validator_value]
        choices = ", ".join(json.dumps(o) for o in options)
        return error(
            doc.at(path),
            f"schema/{v}",
            f"{where}: {_show(e.instance)} is not allowed; expected {choices}",
        )
    if v in ("exclusiveMinimum", "minimum", "exclusiveMaximum", "maximum"):
        words = {
            "exclusiveMinimum": "greater than",
            "minimum": "at least",
            "exclusiveMaximum": "less than",
            "maximum": "at most",
        }[v]
        rng = _range_text(schema)
        return error(
            doc.at(path),
            "schema/range",
            f"{where}: {_show(e.instance)} is out of range; "
            f"must be {rng or words + ' ' + str(e.validator_value)}",
        )
    if v in ("minProperties", "maxProperties") and path and path[-1] == "indicator":
        return error(
            doc.at(path), "schema/indicator", f"{where}: needs exactly one of 'ratio' or 'latency'"
        )
    if v in ("maxItems", "maxProperties"):
        what = "entries" if v == "maxItems" else "keys"
        return error(
            doc.at(path),
            "schema/length",
            f"{where}: has {len(e.instance)} {what}; at most {e.validator_value} are allowed",
        )
    if v in ("maxLength", "minLength"):
        limit = e.validator_value
        if v == "maxLength":
            return error(doc.at(path), "schema/length", f"{where}: longer than {limit} characters")
        return error(doc.at(path), "schema/length", f"{where}: must not be empty")
    if v == "anyOf" and path and path[-1] == "period":
        # a word: a calendar period slo does not know; anything else: a malformed duration
        if isinstance(e.instance, str) and e.instance.isalpha():
            return error(
                doc.at(path),
                "schema/period",
                f"{where}: {_show(e.instance)} is not a calendar period; expected month or week, "
                "or a duration such as 30d",
            )
        best = next((sub for sub in e.context or () if sub.validator == "pattern"), None)
        if best is not None:
            return error(
                doc.at(path),
                "schema/pattern",
                f"{where}: {_show(e.instance)} is not valid: {best.schema.get('description')}",
            )
        return error(
            doc.at(path),
            "schema/type",
            f"{where}: expected a duration such as 30d, or month or week, got "
            f"{_type_name(e.instance)} {_show(e.instance)}",
        )
    if v == "oneOf" and path and path[-1] == "threshold":
        return error(
            doc.at(path),
            "schema/type",
            f"{where}: expected a duration such as 2s or 1m, or a positive number, "
            f"got {_show(e.instance)}",
        )
    return error(doc.at(path), check, f"{where}: {e.message}")


def _range_text(schema: dict) -> str:
    lo = schema.get("exclusiveMinimum"), schema.get("minimum")
    hi = schema.get("exclusiveMaximum"), schema.get("maximum")
    parts = []
    if lo[0] is not None:
        parts.append(f"greater than {lo[0]}")
    elif lo[1] is not None:
        parts.append(f"at least {lo[1]}")
    if hi[0] is not None:
        parts.append(f"less than {hi[0]}")
    elif hi[1] is not None:
        parts.append(f"at most {hi[1]}")
    return " and ".join(parts)
