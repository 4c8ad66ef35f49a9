"""Push through 30% injected failures: it converges, or reports exactly what did not land.

The Grafana and Mimir fakes fail 30% of all requests, reads and writes, each with a 5xx, a
connection reset before or after the request was carried out, or an answer that comes after the
client gave up (fakes/server.py, ``chaos``; reproducible with CHAOS_SEED, traced with
CHAOS_TRACE=1). Each target is pushed back and forth between two versions of out/, in which every
object differs, until writes have failed in the middle of a push; then the new version is pushed
until it lands. After every push, once the late answers are in:
- nothing is half-updated: every dashboard and rule group is exactly one of its two versions,
  and the Alertmanager config one whole text;
- a target reported as pushed holds exactly what out/ says (also when some writes failed but
  were carried out: push reads back before it reports);
- a target that failed after writing restored: every object is as before that push but those
  its restore names as not put back (and those a write answered too late may have changed after
  the restore read back: no client can stop such a write);
- a failed target lists exactly the objects the server lacked when it read them back (a write
  whose answer came too late may land after that, and the list may name it), or says that it
  could not read them back, or that it failed before writing, and then wrote nothing.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time

import pytest
import yaml
from fakes.grafana import FakeGrafana
from fakes.mimir import FakeMimir
from support import write_files
from support.outtrees import (
    SMALL_ALERTMANAGER_CONFIG,
    dashboard,
    push,
    write_alertmanager,
    write_dashboard,
    write_rules,
)

from compiler.core import conventions
from compiler.push import endpoints as ep
from compiler.push import rulegroups
from compiler.push.grafana import Grafana, comparable
from compiler.push.mimir import Mimir
from compiler.push.runner import NOT_IN_PLACE, NOTHING_WRITTEN
from compiler.push.transport import RetryPolicy, Secret

RATE = 0.3
SEED = int(os.environ.get("CHAOS_SEED", 1))
# Seconds the client waits for an answer (a local one takes a few ms); a late one takes LATE.
TIMEOUT = 0.1
LATE = 0.2
BACK_AND_FORTH = 30  # at most, alternating between the two versions
WRITES_FAILED = ("pushed, though writes failed", "restored", "restore incomplete")
# Two retries (three tries) per request: at a 30% failure rate one request in 37 still fails, so
# that many pushes fail, in every phase; the default three retries would make it one in 123.
POLICY = RetryPolicy(retries=2, backoff=0.01, max_backoff=0.05)
MAX_ROUNDS = (
    30  # then pushes of the new version until it lands (each does with a chance of about 1 in 3)
)
TENANT = "chaos"
# Mimir takes one write per rule group (40 here) and few reads; Grafana reads more than it writes,
# so Mimir's are most of the writes that fail, and a few dashboards keep the test quick.
SERVICES = [f"svc-{i}" for i in range(10)]
DASHBOARDS = 3
TARGETS = ["grafana", "mimir"]
SPEC = """\
apiVersion: slo/v1
service: {name}
team: team-{team}
slos:
  - name: availability
    objective: {objective}
    indicator:
      ratio:
        errors: 'requests_total{{job="{name}",code=~"5.."}}'
        total: 'requests_total{{job="{name}"}}'
thresholds:
  - {{name: up, expr: 'up{{job="{name}"}}', below: {floor}, severity: page}}
"""


def spec_tree(tmp_path, version: int):
    objective, floor = ("99", "1") if version == 0 else ("99.5", "2")
    specs = {
        f"{name}.yaml": SPEC.format(name=name, team=i % 3, objective=objective, floor=floor)
        for i, name in enumerate(SERVICES)
    }
    return write_files(tmp_path / "slo", specs)


def out_tree(tmp_path, version: int):
    """Rule files and dashboards for every service; ``version`` changes every one of them."""
    out = tmp_path / "out"
    model = write_rules(spec_tree(tmp_path, version), out)
    for name in SERVICES[:DASHBOARDS]:
        write_dashboard(out, conventions.dashboard_file(name), dashboard(name, panels=1 + version))
    write_dashboard(
        out,
        conventions.OVERVIEW_DASHBOARD_FILE,
        {
            **dashboard("x", panels=1 + version),
            "uid": conventions.OVERVIEW_UID,
            "title": "SLO overview",
        },
    )
    write_alertmanager(out, SMALL_ALERTMANAGER_CONFIG.replace("4h", ("4h", "6h")[version]))
    return model, out


def wanted_dashboards(out) -> dict[str, dict]:
    bodies = [
        json.loads(path.read_text()) for path in (out / "grafana" / "dashboards").glob("*.json")
    ]
    return {body["uid"]: body for body in bodies}


def wanted_groups(out) -> dict[tuple[str, str], dict]:
    return {
        (
            conventions.mimir_namespace(name.removesuffix(".rules.yml")),
            g["name"],
        ): rulegroups.canonical_group(g)
        for name, f in rulegroups.load_rule_files(out / "prometheus" / "rules").items()
        for g in f.groups
    }


def live_dashboards(grafana) -> dict[str, dict]:
    """Every dashboard but slo's record (which both versions share)."""
    return {
        uid: comparable(stored["dashboard"])
        for uid, stored in grafana.dashboards.items()
        if uid != conventions.GRAFANA_RECORD_UID
    }


