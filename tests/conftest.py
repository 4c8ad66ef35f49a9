"""Fixtures any test may ask for by name. Plain helpers and constants are in support/: import
those from there, never from this file."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from support import ROOT, binaries, compile_into, copy_specs, have, servers, tls, write_files

from compiler.core.model import Model
from compiler.pipeline.output import MARKER, MARKER_TEXT


@dataclass(frozen=True)
class Compiled:
    out: Path  # the generated files, as `slo compile` writes out/
    model: Model


def pytest_collection_modifyitems(items) -> None:
    """Tests that ask for a server fixture or carry a support guard are marked `binaries`."""
    binaries.mark_items(items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    binaries.begin(item)


@pytest.fixture(autouse=True)
def _binaries_marker_is_true(request):
    """A test that starts promtool, amtool, Prometheus, ... without `binaries` fails."""
    yield from binaries.watch(request.node)


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def examples(tmp_path) -> Path:
    """A private copy of the shipped examples' specs at tmp_path/slo, which the test may edit."""
    return copy_specs(ROOT / "slo", tmp_path)


@pytest.fixture
def pizza_specs(tmp_path) -> Path:
    """tmp_path/slo holding only the shipped pizza-ordering.yaml: one service, the live views'
    (status, report) subject."""
    specs = tmp_path / "slo"
    specs.mkdir()
    shutil.copy(ROOT / "slo" / "pizza-ordering.yaml", specs)
    return specs


@pytest.fixture
def old_out(tmp_path) -> Path:
    """tmp_path/out as an earlier compile left it; a compile that fails must not touch it."""
    return write_files(
        tmp_path / "out",
        {
            MARKER: MARKER_TEXT,
            "prometheus/rules/old.rules.yml": b"# from an earlier compile\ngroups: []\n",
        },
    )


@pytest.fixture
def prometheus_server(tmp_path):
    """A real Prometheus loading tmp_path/prometheus/rules/*.yml, stopped after the test."""
    with servers.prometheus(tmp_path / "prometheus") as server:
        yield server


@pytest.fixture
def alertmanager_server(tmp_path):
    """A real Alertmanager running servers.BOOT_CONFIG in tmp_path/alertmanager, stopped after
    the test."""
    with servers.alertmanager(tmp_path / "alertmanager") as server:
        yield server


@pytest.fixture(scope="session")
def compiled_examples(tmp_path_factory) -> Compiled:
    """The shipped examples (slo/) compiled in this session, not the committed out/: what tool
    runs and pushes should prove. Shared by the session: read it, copy it before editing."""
    out = tmp_path_factory.mktemp("compiled-examples") / "out"
    return Compiled(out, compile_into(ROOT / "slo", out).model)


@pytest.fixture(scope="session")
def proven(tmp_path_factory) -> Path:
    """A cache directory for `slo test`'s result cache shared by the whole session: the examples'
    out/ is proven by promtool once (test_examples), and the README's `slo test` on the same
    files (test_docs) finds every proof passed instead of spending minutes again."""
    return tmp_path_factory.mktemp("slo-cache")


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> tls.Pki:
    """A test CA with a server certificate for 127.0.0.1 and a client certificate (tls.py);
    skips the test when the openssl command is missing."""
    if not have("openssl"):
        pytest.skip("the openssl command is missing")
    return tls.make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def http_capture():
    """An HTTP server on 127.0.0.1 (a free port) that records what reaches it: Alertmanager's
    webhooks (Slack, PagerDuty) and a scrape target, stopped after the test."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()
