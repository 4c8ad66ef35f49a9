"""The demo workload of `make run` (demo/workload.py), run as `make run` runs it, on a free port.

It must serve every series the SLIs and thresholds of slo/ read, as the local Prometheus scrapes
them (each job at /metrics/<job>, prometheus/prometheus.yml), and its fault switch must make the
named objective's requests fail, and only those, until `heal`. The series it must serve are read
from the specs' own selectors, so a new example that reads something the demo lacks fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal

import promql_parser
import pytest
import yaml
from support import ROOT
from support.servers import free_port

from compiler import load_tree
from compiler.core.model import LatencyIndicator, Matcher, Model, Selector, TimesliceIndicator
from compiler.spec import promql

parser = pytest.importorskip(
    "prometheus_client.parser", reason="the demo extra (prometheus-client) is not installed"
)

WORKLOAD = ROOT / "demo" / "workload.py"
READY_SECONDS = 20.0
Sample = tuple[str, dict[str, str], float]  # (name, labels, value)


# --- what the specs read --------------------------------------------------------------------------
def _selectors(text: str) -> list[Selector]:
    found = []
    for node in promql.walk(promql.parse(text)):  # a range's instant selector included
        if isinstance(node, promql_parser.VectorSelector):
            selector = promql.as_selector(node)
            assert selector is not None, f"{text}: a selector this test cannot read"
            found.append(selector)
    return found


def read_by_specs(model: Model) -> dict[str, list[Selector]]:
    """Every selector of slo/, by the objective that reads it (service/name)."""
    wanted: dict[str, list[Selector]] = {}
    for service in model.services:
        for slo in service.slos:
            ind = slo.indicator
            name = f"{service.name}/{slo.name}"
            if isinstance(ind, TimesliceIndicator):
                continue  # a threshold's slices: its expression is read below
            if isinstance(ind, LatencyIndicator):
                bound = Matcher("le", "=", str(ind.threshold))
                wanted[name] = [
                    Selector(ind.histogram.metric + "_bucket", (*ind.histogram.matchers, bound)),
                    Selector(ind.histogram.metric + "_count", ind.histogram.matchers),
                ]
            else:
                counters = [c for c in (ind.total, ind.errors, ind.good) if c is not None]
                wanted[name] = [s for c in counters for s in _selectors(c.text)]
        for threshold in service.thresholds:
            wanted[f"{service.name}/{threshold.name}"] = _selectors(threshold.expr)
    return wanted


def scrape_jobs() -> tuple[set[str], set[str]]:
    """(the jobs the local Prometheus scrapes from the demo workload, every other job)."""
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    demo, other = set(), set()
    for job in config["scrape_configs"]:
        targets = [t for c in job.get("static_configs", []) for t in c["targets"]]
        path = job.get("metrics_path", "/metrics")
        served = targets == ["127.0.0.1:8400"] and path == f"/metrics/{job['job_name']}"
        (demo if served else other).add(job["job_name"])
    return demo, other


def matches(selector: Selector, name: str, labels: dict[str, str]) -> bool:
    if name != selector.metric:
        return False
    for m in selector.matchers:
        value = labels.get(m.name, "")
        if m.name == "le":  # a bucket boundary: the same number however it is written
            ok = Decimal(value) == Decimal(m.value)
        elif m.op in ("=", "!="):
            ok = value == m.value
        else:
            ok = re.fullmatch(m.value, value) is not None
        if ok == m.op.startswith("!"):
            return False
    return True


# --- the workload, as make run starts it ---------------------------------------------------------
@pytest.fixture
def workload() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(WORKLOAD), "--port", str(port), "serve", "--seed", "7"]
        + ["--tick", "0.003"],  # a second's traffic every 3ms: hundreds of requests at once
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                urllib.request.urlopen(url + "/faults", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"the workload is not ready on {url}"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def scrape(url: str, jobs: set[str]) -> list[Sample]:
    """Every job's samples, labelled with their job as Prometheus labels them."""
    samples = []
    for job in sorted(jobs):
        with urllib.request.urlopen(f"{url}/metrics/{job}", timeout=5) as response:
            text = response.read().decode()
        for family in parser.text_string_to_metric_families(text):
            for s in family.samples:
                samples.append((s.name, {**s.labels, "job": job}, s.value))
    return samples


def switch(url: str, path: str) -> None:
    request = urllib.request.Request(url + path, method="POST")
    urllib.request.urlopen(request, timeout=5).close()


def requests_by_job(url: str, job: str) -> tuple[float, float]:
    """(5xx, all) of the job's request counter."""
    errors = total = 0.0
    for name, labels, value in scrape(url, {job}):
        if name.endswith("_total") and ("code" in labels or "status" in labels):
            total += value
            if (labels.get("code") or labels.get("status", "")).startswith("5"):
                errors += value
    return errors, total


def share_of_next(url: str, job: str, count: int = 200) -> float:
    """The share of 5xx among the job's next ``count`` requests (bounded wait)."""
    errors0, total0 = requests_by_job(url, job)
    deadline = time.monotonic() + 30
    while True:
        errors, total = requests_by_job(url, job)
        if total - total0 >= count:
            return (errors - errors0) / (total - total0)
        assert time.monotonic() < deadline, f"{job}: only {total - total0} requests in 30s"
        time.sleep(0.05)


# --- the tests -----------------------------------------------------------------------------------
def test_the_workload_serves_every_series_the_specs_read(workload):
    model, diagnostics = load_tree(ROOT / "slo")
    assert model is not None, diagnostics
    demo, other = scrape_jobs()
    samples = scrape(workload, demo)
    missing = []
    for objective, selectors in read_by_specs(model).items():
        for selector in selectors:
            jobs = [m for m in selector.matchers if m.name == "job"]
            if selector.metric == "up":  # Prometheus records it for every target it scrapes
                continue
            if jobs and not any(
                matches(Selector("x", (m,)), "x", {"job": j}) for j in demo for m in jobs
            ):
                # another exporter's job (node, blackbox): the demo does not serve it
                assert all(
                    any(matches(Selector("x", (m,)), "x", {"job": j}) for j in other) for m in jobs
                ), f"{objective}: no scrape job serves {promql.render_selector(selector)}"
                continue
            if not any(matches(selector, name, labels) for name, labels, _ in samples):
                missing.append(f"{objective}: {promql.render_selector(selector)}")
    assert not missing, "the demo workload serves nothing for:\n" + "\n".join(missing)
    assert len(demo) >= 5 and {"node", "blackbox"} <= other  # the split is read as meant


def test_the_fault_switch_fails_the_named_service_until_heal(workload):
    assert share_of_next(workload, "pizza-api") < 0.05  # healthy: the odd 5xx
    switch(workload, "/fault?service=pizza-api&slo=api-availability&ratio=1")
    assert share_of_next(workload, "pizza-api") == 1.0
    assert share_of_next(workload, "api-service") < 0.05  # another service is untouched
    switch(workload, "/fault?service=pizza-api&slo=api-availability&ratio=0.5")
    assert 0.35 < share_of_next(workload, "pizza-api", 400) < 0.65
    switch(workload, "/heal")
    assert share_of_next(workload, "pizza-api") < 0.05


def test_the_switch_refuses_what_it_cannot_break(workload):
    for query, reason in (
        ("service=nope&ratio=1", "no service 'nope'"),
        ("service=pizza-api&slo=nope&ratio=1", "pizza-api has no objective 'nope'"),
        ("service=pizza-api&ratio=2", "RATIO must be between 0 and 1"),
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            switch(workload, f"/fault?{query}")
        assert refused.value.code == 400
        assert reason in refused.value.read().decode()
