"""The shape an Alertmanager base config must have before slo merges its routes into it.

slo copies the base config into out/ and adds to its route tree, receivers, inhibit rules and
time intervals. A base that Alertmanager would refuse (a route naming an undefined receiver, a
receiver defined twice, an unknown top-level key) would only fail later, in `slo test` or on the
server; one whose parts have the wrong type would crash the merge. Both are found here, with the
base config's file, line and field. Everything else in it is Alertmanager's business and is kept
as written.
"""

from __future__ import annotations

import difflib

from compiler.core.diagnostics import Diagnostic, error
from compiler.spec.validate import field_path
from compiler.spec.yaml_source import SourceDocument

# The top-level keys of Alertmanager 0.25's configuration; it refuses any other.
TOP_LEVEL = (
    "global",
    "templates",
    "route",
    "receivers",
    "inhibit_rules",
    "mute_time_intervals",
    "time_intervals",
)
LISTS_OF_MAPPINGS = ("receivers", "inhibit_rules", "mute_time_intervals", "time_intervals")


class _Checker:
    def __init__(self, base: SourceDocument):
        self.base = base
        self.diagnostics: list[Diagnostic] = []

    def fail(self, path: tuple, check: str, message: str, key: bool = False) -> None:
        where = self.base.key_at(path) if key else self.base.at(path)
        self.diagnostics.append(error(where, check, f"{field_path(path)}: {message}"))

    def run(self) -> list[Diagnostic]:
        data = self.base.data
        for key in data:
            if key not in TOP_LEVEL:
                hint = difflib.get_close_matches(str(key), TOP_LEVEL, n=1)
                also = f"; did you mean '{hint[0]}'?" if hint else ""
                self.fail(
                    (key,),
                    "routing/base-config",
                    f"Alertmanager has no setting '{key}' and would refuse the file{also}",
                    key=True,
                )
        if data.get("global") is not None and not isinstance(data["global"], dict):
            self.fail(("global",), "routing/base-config", "must be a mapping")
        templates = data.get("templates") or []
        if not isinstance(templates, list) or not all(isinstance(t, str) for t in templates):
            self.fail(("templates",), "routing/base-config", "must be a list of file globs")
        lists_ok = True
        for key in LISTS_OF_MAPPINGS:
            items = data.get(key) or []
            if not isinstance(items, list):
                self.fail((key,), "routing/base-config", "must be a list")
                lists_ok = False
                continue
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    self.fail((key, i), "routing/base-config", "must be a mapping")
                    lists_ok = False
                elif key != "inhibit_rules" and not isinstance(item.get("name"), str):
                    self.fail((key, i), "routing/base-config", "needs a name")
                    lists_ok = False
        route = data.get("route")
        if not isinstance(route, dict) or not isinstance(route.get("receiver"), str):
            self.fail(
                ("route",),
                "routing/base-config",
                "the base config needs a root route with a receiver",
            )
            return self.diagnostics
        if lists_ok:
            self.receivers(data.get("receivers") or [], route)
        return self.diagnostics

    def receivers(self, receivers: list[dict], route: dict) -> None:
        defined: dict[str, int] = {}
        for i, receiver in enumerate(receivers):
            name = receiver["name"]
            if name in defined:
                first = self.base.at(("receivers", defined[name], "name")).line
                self.fail(
                    ("receivers", i, "name"),
                    "routing/base-config",
                    f"receiver '{name}' is already defined at line {first}",
                )
            defined.setdefault(name, i)
        self.route(route, ("route",), defined)

    def route(self, route: dict, path: tuple, defined: dict[str, int]) -> None:
        receiver = route.get("receiver")
        if receiver is not None and receiver not in defined:
            close = difflib.get_close_matches(str(receiver), sorted(defined), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.fail(
                path + ("receiver",),
                "routing/unknown-receiver",
                f"receiver '{receiver}' is not defined under receivers{hint}",
            )
        children = route.get("routes") or []
        if not isinstance(children, list):
            self.fail(path + ("routes",), "routing/base-config", "must be a list of routes")
            return
        for i, child in enumerate(children):
            if isinstance(child, dict):
                self.route(child, path + ("routes", i), defined)
            else:
                self.fail(
                    path + ("routes", i), "routing/base-config", "must be a route (a mapping)"
                )


def problems(base: SourceDocument) -> list[Diagnostic]:
    """Why slo cannot merge into ``base`` (a mapping), or Alertmanager would refuse the result."""
    return _Checker(base).run()
