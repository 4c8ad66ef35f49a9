"""Mutation check: do the generated promtool tests catch every change to an alert?

    python bench/mutations.py                      # every mutant of the examples (slo/)
    python bench/mutations.py --services pizza-api --kinds threshold_x1.5 --json m.json

Compiles the specs into a temporary directory, then changes one alert rule of one service's
rule file at a time and runs that service's generated promtool tests (the test files `slo test`
runs on it) against the changed file. Every mutant that changes alert behaviour, of an alert the
tests cover, must make a test fail. Mutants are made on the parsed YAML: alerts are found by
`alert:` name and labels (``severity``, ``long_window``, ``short_window``), thresholds by the
``> number`` / ``< number`` comparisons of alert expressions, so they survive changes to how
the recording rules are built.

Kinds (KINDS): a threshold number x1.5 and x0.67 (a burn-rate factor for burn-rate alerts);
the long and short windows swapped (the ratios the expression reads and the labels); the
short-window condition dropped; a ``for:`` doubled; the first comparison flipped (``>`` <->
``<``); one label dropped (one mutant per label); a page tier removed.

Equivalent mutants (no behaviour change: a burn-rate threshold that stays at or above an error
ratio of 1, which no data can exceed; a label dropped that the selected series carry with the
same value, e.g. ``service`` and ``slo``) are shown, not assumed: the mutant's alerts (pending
and firing) must equal the original's at every evaluation of a test group that covers it, else it
counts like any other. Mutants of alerts no test names (labels no expected alert carries) are
reported apart and do not count.

Cost: each test file is split into one file per test group (promtool runs them independently
either way). By default mutants run in batches (BatchRunner, run_batched): a test group runs
once for all the mutants whose next group it is, each as a renamed copy of its rule beside the
original (see the comment above BatchRunner for why that equals running it alone); the groups
that expect the changed alert first, cheapest first, in rounds until each is caught.
``--one-by-one`` runs a mutant's groups one promtool run at a time instead (Runner), stopping at
the first failure. A group counts as catching only if it passes on the unchanged rules.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from compiler import compile_tree
from compiler.checks import toolrun, vmtest
from compiler.core.durations import format_duration, parse_duration
from compiler.core.model import Matcher
from compiler.spec import promql
from compiler.targets.protocol import ToolRun

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_JSON = BENCH_DIR / "results" / "mutations.json"
RATIO_SERIES = re.compile(r"slo:sli_error:ratio_rate([0-9a-z]+)\b")
# A comparison with a number: `> 0.0144`, `< 1` (not `>=`/`<=`, the low-traffic guard's).
COMPARISON = re.compile(
    r"(?<![<>=!])([<>])(?!=)(\s*)(-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
)
KINDS = (
    "threshold_x1.5",
    "threshold_x0.67",
    "windows_swapped",
    "short_window_dropped",
    "for_doubled",
    "comparison_flipped",
    "label_dropped",
    "page_tier_removed",
)
REMOVED = None  # a mutation that removes the rule


# --- mutations of one alert rule ------------------------------------------------------------------
def burn_rate(rule: Mapping) -> bool:
    labels = rule.get("labels") or {}
    return "long_window" in labels and "short_window" in labels


def thresholds(expr: str) -> list[Decimal]:
    return [Decimal(m.group(3)) for m in COMPARISON.finditer(expr)]


def decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def scale_thresholds(
    rule: dict, factor: Decimal, slice_seconds: int | None = None
) -> tuple[dict | None, str | None]:
    """Every threshold number of the expression x factor. Equivalent when it is a burn-rate
    threshold that no error ratio can exceed before and after, or (``slice_seconds``: the
    alert's SLO counts slices that long) one that every error ratio but 0 exceeds before and
    after (below_one_slice)."""
    expr = rule["expr"]
    new = COMPARISON.sub(
        lambda m: f"{m.group(1)}{m.group(2)}{decimal_text(Decimal(m.group(3)) * factor)}", expr
    )
    if new == expr:
        return None, None
    equivalent = None
    if burn_rate(rule):
        before, after = thresholds(expr), thresholds(new)
        if all(x >= 1 for x in before) and all(x >= 1 for x in after):
            equivalent = "burn-rate threshold stays at or above an error ratio of 1"
        elif (
            slice_seconds
            and below_one_slice(expr, slice_seconds)
            and below_one_slice(new, slice_seconds)
        ):
            equivalent = "time-slice burn-rate threshold stays below one bad slice's error ratio"
    return {**rule, "expr": new}, equivalent


def below_one_slice(expr: str, slice_seconds: int) -> bool:
    """Whether every condition of a time-slice SLO's burn-rate expression is ``ratio over W >
    t`` with t below slice/W, the least error ratio but 0 a window can have: each 5m piece of
    W counts at most 5m/slice slices and adds 5m to the covered time, so with e bad slices the
    ratio, e/slices x covered/W, is at least e x slice/W. Any bad slice in both windows then
    fires the alert whatever t, none never does: scaling t changes nothing."""
    for part in split_and(expr):
        comparisons = list(COMPARISON.finditer(part))
        if not comparisons:
            continue  # the low-traffic guard (>=)
        window = RATIO_SERIES.search(part)
        if window is None or len(comparisons) != 1 or comparisons[0].group(1) != ">":
            return False
        if Decimal(comparisons[0].group(3)) * parse_duration(window.group(1)) >= slice_seconds:
            return False
    return True


# A time-slice SLO's slice count: count_over_time(count(<expr>)[<base>:<slice>]).
SLICE_COUNT = re.compile(r"^count_over_time\(count\(.*\)\[[0-9a-z]+:([0-9a-z]+)\]\)$", re.S)


def slice_lengths(doc: Mapping) -> dict[str, int]:
    """The slice length of every time-slice SLO of a rule file, by its ``slo`` label: read from
    its recorded slice count (kind total)."""
    out = {}
    for group in doc["groups"]:
        for rule in group["rules"]:
            labels = rule.get("labels") or {}
            if rule.get("record") != "slo:sli_events:increase" or labels.get("kind") != "total":
                continue
            found = SLICE_COUNT.match(str(rule["expr"]).strip())
            if found is not None:
                out[str(labels["slo"])] = parse_duration(found.group(1))
    return out


def swap_windows(rule: dict) -> dict | None:
    labels = rule["labels"]
    long, short = labels["long_window"], labels["short_window"]
    if long == short:
        return None
    swap = {long: short, short: long}
    expr = RATIO_SERIES.sub(
        lambda m: f"slo:sli_error:ratio_rate{swap.get(m.group(1), m.group(1))}", rule["expr"]
    )
    return {**rule, "expr": expr, "labels": {**labels, "long_window": short, "short_window": long}}


def split_and(expr: str) -> list[str]:
    """The operands of the top-level ``and``s of a PromQL expression (outside brackets and
    strings)."""
    parts, depth, quote, start, i = [], 0, "", 0, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif (
            depth == 0
            and expr.startswith("and", i)
            and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] in "_:"))
            and (i + 3 == len(expr) or not (expr[i + 3].isalnum() or expr[i + 3] in "_:"))
        ):
            parts.append(expr[start:i])
            start = i + 3
            i += 3
            continue
        i += 1
    parts.append(expr[start:])
    return [p.strip() for p in parts]


def drop_short_window(rule: dict) -> dict | None:
    labels = rule["labels"]
    long, short = labels["long_window"], labels["short_window"]
    if long == short:
        return None
    parts = split_and(rule["expr"])
    reads_short = re.compile(rf"slo:sli_error:ratio_rate{re.escape(short)}\b")
    kept = [p for p in parts if not reads_short.search(p)]
    if len(kept) == len(parts) or not kept:
        return None
    return {**rule, "expr": "\nand\n".join(kept)}


def double_for(rule: dict) -> dict | None:
    if not rule.get("for"):
        return None
    seconds = parse_duration(str(rule["for"]))
    if not seconds:
        return None
    return {**rule, "for": format_duration(2 * seconds)}


def flip_comparison(rule: dict) -> dict | None:
    expr = rule["expr"]
    first = COMPARISON.search(expr)
    if first is None:
        return None
    flipped = "<" if first.group(1) == ">" else ">"
    return {**rule, "expr": expr[: first.start(1)] + flipped + expr[first.end(1) :]}


def drop_label(rule: dict, label: str) -> dict:
    return {**rule, "labels": {k: v for k, v in rule["labels"].items() if k != label}}


LEADING_SELECTOR = re.compile(r"^\(*\s*[A-Za-z_:][A-Za-z0-9_:]*\{([^}]*)\}\s*[<>]")
EQUALITY = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def carried_by_series(rule: Mapping, label: str) -> bool:
    """Whether the series the alert fires for carry ``label`` with the rule's value already:
    the expression starts with a selector matching ``label="value"`` that is compared with a
    number (``and`` keeps the left side's labels). Dropping such a rule label changes nothing."""
    found = LEADING_SELECTOR.match(split_and(rule["expr"])[0])
    if found is None:
        return kept_by_every_selector(rule, label)
    matchers = dict(EQUALITY.findall(found.group(1)))
    return matchers.get(label) == str(rule["labels"][label])


SELECTOR = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*\{([^}]*)\}")
AGGREGATION = re.compile(
    r"\b(sum|avg|min|max|count|group|stddev|stdvar|topk|bottomk|quantile|count_values)\s*"
    r"(?:(without|by)\s*\(([^)]*)\))?\s*\("
)


def kept_by_every_selector(rule: Mapping, label: str) -> bool:
    """Whether every selector of the expression matches ``label="value"`` (the rule's value)
    and nothing drops the label on the way: only ``sum without (...)`` not naming it, no
    ``label_replace``, no ``on``/``ignoring`` (the forecast's form). Dropping such a rule label
    changes nothing either."""
    expr, value = str(rule["expr"]), str(rule["labels"][label])
    selectors = SELECTOR.findall(expr)
    if not selectors or any(dict(EQUALITY.findall(m)).get(label) != value for m in selectors):
        return False
    if re.search(r"\b(label_replace|label_join|on|ignoring)\s*\(", expr):
        return False
    for found in AGGREGATION.finditer(expr):
        kept = [name.strip() for name in (found.group(3) or "").split(",")]
        if found.group(2) != "without" or label in kept:
            return False
    return True


def rule_mutants(
    rule: dict, slice_seconds: int | None = None
) -> Iterator[tuple[str, str, dict | None, str | None]]:
    """(kind, detail, mutated rule or REMOVED, equivalent reason or None) for one alert rule
    (``slice_seconds``: its SLO's slice, if it is a time-slice SLO)."""
    for kind, factor in (("threshold_x1.5", Decimal("1.5")), ("threshold_x0.67", Decimal("0.67"))):
        new, equivalent = scale_thresholds(rule, factor, slice_seconds)
        if new is not None:
            numbers = ", ".join(map(str, thresholds(rule["expr"])))
            yield kind, f"thresholds {numbers} x{factor}", new, equivalent
    if burn_rate(rule):
        new = swap_windows(rule)
        if new is not None:
            yield "windows_swapped", "long and short window swapped", new, None
        new = drop_short_window(rule)
        if new is not None:
            yield "short_window_dropped", "the short window's condition dropped", new, None
    new = double_for(rule)
    if new is not None:
        yield "for_doubled", f"for: {rule['for']} -> {new['for']}", new, None
    new = flip_comparison(rule)
    if new is not None:
        yield "comparison_flipped", "first comparison flipped", new, None
    for label in sorted(rule.get("labels") or {}):
        same = (
            "the alert's series carry this label already"
            if carried_by_series(rule, label)
            else None
        )
        yield "label_dropped", f"label {label} dropped", drop_label(rule, label), same
    if burn_rate(rule) and rule["labels"].get("severity") == "page":
        yield "page_tier_removed", "page tier removed", REMOVED, None


# --- mutants of a rule file -----------------------------------------------------------------------
@dataclass
class Mutant:
    service: str
    kind: str
    alert: dict[str, str]  # alertname and labels of the alert it changes
    detail: str
    source: dict = field(repr=False)  # the parsed rule file it changes (shared, never modified)
    where: tuple[int, int]  # (group, rule) index of the alert rule in it
    replacement: dict | None = field(repr=False)  # the new rule, or REMOVED
    equivalent: str | None = None
    covered: bool = True
    caught_by: str | None = None  # the test group that failed
    runs: int = 0  # promtool runs it took
    shown_equivalent: str | None = None  # the test group whose every evaluation showed it

    @property
    def text(self) -> str:
        """The mutated rule file (made when it is run: most mutants of a big tree never are)."""
        group, index = self.where
        doc = {**self.source, "groups": list(self.source["groups"])}
        changed = dict(doc["groups"][group])
        rules = list(changed["rules"])
        if self.replacement is REMOVED:
            del rules[index]
        else:
            rules[index] = self.replacement
        changed["rules"] = rules
        doc["groups"][group] = changed
        return dump(doc)

    @property
    def title(self) -> str:
        identity = ",".join(
            f"{k}={self.alert[k]}"
            for k in ("slo", "severity", "long_window", "short_window")
            if k in self.alert
        )
        return f"{self.service} {self.alert['alertname']}{{{identity}}}: {self.detail}"

    @property
    def counts(self) -> bool:
        """Part of the score: changes alert behaviour, of an alert the tests cover."""
        return self.equivalent is None and self.covered


def identity(rule: Mapping) -> dict[str, str]:
    labels = {k: str(v) for k, v in (rule.get("labels") or {}).items()}
    return {"alertname": rule["alert"], **labels}


def mutants_of(service: str, text: str) -> Iterator[Mutant]:
    """Every mutant of one rule file, one alert rule changed (or removed) in each."""
    doc = yaml.safe_load(text)
    slices = slice_lengths(doc)
    for gi, group in enumerate(doc["groups"]):
        for ri, rule in enumerate(group["rules"]):
            if "alert" not in rule:
                continue
            slice_seconds = slices.get(str((rule.get("labels") or {}).get("slo")))
            for kind, detail, new, equivalent in rule_mutants(rule, slice_seconds):
                yield Mutant(service, kind, identity(rule), detail, doc, (gi, ri), new, equivalent)


def dump(doc: Mapping) -> str:
    return yaml.safe_dump(doc, sort_keys=False, width=1_000_000, allow_unicode=True)


# --- the generated tests, one group at a time -----------------------------------------------------
@dataclass
class Group:
    title: str
    doc: dict = field(repr=False)  # a test file holding this one group; rule_files set per run
    cost: float  # evaluations promtool runs
    expected: list[dict[str, str]]  # every alert it expects, with its labels
    alertnames: set[str]


def _seconds(value: object) -> int:
    return parse_duration(str(value)) if value else 0


def split_tests(test_file: Path) -> list[Group]:
    doc = yaml.safe_load(test_file.read_text())
    interval = _seconds(doc.get("evaluation_interval")) or 60
    groups = []
    for i, test in enumerate(doc.get("tests") or []):
        single = {k: v for k, v in doc.items() if k != "tests"}
        single["tests"] = [test]
        times = [_seconds(t.get("eval_time")) for t in test.get("alert_rule_test") or []]
        times += [_seconds(t.get("eval_time")) for t in test.get("promql_expr_test") or []]
        expected = [
            {
                "alertname": t["alertname"],
                **{k: str(v) for k, v in (a.get("exp_labels") or {}).items()},
            }
            for t in test.get("alert_rule_test") or []
            for a in t.get("exp_alerts") or []
        ]
        groups.append(
            Group(
                f"{test_file.name} #{i + 1} {test.get('name', '')}".strip(),
                single,
                max(times, default=0) / interval,
                expected,
                {t["alertname"] for t in test.get("alert_rule_test") or []},
            )
        )
    return groups


def service_tests(out_dir: Path) -> dict[str, tuple[Path, list[Group]]]:
    """{service: (its rule file, the groups of the test files that read it)}, from the proofs
    the targets declare for `slo test`."""
    found: dict[str, tuple[Path, list[Group]]] = {}
    for proof in toolrun.proofs_for(out_dir):
        if not isinstance(proof, ToolRun) or proof.args[:2] != ("test", "rules"):
            continue
        tests = [p for p in proof.inputs if str(p) in proof.args]
        rule_files = [p for p in proof.inputs if str(p) not in proof.args]
        if len(rule_files) != 1:
            continue
        rules = rule_files[0].resolve()
        service = rules.name.removesuffix(".yml").removesuffix(".rules")
        _, groups = found.setdefault(service, (rules, []))
        for test in tests:
            groups.extend(split_tests(test))
    return found


def covers(group: Group, alert: Mapping[str, str]) -> bool:
    return any(all(e.get(k) == v for k, v in alert.items()) for e in group.expected)


def ordered(groups: Sequence[Group], alert: Mapping[str, str]) -> list[Group]:
    """The groups most likely to catch a change to ``alert`` first, cheapest first."""

    def rank(g: Group) -> tuple[int, float]:
        if covers(g, alert):
            return 0, g.cost
        return (1 if alert["alertname"] in g.alertnames else 2), g.cost

    return sorted(groups, key=rank)


class Runner:
    """Runs test groups against rule texts; remembers which groups pass on the original."""

    def __init__(self, work: Path, promtool: str, timeout: float = 600):
        self.work = work
        self.promtool = promtool
        self.timeout = timeout
        self.baseline: dict[tuple[str, str], bool] = {}
        self.lock = threading.Lock()
        self.counter = 0

    def promtool_test(
        self, kind: str, rules_text: str, doc: Mapping
    ) -> subprocess.CompletedProcess[str]:
        """`promtool test rules` of ``doc`` on ``rules_text`` (as its only rule file), in a
        directory of its own under ``work`` (``kind``-N), which is removed afterwards: runs in
        parallel threads never share one."""
        with self.lock:
            self.counter += 1
            directory = self.work / f"{kind}-{self.counter}"
        directory.mkdir(parents=True)
        try:
            (directory / "rules.yml").write_text(rules_text)
            (directory / "test.yml").write_text(dump(doc))
            return subprocess.run(
                [self.promtool, "test", "rules", "test.yml"],
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=self.timeout,
            )
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def passes(self, group: Group, rules_text: str) -> bool:
        doc = {**group.doc, "rule_files": ["rules.yml"]}
        return self.promtool_test("run", rules_text, doc).returncode == 0

    def passes_originally(self, service: str, group: Group, original: str) -> bool:
        key = (service, group.title)
        with self.lock:
            known = self.baseline.get(key)
        if known is None:
            known = self.passes(group, original)
            with self.lock:
                self.baseline[key] = known
        return known

    def check(self, mutant: Mutant, groups: Sequence[Group], original: str) -> Mutant:
        """Run ``mutant`` against the groups until one fails (that passes on ``original``)."""
        for group in ordered(groups, mutant.alert):
            mutant.runs += 1
            if not self.passes(group, mutant.text) and self.passes_originally(
                mutant.service, group, original
            ):
                mutant.caught_by = group.title
                break
        return mutant


# --- many mutants in one promtool run -------------------------------------------------------------
# A test group spends its time on the recording rules, and a mutant changes one alert rule. So a
# batch runs a test group once for many mutants: the rule file keeps every original rule and gets,
# right after the alert rule a mutant changes, that mutant's rule under an alert name of its own
# (``DiskUsage__m7``); the test group keeps its own checks and gets, per copy, the alert checks of
# the original name renamed, and its counts of firing alerts of that name, expecting only the
# alerts of the rule the copy stands for (each expected alert carries the labels of exactly one
# rule of its name; else the copy is the whole name, every rule of it). No rule reads ALERTS
# (batchable() checks), so a copy sees the series the original sees at the same step, and its
# checks fail exactly when the unchanged test group fails on the mutant's own rule file: the
# name's other rules give the other expected alerts unchanged. An unmutated control copy
# (``__c``) of each changed rule must pass and must fire exactly as the original at every
# evaluation: that shows the renaming and the split hold for that rule in that group; where it
# does not, the mutant runs alone, as Runner does.
#
# An equivalent mutant is shown, not assumed: its copy must fire exactly as the original at every
# evaluation of a test group that covers it (its ALERTS, pending and firing, compared at each
# step); one that does not is counted like any other mutant.

COPY = re.compile(r"__([mc][0-9]+)\b")
ERROR_HEAD = re.compile(r"^    (\S.*)$", re.M)  # promtool: one line per failed check


@dataclass
class Copy:
    suffix: str  # "m3" (a mutant's) or "c2" (a control)
    mutant: Mutant | None  # None for a control
    where: tuple[int, int]  # (group, rule) of the rule it stands for
    name: str  # the original alert name
    rules: dict[tuple[int, int], dict | None]  # the copied rules by the original's place
    own: dict[str, str] | None  # the labels its expected alerts carry; None: all of the name
    compare: bool  # compare its ALERTS with the original's at every evaluation

    @property
    def alert(self) -> str:
        return f"{self.name}__{self.suffix}"


def batchable(source: Mapping) -> bool:
    """Whether no rule reads ALERTS (a copy's alerts would then change what others see)."""
    return not any(
        "ALERTS" in str(rule.get("expr", "")) for g in source["groups"] for rule in g["rules"]
    )


def _labels_of(rule: Mapping) -> dict[str, str] | None:
    labels = {k: str(v) for k, v in (rule.get("labels") or {}).items()}
    return None if any("{{" in v for v in labels.values()) else labels


def _carries(labels: Mapping[str, object], own: Mapping[str, str]) -> bool:
    return all(str(labels.get(k)) == v for k, v in own.items())


def split_owner(source: Mapping, group: Group, where: tuple[int, int]) -> dict[str, str] | None:
    """The labels of the rule at ``where`` when every alert ``group`` expects under its name
    carries the labels of exactly one rule of that name (so the expected alerts split by rule);
    else None."""
    rule = source["groups"][where[0]]["rules"][where[1]]
    family = [r for g in source["groups"] for r in g["rules"] if r.get("alert") == rule["alert"]]
    owners = [_labels_of(r) for r in family]
    if any(o is None for o in owners):
        return None
    (test,) = group.doc["tests"]
    for check in test.get("alert_rule_test") or []:
        if check["alertname"] != rule["alert"]:
            continue
        for alert in check.get("exp_alerts") or []:
            labels = alert.get("exp_labels") or {}
            if sum(1 for o in owners if o is not None and _carries(labels, o)) != 1:
                return None
    return _labels_of(rule)


COMPARED = "count_over_time(("  # how _compare's expressions, and only they, begin


def _compare(copy: Copy, interval: int, end: int) -> str:
    """Alerts (pending or firing) of the copy but not of the original, or the other way round,
    at every evaluation step up to ``end``: empty when the copy fires exactly as the original."""
    mine = f'label_replace(ALERTS{{alertname="{copy.alert}"}}, "alertname", "{copy.name}", "", "")'
    matchers = [("alertname", copy.name), *sorted((copy.own or {}).items())]
    theirs = "ALERTS{" + ",".join(f"{k}={json.dumps(v)}" for k, v in matchers) + "}"
    differ = f"({mine} unless {theirs}) or ({theirs} unless {mine})"
    return f"count_over_time(({differ})[{end + interval}s:{interval}s])"


def batch_files(
    source: dict, group: Group, mutants: Sequence[Mutant]
) -> tuple[str, dict, list[Copy]]:
    """(rule text, test file, copies) of one batch: ``group`` run once for ``mutants``."""
    copies: list[Copy] = []
    controls: set[tuple[int, int]] = set()
    for m in mutants:
        rule = source["groups"][m.where[0]]["rules"][m.where[1]]
        own = split_owner(source, group, m.where)
        places: dict[tuple[int, int], dict | None] = {m.where: rule}
        if own is None:
            places = {
                (gi, ri): r
                for gi, g in enumerate(source["groups"])
                for ri, r in enumerate(g["rules"])
                if r.get("alert") == rule["alert"]
            }
        if m.where not in controls:
            controls.add(m.where)
            copies.append(Copy(f"c{len(copies)}", None, m.where, rule["alert"], places, own, True))
        changed = {**places, m.where: m.replacement}
        copies.append(
            Copy(f"m{len(copies)}", m, m.where, rule["alert"], changed, own, bool(m.equivalent))
        )
    after: dict[tuple[int, int], list[dict]] = {}
    for c in copies:
        for place, r in c.rules.items():
            if r is not None:
                after.setdefault(place, []).append({**r, "alert": c.alert})
    groups = []
    for gi, g in enumerate(source["groups"]):
        rules = []
        for ri, r in enumerate(g["rules"]):
            rules += [r, *after.get((gi, ri), [])]
        groups.append({**g, "rules": rules})
    (test,) = group.doc["tests"]
    checks = list(test.get("alert_rule_test") or [])
    exprs = list(test.get("promql_expr_test") or [])
    interval = _seconds(group.doc.get("evaluation_interval")) or 60
    end = max((_seconds(c.get("eval_time")) for c in checks + exprs), default=0)
    for c in copies:
        for check in test.get("alert_rule_test") or []:
            if check["alertname"] == c.name:
                expected = [
                    a
                    for a in check.get("exp_alerts") or []
                    if c.own is None or _carries(a.get("exp_labels") or {}, c.own)
                ]
                checks.append({**check, "alertname": c.alert, "exp_alerts": expected})
        for check in test.get("promql_expr_test") or []:
            counted = copied_count(check, c)
            if counted is not None:
                exprs.append(counted)
        if c.compare:
            exprs.append(
                {
                    "expr": _compare(c, interval, end),
                    "eval_time": format_duration(end),
                    "exp_samples": [],
                }
            )
    new_test = {**test, "alert_rule_test": checks}
    if exprs:
        new_test["promql_expr_test"] = exprs
    doc = {**group.doc, "rule_files": ["rules.yml"], "tests": [new_test]}
    return dump({**source, "groups": groups}), doc, copies


def copied_count(check: Mapping, copy: Copy) -> dict | None:
    """A count of the firing alerts of ``copy``'s name (``count by (...) (ALERTS{...})``)
    made a count of the copy's: renamed, and with only the samples of the rule it stands
    for when it is one rule of the name (a generated count tells every rule's alerts apart by
    the labels it groups by). None for any other check."""
    found = promql.as_alert_count(str(check.get("expr", "")))
    if found is None:
        return None
    by, matchers = found
    if not any(m.name == "alertname" and m.op == "=" and m.value == copy.name for m in matchers):
        return None
    renamed = tuple(
        Matcher(m.name, m.op, copy.alert) if m.name == "alertname" else m for m in matchers
    )
    samples = [
        s
        for s in check.get("exp_samples") or []
        if copy.own is None
        or all(
            dict(vmtest.parse_series(s.get("labels", ""))).get(k, "") == v
            for k, v in copy.own.items()
            if k in by
        )
    ]
    return {**check, "expr": promql.alert_count(by, renamed), "exp_samples": samples}


def failed_copies(returncode: int, output: str) -> tuple[dict[str, set[str]], bool]:
    """From promtool's output: {copy suffix: what failed ("alert", "expr")}, and whether
    anything else failed (a check of the original, an error)."""
    failed: dict[str, set[str]] = {}
    other = returncode != 0 and not ERROR_HEAD.search(output)
    for line in ERROR_HEAD.findall(output):
        what = line.split(":", 1)[0]
        if what == "name":  # the failing test group's name, before each of its errors
            continue
        found = COPY.search(line) if what in ("alertname", "expr") else None
        if found is None:
            other = True
        else:
            # an expression of the copy's own is its ALERTS compared with the original's, or
            # a count of its firing alerts (an alert check as much as an alert_rule_test)
            compared = what == "expr" and COMPARED in line
            failed.setdefault(found.group(1), set()).add("expr" if compared else "alert")
    return failed, other


class BatchRunner(Runner):
    def run_batch(
        self, service: str, group: Group, mutants: Sequence[Mutant], original: str
    ) -> None:
        """``group`` once for every mutant of ``mutants``; each gets its verdict from this
        group (caught, shown equivalent, or not caught here); mutants the batch cannot judge
        run alone."""
        source = mutants[0].source
        alone: list[Mutant] = []
        if not batchable(source):
            alone = list(mutants)
        else:
            rules, doc, copies = batch_files(source, group, mutants)
            proc = self.promtool_test("batch", rules, doc)
            failed, other = failed_copies(proc.returncode, proc.stdout + proc.stderr)
            if other:
                if not self.passes_originally(service, group, original):
                    for m in mutants:
                        m.runs += 1
                    return
                alone = list(mutants)
            else:
                broken = {c.where for c in copies if c.mutant is None and c.suffix in failed}
                for c in copies:
                    m = c.mutant
                    if m is None:
                        continue
                    if m.where in broken:
                        alone.append(m)
                        continue
                    m.runs += 1
                    what = failed.get(c.suffix, set())
                    if m.equivalent is not None:
                        if not what:
                            m.shown_equivalent = group.title
                            continue
                        m.equivalent = None  # it changes what fires: it counts
                    if "alert" in what:
                        m.caught_by = group.title
        for m in alone:  # judged as the one-at-a-time Runner does; not shown equivalent
            m.runs += 1
            m.equivalent = None
            if not self.passes(group, m.text) and self.passes_originally(
                m.service, group, original
            ):
                m.caught_by = group.title


def run_batched(
    mutants: Sequence[Mutant], context: Mapping, work: Path, jobs: int, progress: bool = False
) -> list[Mutant]:
    """Every mutant the tests cover, in rounds: each round runs, per test group, one batch of
    the mutants whose next group (in ``ordered``) it is, until each is caught, shown equivalent
    or has no group left."""
    runner = BatchRunner(work, toolrun.tool("promtool"))
    queues = {
        id(m): ordered(context[m.service][1], m.alert)
        for m in mutants
        if m.covered and (m.counts or m.equivalent)
    }
    tried: dict[int, int] = dict.fromkeys(queues, 0)

    def open_(m: Mutant) -> bool:
        done = m.caught_by or m.shown_equivalent
        return id(m) in queues and not done and tried[id(m)] < len(queues[id(m)])

    while pending := [m for m in mutants if open_(m)]:
        batches: dict[tuple[str, str], tuple[Group, list[Mutant]]] = {}
        for m in pending:
            group = queues[id(m)][tried[id(m)]]
            tried[id(m)] += 1
            batches.setdefault((m.service, group.title), (group, []))[1].append(m)

        def one(item: tuple[tuple[str, str], tuple[Group, list[Mutant]]]) -> None:
            (service, _), (group, batch) = item
            runner.run_batch(service, group, batch, context[service][0])
            if progress:
                caught = sum(1 for m in batch if m.caught_by)
                print(f"{group.title}: {len(batch)} mutants, {caught} caught", file=sys.stderr)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, sorted(batches.items(), key=lambda b: -b[1][0].cost)))
    return list(mutants)


