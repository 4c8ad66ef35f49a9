"""Reading the live Prometheus and Alertmanager that `slo push` delivered to.

Where they are comes from the push targets' configuration (flags > environment > targets.yaml,
``push/endpoints.py``); requests go through ``push/transport.py``, so timeouts, retries, TLS
files and redaction are those of `slo push`. Every failure is a LiveError whose message names
the server and says what to check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from compiler.push.endpoints import Endpoints
from compiler.push.transport import PushError, Transport

Labels = dict[str, str]


class LiveError(Exception):
    """A live server cannot answer; the message is safe to print."""


@dataclass(frozen=True)
class Alert:
    labels: tuple[tuple[str, str], ...]
    state: str  # firing | pending (Prometheus)
    receivers: tuple[str, ...] = ()  # where Alertmanager routed it, when it knows the alert

    def label(self, name: str) -> str:
        return dict(self.labels).get(name, "")


def _number(text: str) -> float | None:
    value = float(text)
    return None if math.isnan(value) else value


class Prometheus:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def _get(self, path: str, params: dict[str, str]) -> Any:
        try:
            response = self.transport.request("GET", path, params=params)
        except PushError as exc:
            raise LiveError(f"Prometheus is unreachable: {exc}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or answer.get("status") != "success":
            reason = answer.get("error") if isinstance(answer, dict) else response.text[:200]
            raise LiveError(
                f"Prometheus at {self.transport.base_url} refused {path} "
                f"(HTTP {response.status_code}): {reason}"
            )
        return answer["data"]

    def query(self, expr: str, at: float | None = None) -> list[tuple[Labels, float | None]]:
        params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
        data = self._get("/api/v1/query", params)
        return [(item["metric"], _number(item["value"][1])) for item in data.get("result", [])]

    def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> list[tuple[Labels, list[tuple[float, float]]]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = self._get("/api/v1/query_range", params)
        out = []
        for item in data.get("result", []):
            points = [(float(t), float(v)) for t, v in item["values"] if not math.isnan(float(v))]
            out.append((item["metric"], points))
        return out

    def alerts(self) -> list[Alert]:
        data = self._get("/api/v1/alerts", {})
        return [  # vmalert (and VictoriaMetrics, which hands it the call) says null for none
            Alert(tuple(sorted(a["labels"].items())), a.get("state", "firing"))
            for a in data.get("alerts") or []
        ]


class Alertmanager:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def receivers(self) -> dict[tuple[tuple[str, str], ...], tuple[str, ...]]:
        """Alerts' label sets -> the receivers Alertmanager routed them to; an alert inhibited
        or silenced there (so not delivered) gets "(suppressed)" after them."""
        try:
            response = self.transport.request("GET", "/api/v2/alerts")
            alerts = self.transport.expect(response, (200,), "Alertmanager alerts").json()
        except (PushError, ValueError) as exc:
            raise LiveError(f"Alertmanager is unreachable: {exc}") from None
        found = {}
        for alert in alerts if isinstance(alerts, list) else []:
            if not isinstance(alert, dict):
                continue
            names = tuple(r.get("name", "") for r in alert.get("receivers", []))
            if (alert.get("status") or {}).get("state") == "suppressed":
                names += ("(suppressed)",)
            found[tuple(sorted(alert.get("labels", {}).items()))] = names
        return found


def connect(found: Endpoints) -> tuple[Prometheus, Alertmanager | None]:
    """The configured Prometheus (required) and Alertmanager (optional)."""
    if "prometheus" not in found.targets:
        raise LiveError(
            "no Prometheus is configured: set SLO_PROMETHEUS_URL, --prometheus-url or --env"
        )

    def transport(name: str) -> Transport:
        tls = found.tls.get(name)
        return Transport(
            found.targets[name].url,
            timeout=found.timeout,
            verify=tls.verify(found.tls_verify) if tls else found.tls_verify,
            cert=tls.cert() if tls else None,
        )

    manager = Alertmanager(transport("alertmanager")) if "alertmanager" in found.targets else None
    return Prometheus(transport("prometheus")), manager
