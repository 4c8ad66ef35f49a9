"""The demo workload of `make run`: the services of slo/ as one process, with a fault switch.

It serves, on 127.0.0.1 only, what the examples in slo/ read and no real exporter of this machine
provides: request counters with status codes and latency histograms of every API, the gauges of
the PostgreSQL, Redis, PgBouncer and CloudWatch exporters, and health endpoints for the blackbox
exporter to probe, one of them over TLS with a certificate that expires in a few days. Traffic is
uneven: a ten-minute wave, random bursts, and the odd error or slow answer.

    workload.py serve --port 8400 --tls-port 8443 --cert C --key K --state .run/demo
    workload.py fault --service pizza-api [--slo api-latency] --ratio 0.5
    workload.py heal
    workload.py objectives          # every objective of slo/ and how the switch breaks it

Every job's metrics are at /metrics/<job> (the local Prometheus scrapes each as that job), the
health endpoints at /health/<job>, and the switch at POST /fault and POST /heal.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

DEFAULT_PORT = 8400
# Boundaries of every latency SLO in slo/ (0.5s, 2s, 10s) are buckets, as the specs ask.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 30.0)
TICK = 1.0  # seconds between simulated batches of requests
OK_CODES, ERROR_CODES = ("200", "201", "404"), ("500", "502", "503")
CODES = OK_CODES + ERROR_CODES
METHODS = ("GET", "POST")
GiB = 1024**3


@dataclass(frozen=True)
class Api:
    """One API of the examples: its scrape job, service and traffic."""

    job: str
    service: str
    per_second: float  # mean requests per second
    error_ratio: float  # of 5xx answers when healthy
    median: float  # seconds
    slow_share: float = 0.0  # share of calls that are slow by design (LLM calls)
    slow_median: float = 0.0
    counter: str = "http_requests_total"
    code_label: str = "code"
    histogram: bool = True
    # more request labels, one value drawn per request: what grouped SLOs (`by:`) group by
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()


APIS = (
    Api("ivor-api", "blkout-api", 3.0, 0.002, 0.12),
    Api("events-api", "blkout-api", 1.5, 0.003, 0.08, histogram=False),
    Api("newsroom-api", "blkout-api", 1.0, 0.001, 0.06, histogram=False),
    Api(
        "api-service",
        "fitness-api",
        4.0,
        0.002,
        0.3,
        groups=(
            ("region", ("us-east-1", "eu-west-1", "ap-southeast-1")),
            ("endpoint", ("/v1/workouts", "/v1/auth/login", "/v1/payments")),
        ),
    ),
    # ~100 requests a minute, as the pizza spec's comment says; LLM-backed calls take seconds.
    Api("pizza-api", "pizza-api", 1.7, 0.001, 0.2, slow_share=0.1, slow_median=3.0),
    Api(
        "flask-app",
        "enterprise-scanner",
        0.6,
        0.002,
        0.05,
        counter="flask_http_request_total",
        code_label="status",
        histogram=False,
    ),
)

# How the switch breaks each objective of slo/: (service, objective) -> what goes wrong.
#   ("errors", job)   that share of the job's requests answer 5xx
#   ("slow", job, s)  that share of the job's requests take longer than s seconds
#   ("health", job)   the job's health endpoint (probed by blackbox) answers 503
#   ("gauge", name)   the named gauge moves past its threshold
#   ("scrape", job)   the job's metrics endpoint fails, so Prometheus' up{job} is 0
BLKOUT = ("ivor-api", "events-api", "newsroom-api")
FAULTS: dict[tuple[str, str], tuple[tuple, ...]] = {
    ("blkout-api", "api-availability"): tuple(("errors", job) for job in BLKOUT),
    ("blkout-api", "ivor-latency"): (("slow", "ivor-api", 0.5),),
    ("blkout-api", "api-health-down"): (("health", "ivor-api"),),
    ("blkout-api", "postgres-down"): (("gauge", "pg_up"),),
    ("blkout-api", "pg-replication-lag"): (("gauge", "replication_lag"),),
    ("blkout-api", "redis-memory-usage"): (("gauge", "redis_memory"),),
    ("enterprise-scanner", "api-availability"): (("errors", "flask-app"),),
    ("enterprise-scanner", "site-down"): (("health", "tls"),),
    ("enterprise-scanner", "postgres-down"): (("gauge", "pg_up"),),
    ("enterprise-scanner", "redis-down"): (("gauge", "redis_up"),),
    ("enterprise-scanner", "pgbouncer-down"): (("gauge", "pgbouncer_up"),),
    ("enterprise-scanner", "exporter-down"): (("scrape", "redis"),),
    ("fitness-api", "api-availability"): (("errors", "api-service"),),
    ("fitness-api", "endpoint-availability"): (("errors", "api-service"),),
    ("fitness-api", "api-latency"): (("slow", "api-service", 2.0),),
    ("fitness-api", "service-down"): (("health", "api-service"),),
    ("fitness-api", "error-rate-critical"): (("errors", "api-service"),),
    ("fitness-api", "rds-unavailable"): (("gauge", "pg_up"),),
    ("fitness-api", "dlq-not-empty"): (("gauge", "dlq"),),
    ("fitness-api", "disk-usage"): (("gauge", "opensearch_disk"),),
    ("fitness-api", "rds-free-storage"): (("gauge", "rds_free_storage"),),
    ("fitness-api", "memory-usage"): (("gauge", "fitness_ecs_memory"),),
    ("pizza-api", "api-availability"): (("errors", "pizza-api"),),
    ("pizza-api", "api-latency"): (("slow", "pizza-api", 10.0),),
    ("pizza-api", "no-healthy-targets"): (("gauge", "healthy_hosts_zero"),),
    ("pizza-api", "reduced-redundancy"): (("gauge", "healthy_hosts_one"),),
    ("pizza-api", "alb-5xx-ratio"): (("gauge", "alb_5xx"),),
    ("pizza-api", "ecs-cpu-usage"): (("gauge", "pizza_ecs_cpu"),),
    ("pizza-api", "ecs-memory-usage"): (("gauge", "pizza_ecs_memory"),),
}
# Objectives whose series come from a real exporter of this machine: the switch cannot fake them.
REAL = {
    ("blkout-api", "memory-usage"): "the node exporter reports this machine's memory",
    ("blkout-api", "disk-usage"): "the node exporter reports this machine's disk",
    ("enterprise-scanner", "disk-usage"): "the node exporter reports this machine's disk",
    ("enterprise-scanner", "cert-renewal-overdue"): "fires by itself: the certificate expires soon",
    ("fitness-api", "tls-cert-expiry"): "fires by itself: the certificate expires soon",
}


class Faults:
    """The switch's state: (service, objective) -> ratio, shared by the request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ratios: dict[tuple[str, str], float] = {}

    def set(self, service: str, objective: str | None, ratio: float) -> list[str]:
        """Switch a fault on; the objectives it breaks. ValueError for an unknown name."""
        chosen = [key for key in FAULTS if key[0] == service and objective in (None, key[1])]
        if not chosen:
            reason = REAL.get((service, objective or ""))
            if reason:
                raise ValueError(f"{service}/{objective}: {reason}")
            known = sorted({s for s, _ in FAULTS})
            if service not in known:
                raise ValueError(f"no service {service!r} in slo/; services: {', '.join(known)}")
            names = sorted(o for s, o in FAULTS if s == service)
            raise ValueError(f"{service} has no objective {objective!r}; choose from {names}")
        if objective is None:  # the whole service: its SLOs, not every threshold
            chosen = [k for k in chosen if FAULTS[k][0][0] in ("errors", "slow")]
        with self._lock:
            for key in chosen:
                self._ratios[key] = ratio
        return [f"{s}/{o}" for s, o in chosen]

    def heal(self) -> list[str]:
        with self._lock:
            healed = sorted(f"{s}/{o}" for s, o in self._ratios)
            self._ratios.clear()
        return healed

    def active(self) -> list[tuple[tuple, float]]:
        with self._lock:
            return [(effect, r) for key, r in self._ratios.items() for effect in FAULTS[key]]

    def ratio(self, kind: str, target: str) -> float:
        return max(
            (r for effect, r in self.active() if effect[0] == kind and effect[1] == target),
            default=0.0,
        )

    def slow(self, job: str) -> tuple[float, float]:
        """(share, threshold) of the job's requests to slow down."""
        found = [(r, e[2]) for e, r in self.active() if e[0] == "slow" and e[1] == job]
        return max(found, default=(0.0, 0.0))

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {f"{s}/{o}": r for (s, o), r in sorted(self._ratios.items())}


