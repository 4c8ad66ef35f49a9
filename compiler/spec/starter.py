"""`slo init`: a commented starter spec for one service that validates and compiles as written."""

from __future__ import annotations

DEFAULT_SELECTOR = 'http_requests_total{{job="{service}"}}'
DEFAULT_HISTOGRAM = 'http_request_duration_seconds{{job="{service}"}}'


def _quoted(text: str) -> str:
    """A YAML single-quoted scalar: PromQL's double quotes stay as they are."""
    return "'" + text.replace("'", "''") + "'"


def starter(service: str, team: str, selector: str | None = None) -> str:
    """The spec text. ``selector`` is the request counter (every request); 5xx answers of the
    same counter are its errors (``code=~"5.."`` added to its matchers)."""
    total = selector or DEFAULT_SELECTOR.format(service=service)
    name, _, matchers = total.partition("{")
    matchers = matchers.rstrip().removesuffix("}").strip().rstrip(",")
    errors = f'{name}{{{matchers + "," if matchers else ""}code=~"5.."}}'
    histogram = DEFAULT_HISTOGRAM.format(service=service)
    return f"""\
# {service}: a starter spec written by `slo init`. Edit it, then `slo validate` and `slo compile`.
# Every key is described in the README's "Spec reference".
apiVersion: slo/v1
kind: Service
service: {service}
team: {team}  # alerts are routed by team (see the Routing spec)
description: What {service} does for its users.

slos:
  # "At most 1% of requests fail": the share of requests answered without a 5xx.
  - name: availability
    objective: 99                  # percent of good events over the period
    period: 30d
    indicator:
      ratio:
        errors: {_quoted(errors)}
        total: {_quoted(total)}
    alerting:
      page: true                   # fast burn: the budget would be gone within days
      ticket: true                 # slow burn: a ticket for working hours
      # runbook_url: https://runbooks.example.com/{service}/availability

  # A latency SLO needs a histogram with a bucket at its threshold:
  # - name: latency
  #   objective: 95
  #   indicator:
  #     latency:
  #       histogram: {_quoted(histogram)}
  #       threshold: 0.5             # seconds, the le="0.5" bucket

# Alerts on a gauge, e.g. the disk of the hosts {service} runs on (node exporter):
# thresholds:
#   - name: disk-usage
#     expr: >-
#       1 - node_filesystem_avail_bytes{{mountpoint="/"}}
#       / node_filesystem_size_bytes{{mountpoint="/"}}
#     above: 0.85
#     for: 15m
#     severity: ticket
#     unit: ratio
"""