def compile_examples(specs: Path, out: Path) -> Path:
    """``slo compile specs --out out`` (the same code path), without a cache."""
    result = compile_tree(specs)
    for rel, text in result.artifacts.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return out


def plan(out_dir: Path, services: Sequence[str] | None = None, kinds: Sequence[str] = KINDS):
    """(every mutant, {service: (original rule text, groups)}) of a compiled tree."""
    tests = service_tests(out_dir)
    mutants, context = [], {}
    for service, (rules, groups) in sorted(tests.items()):
        if services and service not in services:
            continue
        # The baseline is the file as the mutants are written (parsed and dumped again), so that
        # a test that fails on a mutant fails because of the mutation, not of the round trip.
        original = rules.read_text()
        context[service] = (dump(yaml.safe_load(original)), groups)
        for mutant in mutants_of(service, original):
            if mutant.kind not in kinds:
                continue
            mutant.covered = any(covers(g, mutant.alert) for g in groups)
            mutants.append(mutant)
    return mutants, context


def sample(mutants: Sequence[Mutant], size: int) -> list[Mutant]:
    """``size`` mutants that count, spread over the kinds: the first of each kind, then the
    second of each, ... (deterministic)."""
    by_kind: dict[str, list[Mutant]] = {}
    for m in mutants:
        if m.counts:
            by_kind.setdefault(m.kind, []).append(m)
    picked: list[Mutant] = []
    depth = 0
    while len(picked) < size and any(len(v) > depth for v in by_kind.values()):
        for kind in KINDS:
            if len(picked) < size and len(by_kind.get(kind, [])) > depth:
                picked.append(by_kind[kind][depth])
        depth += 1
    return picked