def live_groups(mimir) -> dict[tuple[str, str], dict]:
    """Every rule group but slo's record (which both versions share)."""
    return {
        (ns, g["name"]): rulegroups.canonical_group(g)
        for ns, groups in mimir.rules.get(TENANT, {}).items()
        if ns != conventions.MIMIR_RECORD_NAMESPACE
        for g in groups
    }


def records(grafana, mimir) -> tuple:
    """slo's records in both servers."""
    return (
        grafana.dashboards[conventions.GRAFANA_RECORD_UID]["dashboard"],
        mimir.rules[TENANT][conventions.MIMIR_RECORD_NAMESPACE],
    )


def late_object(request) -> str:
    """How a report names the object a (late) write request carried."""
    if request.path == "/api/dashboards/db":
        return f"dashboard {request.json()['dashboard']['uid']}"
    if request.path == "/api/folders":
        return f"folder {request.json()['uid']}"
    if request.path == "/api/v1/alerts":
        return "alertmanager config"
    return f"group {yaml.safe_load(request.body)['name']}"


OBJECT = re.compile(r"(dashboard|group|folder) ([^\s:]+)|alertmanager config")


def missing_objects(report) -> set[str]:
    """Object names a failed report lists as not in place ("dashboard slo-x", "group slo-x-sli")."""
    return {
        OBJECT.match(error[len(NOT_IN_PLACE) :]).group(0)
        for error in report.errors
        if error.startswith(NOT_IN_PLACE)
    }


def not_restored(report) -> set[str] | None:
    """Object names a restore lists as not back as before; None when it could not say."""
    found = set()
    for problem in report.restore.problems:
        match = OBJECT.match(problem)
        if match is None:
            return None  # it could not read back: any object may be either version
        found.add(match.group(0))
    return found


def changed(before: dict, after: dict) -> set[str]:
    """Names of the objects that differ between two states of a server (``live_objects``)."""
    return {key for key in set(before) | set(after) if before.get(key) != after.get(key)}


def live_objects(grafana, mimir) -> dict[str, dict]:
    """By target, every object but slo's records, named as reports name them: "dashboard
    <uid>", "group <name>", "alertmanager config"."""
    config = mimir.alertmanager.get(TENANT, {}).get("alertmanager_config")
    return {
        "grafana": {f"dashboard {uid}": body for uid, body in live_dashboards(grafana).items()},
        "mimir": {
            **{f"group {name}": group for (_, name), group in live_groups(mimir).items()},
            "alertmanager config": config,
        },
    }


@pytest.fixture
def fakes():
    with FakeGrafana() as grafana, FakeMimir() as mimir:
        yield grafana, mimir


def endpoints_for(grafana, mimir) -> ep.Endpoints:
    return ep.Endpoints(
        {
            "grafana": Grafana(grafana.url, Secret(grafana.token)),
            "mimir": Mimir(mimir.url, TENANT, None),
        },
        timeout=TIMEOUT,
    )


