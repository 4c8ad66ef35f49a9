"""`slo init`: the starter spec validates and compiles as written, and so do its commented
examples once uncommented; a bad selector or an existing file writes nothing."""

from __future__ import annotations

import re

from support import slo


def test_the_starter_spec_compiles_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = slo("init", "checkout", "--team", "payments")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "wrote slo/checkout.yaml"
    text = (tmp_path / "slo" / "checkout.yaml").read_text()
    assert "total: 'http_requests_total{job=\"checkout\"}'" in text
    assert slo("validate").exit_code == 0
    compiled = slo("compile")
    assert compiled.exit_code == 0, compiled.output
    rules = (tmp_path / "out" / "prometheus" / "rules" / "checkout.rules.yml").read_text()
    assert 'http_requests_total{job="checkout",code=~"5.."}' in rules
    assert "alert: ErrorBudgetBurn" in rules


def test_its_commented_examples_compile_once_uncommented(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert slo("init", "shop", "--team", "web").exit_code == 0
    spec = tmp_path / "slo" / "shop.yaml"
    lines = spec.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  # - name: latency"))
    uncommented = [
        re.sub(r"^(\s*)# ", r"\1", line)
        if i >= start and not line.startswith(("# Alerts", "  # A latency"))
        else line
        for i, line in enumerate(lines)
    ]
    spec.write_text("\n".join(uncommented) + "\n")
    result = slo("compile")
    assert result.exit_code == 0, result.output + spec.read_text()
    rules = (tmp_path / "out" / "prometheus" / "rules" / "shop.rules.yml").read_text()
    assert "slo: latency" in rules and "alert: DiskUsage" in rules


def test_a_custom_selector_gets_its_errors_from_the_same_counter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    selector = 'requests_total{app="shop",env="prod"}'
    result = slo("init", "shop", "--team", "web", "--selector", selector)
    assert result.exit_code == 0, result.output
    text = (tmp_path / "slo" / "shop.yaml").read_text()
    assert 'errors: \'requests_total{app="shop",env="prod",code=~"5.."}\'' in text
    assert slo("compile").exit_code == 0


def test_bad_input_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = slo("init", "shop", "--team", "web", "--selector", "requests_total{app=}")
    assert result.exit_code == 1
    assert "slo/shop.yaml:" in result.stderr and "[promql/syntax]" in result.stderr
    assert "error [init/invalid]" in result.stderr
    assert not (tmp_path / "slo").exists()
    assert slo("init", "Shop", "--team", "web").exit_code == 2  # not a valid name
    assert slo("init", "shop", "--team", "web").exit_code == 0
    again = slo("init", "shop", "--team", "other")
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert "team: web" in (tmp_path / "slo" / "shop.yaml").read_text()
