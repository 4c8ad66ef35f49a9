"""The shared HTTP layer: what is retried, how long it waits, that secrets never leak (whatever
a server echoes, however a message is cut), that answers are bounded, and TLS with a target's own
CA and client certificate."""

import base64

import pytest
import yaml
from fakes.mimir import FakeMimir
from fakes.server import FakeServer, Response
from support.outtrees import diff, specs, write_rules
from support.tls import server_context

from compiler.push import endpoints as ep
from compiler.push.mimir import Mimir
from compiler.push.transport import (
    BODY_EXCERPT,
    HttpError,
    PushError,
    RetryPolicy,
    Secret,
    Transport,
    redact,
    without_userinfo,
)
from compiler.spec.yaml_source import MAX_NODES

TOKEN = "glsa_top_secret_value"


class Echo(FakeServer):
    """Answers 200 with the path; /echo-auth answers 500 quoting the Authorization header;
    /say answers 400 with the text of its ``text`` parameter; /deep 200 with JSON nested
    100,000 levels; /big 200 with 10,000 bytes."""

    def route(self, request):
        if request.path == "/echo-auth":
            return Response.text(500, f"bad header {request.headers.get('Authorization')}")
        if request.path == "/missing":
            return Response.text(404, "no such thing")
        if request.path == "/say":
            return Response.text(400, request.query["text"][0])
        if request.path == "/deep":
            return Response(200, b"[" * 100_000 + b"]" * 100_000)
        if request.path == "/big":
            return Response(200, b"x" * 10_000)
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
    assert Transport("https://example.invalid").verify is True
    assert Transport("https://example.invalid", verify=False).verify is False


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
    assert "YWRtaW46cGFAc3M=" not in str(exc.value)  # the header the server echoed
    assert "bad header Basic <redacted>" in str(exc.value)
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


# --- secrets in messages ------------------------------------------------------------------------
def test_a_secret_where_an_excerpt_is_cut_is_redacted_before_the_cut(server):
    """Redacted after truncation, the token was cut first and all but its last character shown."""
    token = "tok-" + "k7" * 20  # of no recognisable form: only the live Secret says it is one
    http = Transport(server.url, token=Secret(token), policy=RetryPolicy(retries=0))
    for cut_at in (4, 10, len(token) - 1):
        text = "x" * (BODY_EXCERPT - 3 - cut_at) + token + " and the rest"
        with pytest.raises(HttpError) as exc:
            http.expect(http.request("GET", "/say", params={"text": text}), (200,), "say")
        assert token[:cut_at] not in str(exc.value) and token[:cut_at] not in exc.value.body
        shown = ("x" * (BODY_EXCERPT - 3 - cut_at) + "<redacted>")[: BODY_EXCERPT - 3]
        assert exc.value.body.startswith(shown)
    # a bearer token slo never had, echoed by a server, is cut no more than a known one
    foreign = "Authorization: Bearer " + "f00d" * 20
    with pytest.raises(HttpError) as exc:
        text = "x" * (BODY_EXCERPT - 3 - 30) + foreign
        http.expect(http.request("GET", "/say", params={"text": text}), (200,), "say")
    assert "f00d" not in str(exc.value) and "Bearer <redacted>" in str(exc.value)


def test_basic_credentials_are_redacted_in_both_forms():
    header = base64.b64encode(b"deploy:Tr0ub4dor&3").decode()
    said = f"denied: Authorization: Basic {header}; from https://deploy:Tr0ub4dor&3@ci.example/x"
    shown = redact(said)
    assert header not in shown and "Tr0ub4dor" not in shown and "deploy:" not in shown
    assert shown == (
        "denied: Authorization: Basic <redacted>; from https://<redacted>@ci.example/x"
    )
    assert redact("Basic auth and basic authentication") == "Basic auth and basic authentication"


def test_a_raw_at_sign_in_a_url_password_leaks_nothing(server):
    """The userinfo ends at the last "@" of the authority: everything before it is secret."""
    url = server.url.replace("http://", "http://admin:p@ss:w@rd@")
    http = Transport(url, policy=RetryPolicy(retries=0))
    assert http.base_url == server.url
    with pytest.raises(HttpError) as exc:
        http.request("GET", "/echo-auth")
    assert server.log[-1].headers["Authorization"] == "Basic " + base64.b64encode(
        b"admin:p@ss:w@rd"
    ).decode("ascii")
    for part in ("ss:w", "w@rd", "rd@"):
        assert part not in str(exc.value) and part not in without_userinfo(url)
    assert without_userinfo(url) == server.url.replace("http://", "http://<redacted>@")
    assert redact("see http://u:a@b@c@host.example/x") == "see http://<redacted>@host.example/x"


