"""Every push client, once: the one list `slo push`, `slo diff` and their options iterate.

The order here is the order of the command line's options, of targets.yaml's schema and of
every report. A new client adds its module (with its ``CLIENT``, see client.py) and one line
below; nothing else in slo names it.
"""

from __future__ import annotations

from typing import Any

from compiler.push import alertmanager, grafana, mimir, prometheus, vmalert
from compiler.push.client import PushClient

CLIENTS: dict[str, PushClient[Any]] = {}


def register(client: PushClient[Any]) -> PushClient[Any]:
    """Add ``client``; its name and environment variables must be its own."""
    if client.name in CLIENTS:
        raise ValueError(f"push client {client.name} is registered twice")
    taken = {key.variable for other in CLIENTS.values() for key in other.keys}
    clash = sorted(taken & {key.variable for key in client.keys})
    if clash:
        raise ValueError(f"push client {client.name}: {clash[0]} belongs to another client")
    CLIENTS[client.name] = client
    return client


def clients() -> tuple[PushClient[Any], ...]:
    return tuple(CLIENTS.values())


def names() -> tuple[str, ...]:
    return tuple(CLIENTS)


def get(name: str) -> PushClient[Any]:
    return CLIENTS[name]


register(prometheus.CLIENT)
register(alertmanager.CLIENT)
register(grafana.CLIENT)
register(mimir.CLIENT)
register(vmalert.CLIENT)
