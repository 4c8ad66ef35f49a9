#!/usr/bin/env bash
# The local stack of `make run` / `make stop`, on 127.0.0.1 only, with all state under .run/:
# Prometheus and Alertmanager, Debian's node and blackbox exporters, the demo workload
# (demo/workload.py) and the capture receivers (demo/capture.py) that Alertmanager delivers to.
# With ENGINE=vm (`make run ENGINE=vm`) VictoriaMetrics and vmalert take Prometheus' place: the
# same scrape targets, the same Alertmanager, the vmalert rules of out/.
#
#   prometheus/local-stack.sh run     compile, prove, start everything, push, say where to look
#   prometheus/local-stack.sh start   start every process (or keep it running) and wait until ready
#   prometheus/local-stack.sh show    what is loaded: rule groups, alerts, receivers
#   prometheus/local-stack.sh stop    stop what start started (by the pids it recorded)
#   prometheus/local-stack.sh vm-scrape-config FILE   write the scrape config of VictoriaMetrics
#
# `run` prints a short story; what the commands print goes to .run/run.log (its tail on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

RUN=.run
LOG=$RUN/run.log
# prom: Prometheus; vm: VictoriaMetrics (single node) + vmalert. Unset: the engine start started.
ENGINE=${ENGINE:-$(cat "$RUN/engine" 2>/dev/null || echo prom)}
PROMETHEUS_ADDR=127.0.0.1:9090
VM_ADDR=127.0.0.1:8428
VMALERT_ADDR=127.0.0.1:8880
ALERTMANAGER_ADDR=127.0.0.1:9093
NODE_ADDR=127.0.0.1:9100
BLACKBOX_ADDR=127.0.0.1:9115
WORKLOAD_PORT=8400
TLS_PORT=8443
CAPTURE_ADDR=127.0.0.1:8500
SMTP_ADDR=127.0.0.1:2525
CERT_DAYS=5  # the demo certificate expires in 5 days: under both specs' expiry thresholds
PYTHON=$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )
SLO=$( [ -x .venv/bin/slo ] && echo .venv/bin/slo || echo slo )
READY_SECONDS=30
STOP_SECONDS=10
# Every process start starts (either engine), in the order stop stops them: name and what its
# command line holds
PROCESSES="prometheus:prometheus vmalert:vmalert victoria-metrics:victoria-metrics alertmanager:alertmanager node-exporter:node-exporter blackbox:blackbox-exporter workload:workload.py capture:capture.py"
# `slo push`, `slo status` and `slo report` find this stack as the environment `local` of
# targets.yaml (--env local), or `local-vm` with ENGINE=vm.
case "$ENGINE" in
	prom) ENV=local ;;
	vm) ENV=local-vm ;;
	*) echo "ENGINE=$ENGINE: prom (Prometheus, the default) or vm (VictoriaMetrics and vmalert)" >&2; exit 2 ;;
esac

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

