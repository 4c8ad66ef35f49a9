"""The local stack of `make run` (prometheus/local-stack.sh), where it can be checked without
starting it: the engine it is asked for, the scrape config VictoriaMetrics gets with ENGINE=vm,
and the environment `local-vm` of targets.yaml that `slo push`, `slo status` and `slo report`
read then. Running the whole stack takes minutes: README ("Locally: make run") has the
measured runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from support import ROOT, needs_victoria_metrics

from compiler.push import endpoints

STACK = ROOT / "prometheus" / "local-stack.sh"


def stack(*args: str | Path, engine: str | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "ENGINE"}
    if engine is not None:
        environ["ENGINE"] = engine
    return subprocess.run(
        [str(STACK), *map(str, args)], capture_output=True, text=True, env=environ, timeout=60
    )


def test_an_unknown_engine_is_refused_before_anything_starts():
    result = stack("show", engine="mimir")
    assert result.returncode == 2
    assert result.stderr == (
        "ENGINE=mimir: prom (Prometheus, the default) or vm (VictoriaMetrics and vmalert)\n"
    )


def scrape_config(tmp_path: Path) -> tuple[dict, dict]:
    written = tmp_path / "scrape.yml"
    result = stack("vm-scrape-config", written, engine="vm")
    assert result.returncode == 0, result.stderr
    prometheus = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    return prometheus, yaml.safe_load(written.read_text())


def test_victoria_metrics_scrapes_what_prometheus_scrapes(tmp_path):
    prometheus, vm = scrape_config(tmp_path)
    assert vm["global"] == {"scrape_interval": prometheus["global"]["scrape_interval"]}
    jobs = {job["job_name"]: job for job in vm["scrape_configs"]}
    theirs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    # every job as Prometheus has it, but Prometheus' self-scrape: the engine scrapes itself
    assert {name: jobs[name] for name in theirs if name != "prometheus"} == {
        name: job for name, job in theirs.items() if name != "prometheus"
    }
    assert set(jobs) - set(theirs) == {"victoria-metrics", "vmalert"}
    assert jobs["victoria-metrics"]["static_configs"] == [{"targets": ["127.0.0.1:8428"]}]
    assert jobs["vmalert"]["static_configs"] == [{"targets": ["127.0.0.1:8880"]}]


@pytest.mark.binaries
@needs_victoria_metrics
def test_victoria_metrics_accepts_the_scrape_config_as_written(tmp_path):
    scrape_config(tmp_path)
    result = subprocess.run(
        [
            "victoria-metrics",
            f"-promscrape.config={tmp_path / 'scrape.yml'}",
            "-promscrape.config.dryRun",
            "-loggerLevel=ERROR",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr  # strict: no field it would ignore


def test_the_vm_environment_reads_victoria_metrics_and_pushes_to_vmalert():
    found = endpoints.resolve({}, {}, ROOT / "targets.yaml", "local-vm")
    assert found.configured() == ["prometheus", "alertmanager", "vmalert"]
    assert found.targets["prometheus"].url == "http://127.0.0.1:8428"  # status, report
    assert found.targets["vmalert"].url == "http://127.0.0.1:8880"
    assert found.targets["vmalert"].rules_dir == ROOT / ".run" / "vmalert" / "rules"
    local = endpoints.resolve({}, {}, ROOT / "targets.yaml", "local")
    assert local.targets["alertmanager"] == found.targets["alertmanager"]  # one Alertmanager
