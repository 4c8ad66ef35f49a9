"""Push to a real Prometheus (Debian binary): load, verify, idempotence, ownership, rollback."""

import json
import stat
import urllib.request

import pytest
from support import needs_prometheus
from support.outtrees import diff, push, specs, write_rules
from support.servers import metric, prometheus

from compiler.core import conventions
from compiler.push import endpoints as ep
from compiler.push import rulegroups
from compiler.push.prometheus import Prometheus
from compiler.push.runner import NOTHING_WRITTEN

pytestmark = needs_prometheus

# The start of a raw rule: one more "(" makes the file unparsable.
BREAKABLE = "expr: sum(increase("


def loaded_groups(url: str) -> dict[tuple[str, str], dict]:
    with urllib.request.urlopen(url + "/api/v1/rules", timeout=5) as response:
        groups = json.load(response)["data"]["groups"]
    return {(g["file"].rsplit("/", 1)[-1], g["name"]): g for g in groups}


def snapshot(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def server(prometheus_server):
    return prometheus_server


def endpoints_for(server) -> ep.Endpoints:
    return ep.Endpoints({"prometheus": Prometheus(server.url, server.directory / "rules")})


def test_push_loads_every_group_then_a_second_push_writes_nothing(tmp_path, server):
    out = tmp_path / "out"
    model = write_rules(specs(tmp_path), out)
    generated = rulegroups.load_rule_files(out / "prometheus" / "rules")
    expected = {(name, g["name"]) for name, f in generated.items() for g in f.groups}

    first = push(endpoints_for(server), model, out)["prometheus"]
    assert first.status == "pushed", first.errors
    assert first.plan.counts() == {
        "created": len(expected),
        "updated": 0,
        "deleted": 0,
        "unchanged": 0,
    }
    live = loaded_groups(server.url)
    assert expected <= set(live)
    for name, rule_file in generated.items():  # loaded exactly as generated, rule by rule
        for group in rule_file.groups:
            have = rulegroups.canonical_api_group(live[(name, group["name"])])
            assert rulegroups.differences(rulegroups.canonical_group(group), have) == []
    assert metric(server.url, "prometheus_config_last_reload_successful") == 1
    rules_dir = server.directory / "rules"
    owned = json.loads((rules_dir / conventions.PUSH_OWNERSHIP_FILE).read_text())["files"]
    assert owned == sorted(generated)

    before = {p: p.stat().st_mtime_ns for p in rules_dir.iterdir()}
    reloaded_at = metric(server.url, "prometheus_config_last_reload_success_timestamp_seconds")
    second = push(endpoints_for(server), model, out)["prometheus"]
    assert (
        second.status == "pushed"
        and second.summary() == f"0 created, 0 updated, 0 deleted, {len(expected)} unchanged"
    )
    assert {p: p.stat().st_mtime_ns for p in rules_dir.iterdir()} == before, (
        "a push without changes wrote files"
    )
    assert (
        metric(server.url, "prometheus_config_last_reload_success_timestamp_seconds") == reloaded_at
    ), "it reloaded"


def test_foreign_files_stay_and_owned_files_no_longer_generated_go_only_with_prune(
    tmp_path, server
):
    rules_dir = server.directory / "rules"
    foreign = b"groups:\n- name: team-x\n  rules:\n  - record: team_x:up:sum\n    expr: sum(up)\n"
    (rules_dir / "team-x.yml").write_bytes(foreign)
    spec_dir = specs(tmp_path, "basic")
    (spec_dir / "search.yaml").write_text(
        (specs(tmp_path / "b", "period-28d") / "search.yaml").read_text()
    )
    out = tmp_path / "out"
    model = write_rules(spec_dir, out)
    assert push(endpoints_for(server), model, out)["prometheus"].status == "pushed"
    assert {"checkout.rules.yml", "search.rules.yml"} <= set(snapshot(rules_dir))

    (spec_dir / "search.yaml").unlink()
    out2 = tmp_path / "out2"
    model = write_rules(spec_dir, out2)
    kept = push(endpoints_for(server), model, out2)["prometheus"]
    assert kept.status == "pushed" and kept.plan.counts()["deleted"] == 0, kept.errors
    assert [n for n in kept.plan.notes if "search.rules.yml" in n and "--prune deletes it" in n]
    assert (rules_dir / "search.rules.yml").exists(), "deleted without --prune"
    owned = json.loads((rules_dir / conventions.PUSH_OWNERSHIP_FILE).read_text())["files"]
    assert owned == ["checkout.rules.yml", "search.rules.yml"], "still slo's, still recorded"

    report = push(endpoints_for(server), model, out2, prune=True)["prometheus"]
    assert report.status == "pushed", report.errors
    deleted = [c for c in report.plan.changes if c.kind == "deleted"]
    assert deleted and all("(search.rules.yml)" in c.object for c in deleted)
    assert all(
        c.details
        == (
            f"slo's: {rules_dir / conventions.PUSH_OWNERSHIP_FILE} lists it as "
            "written by slo; out/ no longer has it",
        )
        for c in deleted
    ), "the report says why each deleted object is slo's"
    assert not (rules_dir / "search.rules.yml").exists()
    assert (rules_dir / "team-x.yml").read_bytes() == foreign
    live = loaded_groups(server.url)
    assert ("team-x.yml", "team-x") in live
    assert not any(file == "search.rules.yml" for file, _ in live)


@pytest.mark.parametrize("odd", [[], ["..", "", 7, None, "a\x00.yml", "x" * 300 + ".yml"]])
def test_names_in_the_ownership_file_other_than_plain_rule_file_names_are_never_touched(
    tmp_path, server, odd
):
    """A planted .slo-owned.json listing paths outside the directory: they are ignored with a
    note, with --prune too, and left out of the record slo writes next."""
    rules_dir = server.directory / "rules"
    outside = server.directory / "victim.txt"  # rules/../victim.txt
    absolute = tmp_path / "absolute.yml"
    sub = rules_dir / "sub"
    sub.mkdir()
    hidden = rules_dir / ".hidden.yml"
    not_yml = rules_dir / "notes.txt"
    victims = [outside, absolute, sub / "x.yml", hidden, not_yml]
    for victim in victims:
        victim.write_text("groups: []  # not slo's\n")
    listed = ["../victim.txt", str(absolute), "sub/x.yml", ".hidden.yml", "notes.txt", *odd]
    record = rules_dir / conventions.PUSH_OWNERSHIP_FILE
    record.write_text(json.dumps({"written_by": "slo push", "files": listed}))
    out = tmp_path / "out"
    model = write_rules(specs(tmp_path), out)

    report = push(endpoints_for(server), model, out, prune=True)["prometheus"]
    assert report.status == "pushed", report.errors
    assert all(victim.read_text() == "groups: []  # not slo's\n" for victim in victims)
    assert not [c for c in report.plan.changes if c.kind == "deleted"]
    ignored = [n for n in report.plan.notes if "is not a plain *.yml file name: ignored" in n]
    assert [n.split(" lists ")[1].split(",")[0] for n in ignored] == [repr(n) for n in listed]
    assert json.loads(record.read_text())["files"] == ["checkout.rules.yml"]


def test_a_link_in_the_rules_directory_is_never_read_backed_up_or_restored_through(
    tmp_path, server
):
    """An owned rule file replaced by a link to a secret: before, a refused reload "restored"
    the secret into the rules directory as a world-readable file."""
    rules_dir = server.directory / "rules"
    out = tmp_path / "out"
    model = write_rules(specs(tmp_path), out)
    assert push(endpoints_for(server), model, out)["prometheus"].status == "pushed"
    secret = tmp_path / "secret.env"
    secret.write_bytes(b"TOKEN=hunter2\n")
    secret.chmod(0o600)
    link = rules_dir / "checkout.rules.yml"
    link.unlink()
    link.symlink_to(secret)
    rule_file = out / conventions.rules_file("checkout")  # rejected by the server: a restore
    rule_file.write_text(rule_file.read_text().replace(BREAKABLE, BREAKABLE + "(", 1))

    report = push(endpoints_for(server), model, out, checks=False)["prometheus"]
    assert report.status == "failed"
    assert f"{link} is a symbolic link" in report.errors[0]
    assert NOTHING_WRITTEN in report.plan.notes
    assert link.is_symlink() and secret.read_bytes() == b"TOKEN=hunter2\n"
    assert not [
        p for p in rules_dir.iterdir() if not p.is_symlink() and b"hunter2" in p.read_bytes()
    ]


def test_replaced_and_restored_rule_files_keep_their_mode(tmp_path, server):
    rules_dir = server.directory / "rules"
    spec_dir = specs(tmp_path)
    out = tmp_path / "out"
    model = write_rules(spec_dir, out)
    assert push(endpoints_for(server), model, out)["prometheus"].status == "pushed"
    on_disk = rules_dir / "checkout.rules.yml"
    assert stat.S_IMODE(on_disk.stat().st_mode) == 0o644  # new files: readable by the server
    on_disk.chmod(0o640)

    spec = spec_dir / "checkout.yaml"
    spec.write_text(spec.read_text().replace("objective: 99\n", "objective: 99.5\n", 1))
    model = write_rules(spec_dir, out)
    assert push(endpoints_for(server), model, out)["prometheus"].status == "pushed"
    assert stat.S_IMODE(on_disk.stat().st_mode) == 0o640
    good = on_disk.read_bytes()

    rule_file = out / conventions.rules_file("checkout")
    rule_file.write_text(rule_file.read_text().replace(BREAKABLE, BREAKABLE + "(", 1))
    failed = push(endpoints_for(server), model, out, checks=False)["prometheus"]
    assert "restored and reloaded" in failed.errors[0]
    assert on_disk.read_bytes() == good and stat.S_IMODE(on_disk.stat().st_mode) == 0o640


def test_a_foreign_file_with_a_generated_name_is_never_replaced(tmp_path, server):
    rules_dir = server.directory / "rules"
    foreign = b"groups:\n- name: theirs\n  rules:\n  - record: theirs:up:sum\n    expr: sum(up)\n"
    (rules_dir / "checkout.rules.yml").write_bytes(foreign)
    out = tmp_path / "out"
    model = write_rules(specs(tmp_path), out)
    report = push(endpoints_for(server), model, out)["prometheus"]
    assert report.status == "failed"
    assert "was not written by slo; refusing to replace it" in report.errors[0]
    assert snapshot(rules_dir) == {"checkout.rules.yml": foreign}


def test_a_reload_prometheus_rejects_restores_the_previous_files(tmp_path, server):
    out = tmp_path / "out"
    model = write_rules(specs(tmp_path), out)
    assert push(endpoints_for(server), model, out)["prometheus"].status == "pushed"
    rules_dir = server.directory / "rules"
    good_files, good_groups = snapshot(rules_dir), loaded_groups(server.url)

    # A file the server rejects although the local check passed it (a newer promtool than the
    # server, say): here the check is switched off to reach the server's own refusal.
    rule_file = out / conventions.rules_file("checkout")
    rule_file.write_text(rule_file.read_text().replace(BREAKABLE, BREAKABLE + "(", 1))
    report = push(endpoints_for(server), model, out, checks=False)["prometheus"]

    assert report.status == "failed"
    error = report.errors[0]
    assert "Prometheus rejected the reload (HTTP 500" in error
    assert "the previous rule files were restored and reloaded by Prometheus" in error
    assert snapshot(rules_dir) == good_files
    assert loaded_groups(server.url).keys() == good_groups.keys()
    assert metric(server.url, "prometheus_config_last_reload_successful") == 1


def test_promtool_refuses_a_broken_file_before_anything_is_written(tmp_path, server):
    out = tmp_path / "out"
    model = write_rules(specs(tmp_path), out)
    rule_file = out / conventions.rules_file("checkout")
    rule_file.write_text(rule_file.read_text().replace(BREAKABLE, BREAKABLE + "(", 1))
    report = push(endpoints_for(server), model, out)["prometheus"]
    assert report.status == "failed"
    assert "promtool check rules failed; nothing was pushed" in report.errors[0]
    assert "checkout.rules.yml" in report.errors[0]
    assert snapshot(server.directory / "rules") == {}


def test_without_the_lifecycle_api_push_says_how_to_fix_it(tmp_path):
    out = tmp_path / "out"
    model = write_rules(specs(tmp_path), out)
    with prometheus(tmp_path / "prometheus", lifecycle=False) as server:
        report = push(endpoints_for(server), model, out)["prometheus"]
        assert report.status == "failed"
        assert "--web.enable-lifecycle" in report.errors[0]
        assert snapshot(server.directory / "rules") == {}


def test_groups_the_server_does_not_load_fail_verification(tmp_path):
    """Files in a directory that rule_files does not list: written, reloaded, and reported as not
    loaded."""
    out = tmp_path / "out"
    model = write_rules(specs(tmp_path), out)
    with prometheus(tmp_path / "prometheus", rule_glob="elsewhere/*.yml") as server:
        report = push(endpoints_for(server), model, out)["prometheus"]
        assert report.status == "failed"
        assert any("is not loaded: is" in e and "listed in rule_files" in e for e in report.errors)


def test_diff_sees_a_changed_objective_as_an_updated_group(tmp_path, server):
    spec_dir = specs(tmp_path)
    out = tmp_path / "out"
    model = write_rules(spec_dir, out)
    assert not diff(endpoints_for(server), model, out)["prometheus"].plan.counts()["unchanged"]
    assert push(endpoints_for(server), model, out)["prometheus"].status == "pushed"
    assert not diff(endpoints_for(server), model, out)["prometheus"].changed

    spec = spec_dir / "checkout.yaml"
    spec.write_text(spec.read_text().replace("objective: 99\n", "objective: 99.5\n", 1))
    model = write_rules(spec_dir, out)
    report = diff(endpoints_for(server), model, out)["prometheus"]
    updated = {c.object: c.details for c in report.plan.pending}
    assert set(updated) >= {
        "group slo-checkout-sli (checkout.rules.yml)",
        "group slo-checkout-period (checkout.rules.yml)",
    }
    assert all(c.kind == "updated" for c in report.plan.pending)
    assert (
        "rule 16 (ErrorBudgetBurn): expr, annotations differ"
        in updated["group slo-checkout-sli (checkout.rules.yml)"]
    )
    assert (
        updated["group slo-checkout-period (checkout.rules.yml)"][0]
        == "rule 5 (slo:objective:ratio): expr differs"
    )