def test_a_token_with_a_line_break_is_refused_and_never_printed(server):
    """requests refused such a header with an InvalidHeader quoting it, token and all."""
    with pytest.raises(PushError) as exc:
        Transport(server.url, token=Secret("glsa_first_line\nsecond-line")).request("GET", "/x")
    assert "first_line" not in str(exc.value) and "second-line" not in str(exc.value)
    assert "control character" in str(exc.value)
    assert server.log == []


def test_a_request_requests_refuses_to_send_is_an_error_naming_no_secret(server):
    http = Transport(
        server.url,
        token=Secret("tok-" + "q" * 30),
        headers={"X-Scope-OrgID": "team\r\nInjected: yes"},
        policy=RetryPolicy(retries=3),
    )
    with pytest.raises(HttpError) as exc:
        http.request("GET", "/x")
    assert "cannot send the request (InvalidHeader" in str(exc.value)
    assert "q" * 10 not in str(exc.value) and http.attempts == 1 and server.log == []


# --- answers are bounded ------------------------------------------------------------------------
def test_an_answer_larger_than_the_limit_is_not_read(server):
    http = Transport(server.url, max_answer=1000, policy=RetryPolicy(retries=3))
    with pytest.raises(HttpError, match="the answer is larger than 1000 bytes") as exc:
        http.request("GET", "/big")
    assert http.attempts == 1, "a server that answers too much will do it again"
    assert "xxxx" not in str(exc.value)
    assert len(Transport(server.url, max_answer=10_000).request("GET", "/big").content) == 10_000


def test_json_nested_deeper_than_python_reads_is_bad_json_not_a_crash(server):
    response = Transport(server.url).request("GET", "/deep")
    with pytest.raises(ValueError):  # what every client already handles; not RecursionError
        response.json()


def alias_bomb(namespace: str) -> str:
    """A ruler's answer of a few kilobytes whose aliases repeat one group past MAX_NODES nodes."""
    rules = ", ".join(f"{{record: 'r{i}:sum', expr: 'sum(up)'}}" for i in range(50))
    copies = MAX_NODES // 200 + 1  # each copy is more than 200 nodes
    return f"{namespace}:\n- &g {{name: g, rules: [{rules}]}}\n" + "- *g\n" * copies


def test_an_alias_bomb_in_a_rulers_answer_is_refused(tmp_path):
    """A 437-byte answer whose aliases expand without end ran past a 30 s timeout: answers are
    read with the spec's alias limit (here a bomb of a few kilobytes, past it by a little)."""

    class Bomb(FakeMimir):
        def route(self, request):
            if request.method == "GET" and request.path == "/prometheus/config/v1/rules":
                return Response(200, alias_bomb("theirs").encode(), "application/yaml")
            return super().route(request)

    text = alias_bomb("theirs")
    assert len(text) < 10_000 and len(yaml.safe_load(text)["theirs"]) > MAX_NODES // 200
    model, out = write_rules(specs(tmp_path), tmp_path / "out"), tmp_path / "out"
    with Bomb() as mimir:
        endpoints = ep.Endpoints({"mimir": Mimir(mimir.url, "team-a", None)})
        report = diff(endpoints, model, out)["mimir"]
    assert report.status == "failed"
    assert report.errors == ["list rule groups: the answer is not YAML"]


# --- TLS with a target's own CA and client certificate --------------------------------------------
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_ca_file_verifies_a_server_the_system_does_not_trust(pki, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with Echo(tls=server_context(pki)) as https:
        assert https.url.startswith("https://127.0.0.1:")
        assert Transport(https.url, verify=str(pki.ca)).request("GET", "/x").text == "/x"
        for refused in (Transport(https.url), Transport(https.url, verify=str(pki.other_ca))):
            with pytest.raises(HttpError, match=r"TLS failed .*certificate verify failed"):
                refused.request("GET", "/x")
            assert refused.attempts == 1, "a certificate that fails once fails again"
        assert Transport(https.url, verify=False).request("GET", "/y").text == "/y"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_requests_ca_bundle_still_works_and_overrides_neither_a_ca_file_nor_insecure(
    pki, monkeypatch
):
    with Echo(tls=server_context(pki)) as https:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
        assert Transport(https.url).request("GET", "/a").text == "/a"
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.other_ca))
        assert Transport(https.url, verify=str(pki.ca)).request("GET", "/b").text == "/b"
        assert Transport(https.url, verify=False).request("GET", "/c").text == "/c"


def test_a_client_certificate_is_presented_when_the_server_asks_for_one(pki):
    with Echo(tls=server_context(pki, client_certificates=True)) as https:
        without = Transport(https.url, verify=str(pki.ca), policy=RetryPolicy(retries=0))
        with pytest.raises(HttpError):
            without.request("GET", "/x")
        cert = (str(pki.client_cert), str(pki.client_key))
        http = Transport(https.url, verify=str(pki.ca), cert=cert)
        assert http.request("GET", "/x").text == "/x"