class Workload:
    def __init__(self, faults: Faults, rng: random.Random, tick: float = TICK) -> None:
        self.faults = faults
        self.rng = rng
        self.tick_seconds = tick
        self.registries: dict[str, CollectorRegistry] = {}
        self.requests: dict[str, Counter] = {}
        self.latency: dict[str, Histogram] = {}
        for api in APIS:
            registry = self.registries.setdefault(api.job, CollectorRegistry())
            self.requests[api.job] = Counter(
                api.counter.removesuffix("_total"),
                f"Requests of {api.job} by status code.",
                [api.code_label, "method", *(name for name, _ in api.groups)],
                registry=registry,
            )
            # Every code and method from the start, at 0: a ratio of 5xx over all requests has
            # data before the first 5xx (the client library exports a label set once it is used).
            for code in CODES:
                for method in METHODS:
                    for extra in itertools.product(*(values for _, values in api.groups)):
                        self.requests[api.job].labels(code, method, *extra)
            if api.histogram:
                self.latency[api.job] = Histogram(
                    "http_request_duration_seconds",
                    f"Time {api.job} takes to answer.",
                    registry=registry,
                    buckets=BUCKETS,
                )
        self.families: dict[tuple[str, str], Gauge] = {}
        self.gauges = self._gauges()
        self.started = time.monotonic()
        self.burst_until = 0.0

    def _gauge(self, job: str, name: str, doc: str, labels: dict[str, str] | None = None) -> Gauge:
        key = (job, name)
        if key not in self.families:  # one family per name, a child per label set
            registry = self.registries.setdefault(job, CollectorRegistry())
            self.families[key] = Gauge(name, doc, list(labels or {}), registry=registry)
        return self.families[key].labels(**labels) if labels else self.families[key]

    def _gauges(self) -> dict[str, Gauge]:
        alb = {
            "load_balancer": "app/pizza-alb/50dc6c495c0c9188",
            "target_group": "targetgroup/pizza-api/73e2d6bc24d8a067",
        }
        pizza_ecs = {"cluster_name": "pizza-cluster", "service_name": "pizza-api"}
        g = self._gauge
        return {
            "pg_up": g("postgres", "pg_up", "Whether PostgreSQL answers."),
            "replication_lag": g(
                "postgres", "pg_replication_lag_seconds", "Replica lag.", {"instance": "replica"}
            ),
            "is_replica": g(
                "postgres", "pg_replication_is_replica", "1 on a replica.", {"instance": "replica"}
            ),
            "redis_up": g("redis", "redis_up", "Whether Redis answers."),
            "redis_used": g("redis", "redis_memory_used_bytes", "Memory Redis uses."),
            "redis_max": g("redis", "redis_memory_max_bytes", "Redis maxmemory."),
            "pgbouncer_up": g("pgbouncer", "pgbouncer_up", "Whether PgBouncer answers."),
            "dlq": g(
                "cloudwatch",
                "aws_sqs_approximate_number_of_messages_visible_maximum",
                "Messages in the queue.",
                {"queue_name": "payment-webhooks-dlq"},
            ),
            "queue": g(
                "cloudwatch",
                "aws_sqs_approximate_number_of_messages_visible_maximum",
                "Messages in the queue.",
                {"queue_name": "payment-webhooks"},
            ),
            "es_used": g(
                "cloudwatch",
                "aws_es_cluster_used_space_maximum",
                "OpenSearch used MB.",
                {"domain_name": "content-search"},
            ),
            "es_free": g(
                "cloudwatch",
                "aws_es_free_storage_space_sum",
                "OpenSearch free MB.",
                {"domain_name": "content-search"},
            ),
            "rds_free": g(
                "cloudwatch",
                "aws_rds_free_storage_space_average",
                "RDS free bytes.",
                {"dbinstance_identifier": "fitness-prod-primary"},
            ),
            "fitness_memory": g(
                "cloudwatch",
                "aws_ecs_memory_utilization_average",
                "ECS memory percent.",
                {"cluster_name": "fitness-prod", "service_name": "api-service"},
            ),
            "healthy": g(
                "cloudwatch",
                "aws_applicationelb_healthy_host_count_minimum",
                "Healthy ALB targets.",
                alb,
            ),
            "alb_5xx": g(
                "cloudwatch",
                "aws_applicationelb_httpcode_elb_5_xx_count_sum",
                "ALB-generated 5xx.",
                {"load_balancer": alb["load_balancer"]},
            ),
            "alb_requests": g(
                "cloudwatch",
                "aws_applicationelb_request_count_sum",
                "ALB requests.",
                {"load_balancer": alb["load_balancer"]},
            ),
            "pizza_cpu": g(
                "cloudwatch", "aws_ecs_cpuutilization_average", "ECS CPU percent.", pizza_ecs
            ),
            "pizza_memory": g(
                "cloudwatch",
                "aws_ecs_memory_utilization_average",
                "ECS memory percent.",
                pizza_ecs,
            ),
        }

    # --- traffic -------------------------------------------------------------------------------
    def load(self, now: float) -> float:
        """How busy the services are: a ten-minute wave and, now and then, a burst."""
        if now > self.burst_until and self.rng.random() < 0.01:
            self.burst_until = now + self.rng.uniform(20, 60)
        wave = 1 + 0.5 * math.sin(2 * math.pi * (now - self.started) / 600)
        return wave * (2.5 if now < self.burst_until else 1.0)

    def count(self, mean: float) -> int:
        """Requests in one tick: Poisson-distributed around ``mean``."""
        if mean <= 0:
            return 0
        limit, k, p = math.exp(-mean), 0, 1.0
        while k < 1000:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1
        return k

    def tick(self, now: float) -> None:
        load = self.load(now)
        for api in APIS:
            failing = self.faults.ratio("errors", api.job)
            slow_share, slow_over = self.faults.slow(api.job)
            for _ in range(self.count(api.per_second * load * TICK)):  # a second's traffic
                if self.rng.random() < max(failing, api.error_ratio * load):
                    code = self.rng.choice(ERROR_CODES)
                else:
                    code = self.rng.choices(OK_CODES, (90, 6, 4))[0]
                method = self.rng.choices(METHODS, (4, 1))[0]
                extra = [self.rng.choice(values) for _, values in api.groups]
                self.requests[api.job].labels(code, method, *extra).inc()
                if api.job in self.latency:
                    self.latency[api.job].observe(self.duration(api, slow_share, slow_over))
        self.set_gauges(now)

    def duration(self, api: Api, slow_share: float, slow_over: float) -> float:
        if slow_share and self.rng.random() < slow_share:
            return slow_over * self.rng.uniform(1.2, 2.5)
        median = api.median
        if api.slow_share and self.rng.random() < api.slow_share:
            median = api.slow_median
        return median * math.exp(self.rng.gauss(0, 0.5))

    def set_gauges(self, now: float) -> None:
        g, broken, jitter = self.gauges, self.broken, self.rng.uniform
        g["pg_up"].set(0 if broken("pg_up") else 1)
        g["replication_lag"].set(jitter(3, 8) if broken("replication_lag") else jitter(0.02, 0.3))
        g["is_replica"].set(1)
        g["redis_up"].set(0 if broken("redis_up") else 1)
        g["redis_max"].set(2 * GiB)
        share = jitter(0.9, 0.97) if broken("redis_memory") else jitter(0.55, 0.65)
        g["redis_used"].set(round(share * 2 * GiB))
        g["pgbouncer_up"].set(0 if broken("pgbouncer_up") else 1)
        g["dlq"].set(self.rng.randint(1, 5) if broken("dlq") else 0)
        g["queue"].set(self.rng.randint(0, 40))
        used = jitter(2_700_000, 2_800_000) if broken("opensearch_disk") else jitter(1.2e6, 1.25e6)
        g["es_used"].set(used)  # MB of a 3 TB cluster
        g["es_free"].set(3_000_000 - used)
        g["rds_free"].set((100 if broken("rds_free_storage") else 420) * GiB)
        g["fitness_memory"].set(jitter(88, 95) if broken("fitness_ecs_memory") else jitter(45, 60))
        healthy = 0 if broken("healthy_hosts_zero") else 1 if broken("healthy_hosts_one") else 2
        g["healthy"].set(healthy)
        requests = jitter(5000, 7000)
        g["alb_requests"].set(requests)
        g["alb_5xx"].set(requests * (0.05 if broken("alb_5xx") else jitter(0, 0.002)))
        g["pizza_cpu"].set(jitter(90, 98) if broken("pizza_ecs_cpu") else jitter(25, 55))
        g["pizza_memory"].set(jitter(92, 98) if broken("pizza_ecs_memory") else jitter(40, 60))

    def broken(self, gauge: str) -> bool:
        return self.faults.ratio("gauge", gauge) > 0

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.tick_seconds):
            self.tick(time.monotonic())


