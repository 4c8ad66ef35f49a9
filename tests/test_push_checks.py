"""promtool before every push, and only once for files it already passed unchanged."""

import pytest
from support import needs_promtool

from compiler.checks import toolrun
from compiler.push import checks
from compiler.push.transport import PushError

GOOD = "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n"


@pytest.fixture
def runs(monkeypatch):
    monkeypatch.setattr(checks, "_rules_passed", set())
    seen = []
    real = toolrun.run

    def counting(title, argv, cwd=None):
        seen.append(argv[3:])
        return real(title, argv, cwd)

    monkeypatch.setattr(toolrun, "run", counting)
    return seen


@needs_promtool
def test_files_promtool_passed_are_not_checked_again_until_they_change(tmp_path, runs):
    a, b = tmp_path / "a.rules.yml", tmp_path / "b.rules.yml"
    a.write_text(GOOD)
    b.write_text(GOOD.replace("name: g", "name: h"))

    def checked() -> int:
        """Files promtool was given, over all its runs."""
        return sum(len(files) for files in runs)

    checks.promtool_check_rules([a, b])
    # The same files, as Mimir lists them.
    checks.promtool_check_rules([b, tmp_path / "." / "a.rules.yml"])
    assert checked() == 2

    b.write_text(GOOD.replace("name: g", "name: h2"))
    checks.promtool_check_rules([a, b])
    assert checked() == 4
    checks.promtool_check_rules([a])  # a subset is another question for promtool
    assert checked() == 5


@needs_promtool
def test_a_file_promtool_refuses_is_refused_every_time(tmp_path, runs):
    bad = tmp_path / "bad.rules.yml"
    bad.write_text(GOOD.replace("sum by (job) (up)", "sum by (job) (up"))
    for _ in range(2):
        with pytest.raises(PushError, match="promtool check rules failed; nothing was pushed"):
            checks.promtool_check_rules([bad])
    assert len(runs) == 2
    missing = tmp_path / "missing.rules.yml"
    with pytest.raises(PushError):
        checks.promtool_check_rules([missing])


@needs_promtool
def test_files_are_checked_in_parallel_shares_and_a_refusal_in_any_share_is_reported(
    tmp_path, runs, monkeypatch
):
    monkeypatch.setattr(checks.workers, "usable_cpus", lambda: 3)
    good = []
    for i in range(5):
        good.append(tmp_path / f"g{i}.rules.yml")
        good[-1].write_text(GOOD.replace("name: g", f"name: g{i}"))
    checks.promtool_check_rules(good)
    assert sorted(map(len, runs)) == [1, 2, 2] and sorted(
        f for files in runs for f in files
    ) == sorted(map(str, good))
    bad = tmp_path / "bad.rules.yml"
    bad.write_text(GOOD.replace("sum by (job) (up)", "sum by (job) (up"))
    with pytest.raises(PushError, match=r"(?s)nothing was pushed:.*bad.rules.yml"):
        checks.promtool_check_rules([*good, bad])