def run(
    mutants: Sequence[Mutant], context: Mapping, work: Path, jobs: int, progress: bool = False
) -> list[Mutant]:
    runner = Runner(work, toolrun.tool("promtool"))
    done = [0]
    lock = threading.Lock()

    def one(m: Mutant) -> Mutant:
        if m.counts:
            original, groups = context[m.service]
            runner.check(m, groups, original)
        if progress:
            with lock:
                done[0] += 1
                verdict = "skipped" if not m.counts else "caught" if m.caught_by else "MISSED"
                print(f"[{done[0]}/{len(mutants)}] {verdict}: {m.title}", file=sys.stderr)
        return m

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, mutants))


def score(mutants: Sequence[Mutant]) -> dict:
    counted = [m for m in mutants if m.counts]
    caught = [m for m in counted if m.caught_by]
    kinds = {}
    for kind in KINDS:
        of_kind = [m for m in mutants if m.kind == kind]
        kinds[kind] = {
            "mutants": len(of_kind),
            "equivalent": sum(1 for m in of_kind if m.equivalent),
            "shown_equivalent": sum(1 for m in of_kind if m.equivalent and m.shown_equivalent),
            "uncovered": sum(1 for m in of_kind if not m.covered and not m.equivalent),
            "counted": sum(1 for m in of_kind if m.counts),
            "caught": sum(1 for m in of_kind if m.counts and m.caught_by),
        }
    return {
        "mutants": len(mutants),
        "counted": len(counted),
        "caught": len(caught),
        "score": len(caught) / len(counted) if counted else 1.0,
        "kinds": kinds,
        "missed": [m.title for m in counted if not m.caught_by],
        "equivalent": [f"{m.title} ({m.equivalent})" for m in mutants if m.equivalent],
        "shown_equivalent": sum(1 for m in mutants if m.equivalent and m.shown_equivalent),
        "uncovered": [m.title for m in mutants if not m.covered and not m.equivalent],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("specs", nargs="?", type=Path, default=BENCH_DIR.parent / "slo")
    parser.add_argument("--services", nargs="+")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--limit", type=int, help="a sample of this many mutants (sample())")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument(
        "--one-by-one",
        action="store_true",
        help="a promtool run per mutant and test group (Runner), not batches (BatchRunner)",
    )
    args = parser.parse_args(argv)
    if not shutil.which("promtool"):
        print("promtool not found on PATH", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="slo-mutations-") as tmp:
        out = compile_examples(args.specs, Path(tmp) / "out")
        mutants, context = plan(out, args.services, args.kinds)
        if args.limit is not None:
            mutants = sample(mutants, args.limit)
        how = run if args.one_by_one else run_batched
        results = how(mutants, context, Path(tmp) / "runs", args.jobs, progress=True)
    found = score(results)
    print("| kind | mutants | equivalent (shown) | uncovered | counted | caught |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, n in found["kinds"].items():
        print(
            f"| {kind} | {n['mutants']} | {n['equivalent']} ({n['shown_equivalent']}) "
            f"| {n['uncovered']} | {n['counted']} | {n['caught']} |"
        )
    for title in found["missed"]:
        print(f"MISSED: {title}")
    for title in found["uncovered"]:
        print(f"uncovered (no test expects this alert): {title}")
    print(f"mutation score: {found['caught']}/{found['counted']} = {found['score']:.1%}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    found["mutants_run"] = [
        {"title": m.title, "kind": m.kind, "caught_by": m.caught_by, "runs": m.runs}
        for m in results
        if m.counts
    ]
    args.json.write_text(json.dumps(found, indent=2) + "\n")
    return 0 if found["score"] == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
