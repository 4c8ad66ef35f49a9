#!/usr/bin/env bash
# The local stack of `make run` / `make stop`: Prometheus and Alertmanager from the Debian
# packages on 127.0.0.1, configured from prometheus/, with all runtime state under .run/.
#
#   prometheus/local-stack.sh start   start both (or keep them running) and wait until ready
#   prometheus/local-stack.sh show    what is loaded: rule groups, alerts, receivers, routes
#   prometheus/local-stack.sh stop    stop what start started (by the pids it recorded)
set -euo pipefail
cd "$(dirname "$0")/.."

RUN=.run
PROMETHEUS_ADDR=127.0.0.1:9090
ALERTMANAGER_ADDR=127.0.0.1:9093
PYTHON=$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )
READY_SECONDS=30
STOP_SECONDS=10

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

wait_ready() {  # name url
	"$PYTHON" - "$1" "$2" "$READY_SECONDS" "$RUN/$1.log" <<'PY'
import sys, time, urllib.request
name, url, seconds, log = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(url + "/-/ready", timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
print(f"{name} is not ready after {seconds:g}s; last lines of {log}:", file=sys.stderr)
print("".join(open(log).readlines()[-15:]), file=sys.stderr)
sys.exit(1)
PY
}

port_free() {  # host:port
	"$PYTHON" -c 'import socket,sys; h,p=sys.argv[1].split(":"); s=socket.socket(); sys.exit(s.connect_ex((h,int(p)))==0)' "$1"
}

start_one() {  # name addr command...
	local name=$1 addr=$2; shift 2
	if alive "$name"; then
		echo "$name: already running (pid $(cat "$RUN/$name.pid")) on http://$addr"
		return
	fi
	if ! port_free "$addr"; then
		echo "$name: $addr is in use by another program; stop it first" >&2
		exit 1
	fi
	nohup "$@" >"$RUN/$name.log" 2>&1 &
	echo $! >"$RUN/$name.pid"
	wait_ready "$name" "http://$addr"
	echo "$name: started (pid $(cat "$RUN/$name.pid")) on http://$addr, log $RUN/$name.log"
}

start() {
	local am_bin
	am_bin=$(command -v prometheus-alertmanager || command -v alertmanager) || { echo "alertmanager not installed (make tools)" >&2; exit 1; }
	mkdir -p "$RUN/prometheus/rules" "$RUN/prometheus/data" "$RUN/alertmanager/data"
	[ -f "$RUN/alertmanager/alertmanager.yml" ] || cp prometheus/alertmanager.yml "$RUN/alertmanager/alertmanager.yml"
	start_one prometheus "$PROMETHEUS_ADDR" prometheus \
		--config.file=prometheus/prometheus.yml --storage.tsdb.path="$RUN/prometheus/data" \
		--web.listen-address="$PROMETHEUS_ADDR" --web.enable-lifecycle
	start_one alertmanager "$ALERTMANAGER_ADDR" "$am_bin" \
		--config.file="$RUN/alertmanager/alertmanager.yml" --storage.path="$RUN/alertmanager/data" \
		--web.listen-address="$ALERTMANAGER_ADDR" --cluster.listen-address=
}

dashboards() {  # Grafana is not installed here: dashboards go to a folder a file provider can read
	local target="$RUN/grafana/dashboards" provisioning="$RUN/grafana/provisioning/dashboards"
	if ! ls out/grafana/dashboards/*.json >/dev/null 2>&1; then
		echo "grafana: no dashboards in out/grafana/dashboards (the Grafana target is not compiled)"
		return
	fi
	mkdir -p "$target" "$provisioning"
	rm -f "$target"/*.json
	cp out/grafana/dashboards/*.json "$target/"
	cat >"$provisioning/slo.yml" <<YML
apiVersion: 1
providers:
  - name: slo
    type: file
    options: {path: $(pwd)/$target}
YML
	echo "grafana: $(ls "$target" | wc -l) dashboard(s) in $target; provisioning file $provisioning/slo.yml"
	echo "  (grafana-server cfg:default.paths.provisioning=$(pwd)/$RUN/grafana/provisioning)"
}

show() {
	"$PYTHON" - "http://$PROMETHEUS_ADDR" "http://$ALERTMANAGER_ADDR" <<'PY'
import json, sys, urllib.request, yaml
prom, am = sys.argv[1], sys.argv[2]
get = lambda url: json.load(urllib.request.urlopen(url, timeout=5))
groups = get(prom + "/api/v1/rules")["data"]["groups"]
print(f"prometheus: {len(groups)} rule group(s) loaded")
for g in groups:
    alerts = sorted({r["name"] for r in g["rules"] if r["type"] == "alerting"})
    kinds = f"{len(g['rules'])} rules" + (f", alerts: {', '.join(alerts)}" if alerts else "")
    print(f"  {g['name']:40} {kinds}")
firing = [a for a in get(prom + "/api/v1/alerts")["data"]["alerts"]]
print(f"  {len(firing)} alert(s) pending or firing now")
config = yaml.safe_load(get(am + "/api/v2/status")["config"]["original"])
print(f"alertmanager: receivers: {', '.join(r['name'] for r in config.get('receivers', []))}")
PY
	amtool config routes show --alertmanager.url="http://$ALERTMANAGER_ADDR" 2>/dev/null | sed 's/^/  /' || true
	dashboards
	cat <<TXT
where to look:
  rules and alerts  http://$PROMETHEUS_ADDR/rules  http://$PROMETHEUS_ADDR/alerts
  routing           http://$ALERTMANAGER_ADDR/#/status
  files             $RUN/prometheus/rules (written by slo push), $RUN/alertmanager/alertmanager.yml
  stop              make stop
TXT
}

stop_one() {  # name binary-name
	local name=$1 pid
	if ! alive "$name"; then
		rm -f "$RUN/$name.pid"
		echo "$name: not running"
		return
	fi
	pid=$(cat "$RUN/$name.pid")
	if ! grep -q "$2" "/proc/$pid/cmdline" 2>/dev/null; then  # the pid was reused by something else
		echo "$name: pid $pid is no longer $2; not touching it"
		rm -f "$RUN/$name.pid"
		return
	fi
	kill "$pid"
	for _ in $(seq $((STOP_SECONDS * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
	rm -f "$RUN/$name.pid"
	echo "$name: stopped"
}

stop() {
	stop_one prometheus prometheus
	stop_one alertmanager alertmanager
}

case "${1:-}" in
	start) start ;;
	show) show ;;
	stop) stop ;;
	*) echo "usage: $0 start|show|stop" >&2; exit 2 ;;
esac
