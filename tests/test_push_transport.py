"""The shared HTTP layer: what is retried, how long it waits, and that tokens never leak."""

import pytest
from fakes.server import FakeServer, Response

from compiler.push.transport import HttpError, RetryPolicy, Secret, Transport, without_userinfo

TOKEN = "glsa_top_secret_value"


class Echo(FakeServer):
    """Answers 200 with the path; /echo-auth answers 500 quoting the Authorization header."""

    def route(self, request):
        if request.path == "/echo-auth":
            return Response.text(500, f"bad header {request.headers.get('Authorization')}")
        if request.path == "/missing":
            return Response.text(404, "no such thing")
        return Response.text(200, request.path)


@pytest.fixture
def server():
    with Echo() as fake:
        yield fake


def transport(url, pauses, timeout=2.0, retries=3) -> Transport:
    return Transport(
        url,
        token=Secret(TOKEN),
        timeout=timeout,
        policy=RetryPolicy(retries, 0.5, 8.0),
        sleep=pauses.append,
        rng=lambda: 0.5,
    )


def test_5xx_is_retried_with_growing_pauses_until_it_succeeds(server):
    server.fail("GET", "/x", status=503, times=2)
    pauses = []
    http = transport(server.url, pauses)
    assert http.request("GET", "/x").text == "/x"
    assert http.attempts == 3
    assert pauses == [0.375, 0.75]  # half fixed, half jitter (rng 0.5): 0.5 -> 0.375, 1.0 -> 0.75


def test_4xx_is_returned_at_once(server):
    pauses = []
    http = transport(server.url, pauses)
    assert http.request("GET", "/missing").status_code == 404
    assert http.attempts == 1 and pauses == []
    with pytest.raises(HttpError) as exc:
        http.expect(http.request("GET", "/missing"), (200,), "read the thing")
    assert str(exc.value) == "read the thing: HTTP 404: no such thing" and exc.value.status == 404


def test_retries_are_bounded_and_the_error_says_what_failed(server):
    server.fail("POST", "/y", status=502, times=99)
    pauses = []
    with pytest.raises(HttpError) as exc:
        transport(server.url, pauses, retries=2).request("POST", "/y")
    assert str(exc.value) == f"POST {server.url}/y: HTTP 502: injected fault 502 after 3 attempts"
    assert len(pauses) == 2


def test_dropped_connections_and_slow_answers_are_retried(server):
    server.drop("GET", "/a")
    server.slow("GET", "/b", delay=1.0)
    pauses = []
    http = transport(server.url, pauses, timeout=0.2)
    assert http.request("GET", "/a").text == "/a"
    assert http.request("GET", "/b").text == "/b"
    assert http.attempts == 4 and len(pauses) == 2


def test_a_server_that_is_down_fails_with_the_reason_after_the_retries():
    pauses = []
    with pytest.raises(HttpError) as exc:
        transport("http://127.0.0.1:9", pauses, retries=1).request("GET", "/")
    assert "connection failed" in str(exc.value) and "Connection refused" in str(exc.value)
    assert "after 2 attempts" in str(exc.value)


def test_the_token_is_sent_but_never_shown(server):
    pauses = []
    http = transport(server.url, pauses, retries=0)
    with pytest.raises(HttpError) as exc:
        http.request("GET", "/echo-auth")
    assert TOKEN not in str(exc.value) and TOKEN not in exc.value.body
    assert "bad header Bearer <redacted>" in str(exc.value)
    assert server.log[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(Secret(TOKEN)) and TOKEN not in f"{Secret(TOKEN)}"


def test_tls_is_verified_unless_switched_off():
    assert Transport("https://example.invalid").session.verify is True
    assert Transport("https://example.invalid", verify=False).session.verify is False


@pytest.mark.parametrize("attempt", range(1, 8))
def test_pauses_stay_between_half_and_all_of_the_capped_exponential(attempt):
    policy = RetryPolicy(retries=10, backoff=0.5, max_backoff=8.0)
    ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
    assert policy.pause(attempt, lambda: 0.0) == ceiling / 2
    assert policy.pause(attempt, lambda: 1.0) == ceiling


def test_credentials_in_the_url_become_basic_auth_and_stay_out_of_messages(server):
    url = server.url.replace("http://", "http://admin:pa%40ss@")
    http = Transport(url, policy=RetryPolicy(retries=0))
    assert http.base_url == server.url
    with pytest.raises(HttpError) as exc:
        http.request("GET", "/echo-auth")
    assert "pa@ss" not in str(exc.value) and "admin" not in str(exc.value)
    assert server.log[-1].headers["Authorization"] == "Basic YWRtaW46cGFAc3M="  # admin:pa@ss
    assert without_userinfo("https://u:p@h.example/x") == "https://<redacted>@h.example/x"


def test_a_timeout_chosen_for_one_request_is_the_one_the_error_names(server):
    server.slow("POST", "/-/reload", delay=1.0, times=2)
    pauses = []
    with pytest.raises(HttpError) as exc:
        transport(server.url, pauses, timeout=5.0, retries=1).request(
            "POST", "/-/reload", timeout=(1.0, 0.2)
        )
    assert "no answer within 0.2s after 2 attempts" in str(exc.value)


def test_a_prometheus_reload_slower_than_the_request_timeout_is_waited_for_and_sent_once(tmp_path):
    """Prometheus answers /-/reload only when every rule file is loaded: 9-17 s for 60,000 rules
    (bench/README.md). Cut off at the per-request timeout and sent again, the reloads piled up and
    the push ended by restoring files that were fine."""
    from compiler.push.prometheus import RELOAD_TIMEOUT, Prometheus, PrometheusPusher

    class SlowReload(FakeServer):
        def route(self, request):
            if request.path == "/metrics":
                return Response.text(200, "prometheus_config_last_reload_successful 1\n")
            return Response.text(200, "")

    with SlowReload() as prom:
        prom.slow("POST", "/-/reload", delay=1.0)
        pauses = []
        http = transport(prom.url, pauses, timeout=0.2)
        (tmp_path / "prometheus" / "rules").mkdir(parents=True)
        pusher = PrometheusPusher(Prometheus(prom.url, tmp_path), tmp_path, http, check=None)
        pusher.reload()
    assert RELOAD_TIMEOUT >= 60
    assert [r.method for r in prom.log] == ["POST", "GET"] and pauses == []