wait_ready() {  # name url pid
	"$PYTHON" - "$1" "$2" "$READY_SECONDS" "$RUN/$1.log" "$3" <<'PY'
import os, sys, time, urllib.request
name, url, seconds, log, pid = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
deadline = time.monotonic() + seconds
while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
    try:
        urllib.request.urlopen(url, timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
why = "exited" if not os.path.exists(f"/proc/{pid}") else f"is not ready after {seconds:g}s"
print(f"{name} {why}; last lines of {log}:", file=sys.stderr)
print("".join(open(log).readlines()[-15:]), file=sys.stderr)
sys.exit(1)
PY
}

port_free() {  # host:port
	"$PYTHON" -c 'import socket,sys; h,p=sys.argv[1].split(":"); s=socket.socket(); sys.exit(s.connect_ex((h,int(p)))==0)' "$1"
}

STARTED=()
start_one() {  # name addr ready-url command...
	local name=$1 addr=$2 url=$3; shift 3
	if alive "$name"; then
		STARTED+=("$name :${addr##*:} (already running)")
		return
	fi
	if ! port_free "$addr"; then
		echo "$name: $addr is in use by another program; stop it first" >&2
		exit 1
	fi
	nohup "$@" >"$RUN/$name.log" 2>&1 &
	echo $! >"$RUN/$name.pid"
	wait_ready "$name" "$url" "$(cat "$RUN/$name.pid")"
	STARTED+=("$name :${addr##*:}")
}

certificate() {  # the demo's TLS endpoint: a self-signed certificate that expires in CERT_DAYS
	mkdir -p "$RUN/demo"
	openssl req -x509 -newkey rsa:2048 -nodes -days "$CERT_DAYS" -subj "/CN=127.0.0.1" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$RUN/demo/key.pem" -out "$RUN/demo/cert.pem" >>"$RUN/demo/openssl.log" 2>&1
	cat >"$RUN/blackbox.yml" <<YML
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      tls_config: {ca_file: $(pwd)/$RUN/demo/cert.pem}
YML
}

# VictoriaMetrics scrapes what Prometheus scrapes: prometheus/prometheus.yml's scrape_configs
# and scrape interval (its rule_files and alerting are vmalert's flags here), with the self-scrape
# job of Prometheus replaced by VictoriaMetrics' and vmalert's own.
vm_scrape_config() {  # file
	"$PYTHON" - prometheus/prometheus.yml "$1" "$VM_ADDR" "$VMALERT_ADDR" <<'PY'
import sys, yaml
source, dest, vm, vmalert = sys.argv[1:]
config = yaml.safe_load(open(source))
jobs = [job for job in config["scrape_configs"] if job["job_name"] != "prometheus"]
own = [{"job_name": name, "static_configs": [{"targets": [addr]}]}
       for name, addr in (("victoria-metrics", vm), ("vmalert", vmalert))]
scrape = {"global": {"scrape_interval": config["global"]["scrape_interval"]},
          "scrape_configs": own + jobs}
with open(dest, "w") as out:
    out.write(f"# Written by prometheus/local-stack.sh from {source}: its scrape jobs.\n")
    yaml.safe_dump(scrape, out, sort_keys=False)
PY
}

start_engine() {
	if [ "$ENGINE" = prom ]; then
		mkdir -p "$RUN/prometheus/rules" "$RUN/prometheus/data"
		start_one prometheus "$PROMETHEUS_ADDR" "http://$PROMETHEUS_ADDR/-/ready" prometheus \
			--config.file=prometheus/prometheus.yml --storage.tsdb.path="$RUN/prometheus/data" \
			--web.listen-address="$PROMETHEUS_ADDR" --web.enable-lifecycle
		return
	fi
	# Every flag is explained in README ("Locally: make run"). The queries of the rules send
	# nocache=1, so -search.latencyOffset (30s) does not shift them and keeps its default.
	mkdir -p "$RUN/victoria-metrics/data" "$RUN/vmalert/rules"
	vm_scrape_config "$RUN/victoria-metrics/scrape.yml"
	start_one victoria-metrics "$VM_ADDR" "http://$VM_ADDR/health" victoria-metrics \
		-httpListenAddr="$VM_ADDR" -storageDataPath="$RUN/victoria-metrics/data" \
		-promscrape.config="$RUN/victoria-metrics/scrape.yml" -vmalert.proxyURL="http://$VMALERT_ADDR"
}

start_vmalert() {
	[ "$ENGINE" = vm ] || return 0
	start_one vmalert "$VMALERT_ADDR" "http://$VMALERT_ADDR/health" vmalert \
		-httpListenAddr="$VMALERT_ADDR" -rule="$RUN/vmalert/rules/*.yml" \
		-datasource.url="http://$VM_ADDR" -remoteWrite.url="http://$VM_ADDR" \
		-remoteRead.url="http://$VM_ADDR" -notifier.url="http://$ALERTMANAGER_ADDR" \
		-datasource.queryStep=0 -external.url="http://$VMALERT_ADDR"
}

start() {
	local am_bin tools other
	other=$( [ "$ENGINE" = vm ] && echo prometheus || echo victoria-metrics )
	if alive "$other"; then
		echo "$other of an earlier make run is running; make stop first" >&2
		exit 1
	fi
	am_bin=$(command -v prometheus-alertmanager || command -v alertmanager) || { echo "alertmanager not installed (make tools)" >&2; exit 1; }
	tools=$( [ "$ENGINE" = vm ] && echo victoria-metrics vmalert || echo prometheus )
	for tool in $tools prometheus-node-exporter prometheus-blackbox-exporter openssl; do
		command -v "$tool" >/dev/null || { echo "$tool not installed (make tools)" >&2; exit 1; }
	done
	mkdir -p "$RUN/alertmanager/data" "$RUN/captured"
	echo "$ENGINE" >"$RUN/engine"  # for show, and for ENGINE unset
	[ -f "$RUN/alertmanager/alertmanager.yml" ] || cp prometheus/alertmanager.yml "$RUN/alertmanager/alertmanager.yml"
	alive workload || certificate
	start_one capture "$CAPTURE_ADDR" "http://$CAPTURE_ADDR/" "$PYTHON" demo/capture.py \
		--http-port "${CAPTURE_ADDR##*:}" --smtp-port "${SMTP_ADDR##*:}" --dir "$RUN/captured"
	start_one workload "127.0.0.1:$WORKLOAD_PORT" "http://127.0.0.1:$WORKLOAD_PORT/faults" \
		"$PYTHON" demo/workload.py --port "$WORKLOAD_PORT" serve --tls-port "$TLS_PORT" \
		--cert "$RUN/demo/cert.pem" --key "$RUN/demo/key.pem"
	start_one node-exporter "$NODE_ADDR" "http://$NODE_ADDR/metrics" prometheus-node-exporter \
		--web.listen-address="$NODE_ADDR"
	start_one blackbox "$BLACKBOX_ADDR" "http://$BLACKBOX_ADDR/metrics" prometheus-blackbox-exporter \
		--config.file="$RUN/blackbox.yml" --web.listen-address="$BLACKBOX_ADDR"
	start_engine
	start_one alertmanager "$ALERTMANAGER_ADDR" "http://$ALERTMANAGER_ADDR/-/ready" "$am_bin" \
		--config.file="$RUN/alertmanager/alertmanager.yml" --storage.path="$RUN/alertmanager/data" \
		--web.listen-address="$ALERTMANAGER_ADDR" --cluster.listen-address=
	start_vmalert
	local IFS=,
	echo "started on 127.0.0.1 (logs $RUN/<name>.log): ${STARTED[*]}" | sed 's/,/, /g'
}

dashboards() {  # Grafana is not installed here: dashboards go to a folder a file provider can read
	local target="$RUN/grafana/dashboards" provisioning="$RUN/grafana/provisioning/dashboards"
	ls out/grafana/dashboards/*.json >/dev/null 2>&1 || return 0
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
	echo "grafana: $(ls "$target" | wc -l) dashboards in $target (provisioning: $RUN/grafana/provisioning)"
}

show() {
	local ruler=http://$PROMETHEUS_ADDR scrape=prometheus/prometheus.yml
	[ "$ENGINE" = vm ] && ruler=http://$VMALERT_ADDR scrape=$RUN/victoria-metrics/scrape.yml
	"$PYTHON" - "$ENGINE" "$ruler" "http://$ALERTMANAGER_ADDR" "$scrape" <<'PY'
import json, sys, urllib.request, yaml
engine, ruler, am, scrape = sys.argv[1:]
get = lambda url: json.load(urllib.request.urlopen(url, timeout=5))
groups = get(ruler + "/api/v1/rules")["data"]["groups"]
alerts = sum(r["type"] == "alerting" for g in groups for r in g["rules"])
jobs = yaml.safe_load(open(scrape))["scrape_configs"]
if engine == "vm":
    print(f"vmalert: {len(groups)} rule groups, {alerts} alerts; "
          f"victoria-metrics: {len(jobs)} scrape jobs ({scrape})")
else:
    print(f"prometheus: {len(groups)} rule groups, {alerts} alerts; {len(jobs)} scrape jobs")
config = yaml.safe_load(get(am + "/api/v2/status")["config"]["original"])
print(f"alertmanager: receivers {', '.join(r['name'] for r in config.get('receivers', []))}")
PY
	dashboards
}

where() {
	local alerts="http://$PROMETHEUS_ADDR/alerts"
	[ "$ENGINE" = vm ] && alerts="http://$VMALERT_ADDR/vmalert/alerts"
	cat <<TXT
where to look:
  status        .venv/bin/slo status --env $ENV   (every SLO within ~2 minutes, the period SLI ~15)
  report        .venv/bin/slo report --env $ENV --since 1h --output .run/report.html
  break it      make fault SERVICE=pizza-api RATIO=1    (then make heal; see README, make run)
  alerts        $alerts   routing http://$ALERTMANAGER_ADDR/#/status
  deliveries    $RUN/captured/notifications.jsonl (pagerduty, slack, email as received)
  stop          make stop
TXT
}

step() {  # message command...: run quietly into the log; the command's last line completes it
	local message=$1 last; shift
	echo "== $message: $*" >>"$LOG"
	if ! "$@" >>"$LOG.step" 2>&1; then
		cat "$LOG.step" >>"$LOG"
		echo "$message: failed; last lines of $LOG:"
		tail -n 25 "$LOG.step"
		rm -f "$LOG.step"
		exit 1
	fi
	last=$(tail -n 1 "$LOG.step")
	cat "$LOG.step" >>"$LOG"
	rm -f "$LOG.step"
	echo "$message: $last"
}

run() {
	mkdir -p "$RUN"
	: >"$LOG"
	step "compiled slo/ into out/" "$SLO" compile
	# Started before the proofs run, so Prometheus has scraped a few samples by the push: the
	# rules' first evaluation then records every window, and every SLO has data within a minute
	# or so of the push rather than one evaluation later.
	start
	if [ "$ENGINE" = vm ]; then
		step "proved every alert with promtool, amtool and vmalert" "$SLO" test --engine all
	else
		step "proved every alert with promtool and amtool" "$SLO" test
	fi
	step "local routing (receivers -> the captures)" "$PYTHON" demo/local_specs.py slo "$RUN/slo" \
		--secrets "$RUN/alertmanager/secrets" --http "$CAPTURE_ADDR" --smtp "$SMTP_ADDR"
	step "compiled it into $RUN/out" "$SLO" compile "$RUN/slo" --out "$RUN/out"
	local only=prometheus,alertmanager
	[ "$ENGINE" = vm ] && only=vmalert,alertmanager
	step "pushed" bash -o pipefail -c '"$0" push "$1" --out "$2" --env "$3" --only "$4" |
		tee /dev/stderr | grep -E "^(prometheus|vmalert|alertmanager): [0-9]" | paste -sd ";"' \
		"$SLO" "$RUN/slo" "$RUN/out" "$ENV" "$only"
	show
	where
}

stop_one() {  # name what-its-command-line-holds
	local name=$1 pid
	if ! alive "$name"; then
		rm -f "$RUN/$name.pid"
		return
	fi
	pid=$(cat "$RUN/$name.pid")
	if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"; then  # pid reused
		echo "$name: pid $pid is no longer $2; not touching it"
		rm -f "$RUN/$name.pid"
		return
	fi
	kill "$pid"
	for _ in $(seq $((STOP_SECONDS * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
	rm -f "$RUN/$name.pid"
	STOPPED+=("$name")
}

stop() {
	STOPPED=()
	for process in $PROCESSES; do stop_one "${process%%:*}" "${process#*:}"; done
	local IFS=,
	if [ ${#STOPPED[@]} -eq 0 ]; then echo "nothing was running"; else echo "stopped: ${STOPPED[*]}" | sed 's/,/, /g'; fi
}

case "${1:-}" in
	run) run ;;
	start) start ;;
	show) show; where ;;
	stop) stop ;;
	vm-scrape-config) vm_scrape_config "${2:?vm-scrape-config FILE}" ;;
	*) echo "usage: $0 run|start|show|stop|vm-scrape-config FILE" >&2; exit 2 ;;
esac