def test_push_through_30_percent_failures_converges_and_never_half_updates(tmp_path, fakes):
    grafana, mimir = fakes
    trees = [out_tree(tmp_path / name, version) for version, name in enumerate(("old", "new"))]
    wanted = [
        (wanted_dashboards(out), wanted_groups(out), ("4h", "6h")[v])
        for v, (_, out) in enumerate(trees)
    ]
    assert all(wanted[0][0][u] != wanted[1][0][u] for u in wanted[1][0])
    assert all(wanted[0][1][k] != wanted[1][1][k] for k in wanted[1][1])
    first = push(
        endpoints_for(grafana, mimir), *trees[0], only=TARGETS, checks=False
    )  # no faults yet
    assert [r.status for r in first.values()] == ["pushed", "pushed"]
    # Both versions have the same dashboards and groups: the records never change after this.
    recorded = copy.deepcopy(records(grafana, mimir))

    grafana.chaos(RATE, seed=SEED, late=LATE)
    mimir.chaos(RATE, seed=SEED + 1, late=LATE)
    start, rounds = time.monotonic(), []

    def one_round(version: int, targets=TARGETS) -> bool:
        """Push ``version`` and hold every report against the servers; True when all landed."""
        dashboards_wanted, groups_wanted, am_wanted = wanted[version]
        found, writes_before, writes, late, before = {}, {}, {}, {}, {}
        for target in targets:  # one push each: one failing does not stop the other
            fake = {"grafana": grafana, "mimir": mimir}[target]
            before[target] = live_objects(grafana, mimir)[target]
            writes_before[target], chaos_before = len(fake.writes()), len(fake.chaos_log)
            found.update(
                push(
                    endpoints_for(grafana, mimir),
                    *trees[version],
                    only=[target],
                    checks=False,
                    policy=POLICY,
                )
            )
            # Answers that came too late are carried out now, before anything is compared.
            fake.settle()
            writes[target] = len(fake.writes())
            late[target] = {
                late_object(r)
                for kind, r in fake.chaos_log[chaos_before:]
                if kind == "late" and r.method == "POST"
            }

        # Nothing half-updated: every object is whole, in one of its two versions.
        dashboards, groups = live_dashboards(grafana), live_groups(mimir)
        for uid, body in dashboards.items():
            assert body in (wanted[0][0][uid], wanted[1][0][uid]), (
                f"dashboard {uid} is neither version"
            )
        for key, group in groups.items():
            assert group in (wanted[0][1][key], wanted[1][1][key]), (
                f"group {key} is neither version"
            )
        am = yaml.safe_load(mimir.alertmanager[TENANT]["alertmanager_config"])["route"][
            "repeat_interval"
        ]
        assert am in ("4h", "6h")
        assert records(grafana, mimir) == recorded, "a record changed, or was lost"

        # Each report says what the server has.
        lacking = {  # what the server lacks of ``version``
            "grafana": {
                f"dashboard {u}"
                for u, body in dashboards_wanted.items()
                if dashboards.get(u) != body
            },
            "mimir": {f"group {k[1]}" for k, g in groups_wanted.items() if groups.get(k) != g}
            | ({"alertmanager config"} if am != am_wanted else set()),
        }
        outcome = {}
        for target, report in found.items():
            if report.status == "pushed":
                assert not lacking[target], f"{target} reported pushed but lacks {lacking[target]}"
                read_back = any(
                    "reading back shows every object in place" in n for n in report.plan.notes
                )
                outcome[target] = "pushed, though writes failed" if read_back else "pushed"
            elif report.restore is not None:
                # Failed after writing, and restored: what the restore says is back is as before
                # the push, but for writes answered too late, which may land after it.
                unrestored = not_restored(report)
                if unrestored is not None:
                    now = live_objects(grafana, mimir)[target]
                    assert changed(before[target], now) <= unrestored | late[target], (
                        report.errors,
                        report.restore,
                    )
                assert report.errors, "a restore after no failure"
                outcome[target] = "restore incomplete" if report.restore.problems else "restored"
            elif any(e.startswith(NOT_IN_PLACE) for e in report.errors):
                # Exactly what was missing when read back; a write whose answer came too late may
                # have landed after that (the client cannot know), and nothing else.
                assert (
                    lacking[target] <= missing_objects(report) <= lacking[target] | late[target]
                ), report.errors
                outcome[target] = "listed what is missing"
            elif any(e.startswith("could not read back") for e in report.errors):
                outcome[target] = "could not read back"  # and says so: any write may be missing
            else:  # failed in its checks or plan
                assert NOTHING_WRITTEN in report.plan.notes, report.errors
                assert writes[target] == writes_before[target], (
                    f"{target} wrote although it says it did not"
                )
                outcome[target] = f"{report.status}, nothing written"
        rounds.append((version, outcome))
        if os.environ.get("CHAOS_TRACE"):
            print(f"{time.monotonic() - start:6.2f}s", rounds[-1])
        return all(o.startswith("pushed") for o in outcome.values())

    # Back and forth between the two versions, so that every push has writes to do, until writes
    # have failed half way through a push (in most rounds one does).
    while not any(o in WRITES_FAILED for _, outcome in rounds for o in outcome.values()):
        assert len(rounds) < BACK_AND_FORTH, rounds
        one_round(1 - len(rounds) % 2)
    # Then the new version, each target until it has landed.
    for target in TARGETS:
        for _ in range(MAX_ROUNDS):
            if one_round(1, [target]):
                break
        assert rounds[-1][0] == 1 and rounds[-1][1][target].startswith("pushed"), rounds
    assert live_dashboards(grafana) == wanted[1][0] and live_groups(mimir) == wanted[1][1]
    kinds = {kind for kind, _ in grafana.chaos_log + mimir.chaos_log}
    assert kinds == {"5xx", "reset-before", "reset-after", "late"}, (
        "every kind of failure was injected"
    )
