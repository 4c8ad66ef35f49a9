"""Deliver out/ to live systems: one client per API, all sharing one plan/apply/verify shape.

    client.py      what a client declares: its settings, the out/ paths it delivers, a factory
    registry.py    every client, once; options, targets.yaml, runner and reports iterate it
    endpoints.py   where to deliver: flags > environment > targets.yaml (--env)
    transport.py   HTTP with timeouts, bounded retries with backoff and jitter, redacted secrets
    plan.py        Change / Plan / TargetReport: what differs, as data
    prometheus.py  rule files + reload + read back      alertmanager.py  config file + reload
    grafana.py     folders and managed dashboards        mimir.py         ruler namespaces + AM
    runner.py      which targets, and the order: check all, plan all, then write one by one
    report.py      text, Markdown and JSON renderings of a plan

`slo diff` is plan only; `slo push --dry-run` adds the offline checks; `slo push` applies.
"""
