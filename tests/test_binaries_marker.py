"""The `binaries` marker tells the truth (support/binaries.py): tests that start promtool,
amtool, Prometheus, ... carry it, and one that does so without it is caught.

`python tests/without_binaries.py` is the other half: the unmarked tests on a PATH without
those binaries."""

import stat
import subprocess

import pytest
import support
from support import binaries


def test_starting_a_binary_from_an_unmarked_test_is_caught(tmp_path):
    # Not the real promtool: a script by that name, which the audit hook cannot tell apart.
    script = tmp_path / "promtool"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    assert binaries.WATCH.marked is False, "this test is not marked binaries"
    subprocess.run([str(script)], check=True)
    subprocess.run(["true"], check=True)  # any other command is fine
    caught, binaries.WATCH.started = binaries.WATCH.started, []  # or this test would fail
    assert caught == ["promtool"]


def test_require_refuses_an_unmarked_test():
    with pytest.raises(pytest.fail.Exception, match="is not marked"):
        binaries.require("prometheus")


@pytest.mark.binaries
def test_require_skips_when_the_binary_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match="promtool is not installed"):
        binaries.require("promtool")


class Item:
    """What mark_items reads of a collected test."""

    def __init__(self, fixtures=(), marks=()):
        self.fixturenames = list(fixtures)
        self.marks = list(marks)

    def get_closest_marker(self, name):
        return next((m for m in self.marks if m.name == name), None)

    def iter_markers(self, name):
        return (m for m in self.marks if m.name == name)

    def add_marker(self, decorator):
        self.marks.append(decorator.mark)


def test_server_fixtures_and_guards_mark_their_tests():
    server = Item(fixtures=["tmp_path", "prometheus_server"])
    guarded = Item(marks=[support.needs_amtool.mark])
    other_skip = Item(marks=[pytest.mark.skipif(True, reason="no openssl").mark])
    plain = Item(fixtures=["tmp_path"])
    binaries.mark_items([server, guarded, other_skip, plain])
    assert [
        bool(i.get_closest_marker("binaries")) for i in (server, guarded, other_skip, plain)
    ] == [
        True,
        True,
        False,
        False,
    ]