# --- serving -------------------------------------------------------------------------------------
def handler(workload: Workload, health_job: str | None = None) -> type[BaseHTTPRequestHandler]:
    faults = workload.faults

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet: scrapes every 15s
            pass

        def answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
            if health_job is not None or path[0] == "health":
                job = health_job or (path[1] if len(path) > 1 else "")
                if faults.ratio("health", job) > 0:
                    self.answer(503, b"unhealthy (demo fault)\n")
                else:
                    self.answer(200, b"ok\n")
            elif path[0] == "metrics" and len(path) == 2 and path[1] in workload.registries:
                if faults.ratio("scrape", path[1]) > 0:
                    self.answer(503, b"exporter down (demo fault)\n")
                else:
                    body = generate_latest(workload.registries[path[1]])
                    self.answer(200, body, CONTENT_TYPE_LATEST)
            elif path[0] == "faults":
                self.answer(200, json.dumps(faults.snapshot()).encode(), "application/json")
            else:
                self.answer(404, b"not found\n")

        def do_POST(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            try:
                if parts.path == "/fault":
                    ratio = float(query.get("ratio", ""))
                    if not 0 <= ratio <= 1:
                        raise ValueError(f"RATIO must be between 0 and 1, not {ratio:g}")
                    broken = faults.set(query.get("service", ""), query.get("slo") or None, ratio)
                    self.answer(200, json.dumps({"fault": broken, "ratio": ratio}).encode())
                elif parts.path == "/heal":
                    self.answer(200, json.dumps({"healed": faults.heal()}).encode())
                else:
                    self.answer(404, b"not found\n")
            except ValueError as exc:
                self.answer(400, str(exc).encode())

    return Handler


def serve(args: argparse.Namespace) -> None:
    workload = Workload(Faults(), random.Random(args.seed), args.tick)
    http = ThreadingHTTPServer(("127.0.0.1", args.port), handler(workload))
    servers = [http]
    if args.tls_port:
        tls = ThreadingHTTPServer(("127.0.0.1", args.tls_port), handler(workload, "tls"))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        tls.socket = context.wrap_socket(tls.socket, server_side=True)
        servers.append(tls)
    stop = threading.Event()
    threads = [threading.Thread(target=workload.run, args=(stop,), daemon=True)]
    threads += [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    print(f"demo workload on http://127.0.0.1:{args.port} (tls :{args.tls_port})", flush=True)
    try:
        while threads[0].is_alive():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for server in servers:
            server.shutdown()


# --- the switch's command line -------------------------------------------------------------------
def _post(port: int, path: str) -> str:
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=5) as r:
            return r.read().decode()
    except urllib.error.HTTPError as exc:
        sys.exit(f"demo workload: {exc.read().decode().strip()}")
    except OSError as exc:
        sys.exit(f"demo workload not reachable on 127.0.0.1:{port} ({exc}); run `make run`")


def fault(args: argparse.Namespace) -> None:
    if not args.service:
        sys.exit("usage: make fault SERVICE=<service> [SLO=<objective>] RATIO=<0..1>")
    query = {"service": args.service, "ratio": args.ratio or "1"}
    if args.slo:
        query["slo"] = args.slo
    answer = json.loads(_post(args.port, f"/fault?{urllib.parse.urlencode(query)}"))
    broken = ", ".join(answer["fault"])
    print(f"fault: {broken} at ratio {answer['ratio']:g} (make heal ends it)")
    print(
        f"watch: .venv/bin/slo status --env {args.env}; "
        "deliveries in .run/captured/notifications.jsonl"
    )


def heal(args: argparse.Namespace) -> None:
    answer = json.loads(_post(args.port, "/heal"))
    healed = ", ".join(answer["healed"]) or "nothing was broken"
    print(f"healed: {healed}; firing alerts resolve within a few minutes")


def objectives(args: argparse.Namespace) -> None:
    for (service, objective), effects in sorted(FAULTS.items()):
        what = "; ".join(" ".join(str(x) for x in effect) for effect in effects)
        print(f"{service}/{objective}: {what}")
    for (service, objective), reason in sorted(REAL.items()):
        print(f"{service}/{objective}: not switchable: {reason}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve")
    run.add_argument("--tls-port", type=int, default=0)
    run.add_argument("--cert")
    run.add_argument("--key")
    run.add_argument("--seed", type=int, default=None)
    # A shorter tick sends a second's traffic more often: a test's hundreds of requests in a blink
    run.add_argument("--tick", type=float, default=TICK, help=argparse.SUPPRESS)
    run.set_defaults(func=serve)
    broken = sub.add_parser("fault")
    broken.add_argument("--service", default="")
    broken.add_argument("--slo", default="")
    broken.add_argument("--ratio", default="1")
    broken.add_argument("--env", default="local", help="the stack's environment in targets.yaml")
    broken.set_defaults(func=fault)
    sub.add_parser("heal").set_defaults(func=heal)
    sub.add_parser("objectives").set_defaults(func=objectives)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
