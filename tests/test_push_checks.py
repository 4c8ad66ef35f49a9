"""promtool before every push, and only once for files it already passed unchanged."""

import pytest

from compiler import toolrun
from compiler.push import checks
from compiler.push.transport import PushError
from conftest import needs_promtool

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
    checks.promtool_check_rules([a, b])
    checks.promtool_check_rules([b, tmp_path / "." / "a.rules.yml"])  # the same files, as Mimir lists them
    assert len(runs) == 1

    b.write_text(GOOD.replace("name: g", "name: h2"))
    checks.promtool_check_rules([a, b])
    assert len(runs) == 2
    checks.promtool_check_rules([a])  # a subset is another question for promtool
    assert len(runs) == 3


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
