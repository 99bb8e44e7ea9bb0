#!/usr/bin/env bash
# bench/compare.sh — Berth and CNCF Distribution side by side on loopback.
#
# Builds Berth from this checkout, starts it (SQLite + local disk) next to
# CNCF Distribution (filesystem storage) and nginx (the loopback limit for a
# blob GET), each on its own 127.0.0.1 port with its data in one temp dir,
# runs the same workloads against them (bench/cmd/regbench for pushes and
# pulls, wrk for manifest GET/HEAD) and prints a table of Berth/Distribution
# ratios against the targets. Everything it starts is stopped on exit.
# docs/performance.md explains the workloads and the last figures.
#
# Knobs (environment): BIG_SIZE (256MiB), BIG_REPS (5), PULL_REPS (7), ORAS_REPS (9),
# ORAS_DIR (where oras writes the layer; default a directory in /dev/shm),
# SMALL_COUNT (200), SMALL_SIZE (4KiB), SMALL_REPS (3), SMALL_CONC (4),
# WRK_DURATION (5s a round), LOAD_ROUNDS (3: each manifest figure is the median of
# that many interleaved rounds), WRK_THREADS (2), WRK_CONNS (32), PIN_PULLS (1: pin the
# servers and the client to separate CPUs during pulls), LOAD_GET=1 also measures
# manifest GET with regbench's loader, RESULTS=FILE saves the raw figures
# (TSV; `regbench report A.tsv B.tsv ...` gives the medians over several runs),
# KEEP=1 keeps the temp dir.
set -euo pipefail

[ -z "${RESULTS:-}" ] || RESULTS=$(realpath -m -- "$RESULTS")
cd "$(dirname "$0")/.."
DIST_VERSION=v3.1.2
BIG_SIZE=${BIG_SIZE:-256MiB}
BIG_REPS=${BIG_REPS:-5}
PULL_REPS=${PULL_REPS:-7}
ORAS_REPS=${ORAS_REPS:-9}
SMALL_COUNT=${SMALL_COUNT:-200}
SMALL_SIZE=${SMALL_SIZE:-4KiB}
SMALL_REPS=${SMALL_REPS:-3}
SMALL_CONC=${SMALL_CONC:-4}
WRK_DURATION=${WRK_DURATION:-5s}
LOAD_ROUNDS=${LOAD_ROUNDS:-3}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-32}
REPO=library/bench
ACCEPT='application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
apt_install() {
	log "installing $* with apt"
	$sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- tools -------------------------------------------------------------------
command -v go >/dev/null || die "go is required"
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
export PATH="$gobin:$PATH"
registry_bin="$gobin/registry"
if ! { [ -x "$registry_bin" ] && "$registry_bin" --version 2>/dev/null | grep -q "$DIST_VERSION"; }; then
	log "installing CNCF Distribution $DIST_VERSION into $gobin"
	go install "github.com/distribution/distribution/v3/cmd/registry@$DIST_VERSION"
fi
command -v wrk >/dev/null || apt_install wrk
command -v oras >/dev/null || { log "installing oras into $gobin"; go install oras.land/oras/cmd/oras@v1.3.6; }
nginx_bin=$(command -v nginx || true)
[ -n "$nginx_bin" ] || nginx_bin=/usr/sbin/nginx
[ -x "$nginx_bin" ] || { apt_install nginx-light; nginx_bin=/usr/sbin/nginx; }

# --- temp dir and cleanup ------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")
pids=()
cleanup() {
	local rc=$?
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ "$rc" != 0 ]; then
		for f in "$tmp"/*.log "$tmp"/nginx/error.log; do
			if [ -s "$f" ]; then echo "--- $f (last lines)" >&2; tail -n 20 "$f" >&2; fi
		done
	fi
	if [ "${KEEP:-}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
	[ -z "${oras_shm:-}" ] || rm -rf "$oras_shm"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building berth and regbench"
go build -o "$tmp/berth" ./cmd/berth
go build -o "$tmp/regbench" ./bench/cmd/regbench
rb="$tmp/regbench"

mapfile -t ports < <("$rb" ports 3)
p_berth=${ports[0]} p_dist=${ports[1]} p_nginx=${ports[2]}
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')

# Environment variables of a caller's own Berth or Distribution must not leak in.
read -r -a unset_env < <(env | awk -F= '/^(BERTH_|REGISTRY_)/ {printf "-u %s ", $1}'; echo)

# --- Berth ---------------------------------------------------------------------
env "${unset_env[@]}" BERTH_ADMIN_PASSWORD="$password" "$tmp/berth" serve \
	--addr "127.0.0.1:$p_berth" --data-dir "$tmp/berth-data" --log-level warn >"$tmp/berth.log" 2>&1 &
berth_pid=$!
pids+=("$berth_pid")

# --- CNCF Distribution -----------------------------------------------------------
# Its example config with the access log off (Berth has none) and no upload purging.
cat >"$tmp/distribution.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/distribution-data
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$p_dist
  secret: $password
  headers:
    X-Content-Type-Options: [nosniff]
YAML
env "${unset_env[@]}" OTEL_TRACES_EXPORTER=none "$registry_bin" serve "$tmp/distribution.yml" >"$tmp/distribution.log" 2>&1 &
dist_pid=$!
pids+=("$dist_pid")

# --- nginx: the loopback baseline for a blob GET --------------------------------------
mkdir -p "$tmp/nginx/www" "$tmp/nginx/tmp"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"
cat >"$tmp/nginx/nginx.conf" <<NGINX
$user_line
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    client_body_temp_path $tmp/nginx/tmp/body;
    proxy_temp_path $tmp/nginx/tmp/proxy;
    fastcgi_temp_path $tmp/nginx/tmp/fastcgi;
    uwsgi_temp_path $tmp/nginx/tmp/uwsgi;
    scgi_temp_path $tmp/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$p_nginx;
        root $tmp/nginx/www;
    }
}
NGINX
"$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" -g 'daemon off;' \
	>"$tmp/nginx.log" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")

"$rb" wait "http://127.0.0.1:$p_berth/v2/" 60 || die "berth did not start"
"$rb" wait "http://127.0.0.1:$p_dist/v2/" 60 || die "distribution did not start"
"$rb" wait "http://127.0.0.1:$p_nginx/" 30 || die "nginx did not start"
load_start=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="$load_start" 'BEGIN {exit !(l > 0.5)}' &&
	log "warning: load average is $load_start before the run: other work on this machine will skew the figures"
log "berth pid $berth_pid :$p_berth, distribution pid $dist_pid :$p_dist, nginx pid $nginx_pid :$p_nginx, data in $tmp"

# --- pushes, pulls, manifests (regbench) -------------------------------------------
results="$tmp/results.tsv"
: >"$results"
# During the timed blob pulls every server (nginx's master and workers too)
# runs on the last CPU and regbench on the first: on a 2-CPU VM a pull is
# otherwise fast or slow by where the two halves of the copy land (PIN_PULLS=0
# turns it off; docs/performance.md).
pin_args=(-pin-pulls="${PIN_PULLS:-1}" -pin-pid "$nginx_pid")
for w in $(pgrep -P "$nginx_pid" || true); do pin_args+=(-pin-pid "$w"); done
"$rb" run -out "$results" -repo "$REPO" -pid "berth=$berth_pid" -pid "distribution=$dist_pid" "${pin_args[@]}" \
	-target "berth=http://admin:$password@127.0.0.1:$p_berth" \
	-target "distribution=http://127.0.0.1:$p_dist" \
	-nginx "http://127.0.0.1:$p_nginx" -nginx-file "$tmp/nginx/www/blob" \
	-big-size "$BIG_SIZE" -big-reps "$BIG_REPS" -pull-reps "$PULL_REPS" \
	-small-count "$SMALL_COUNT" -small-size "$SMALL_SIZE" -small-reps "$SMALL_REPS" -small-conc "$SMALL_CONC"

# --- oras pull of the big layer ------------------------------------------------------
# The whole pull as oras does it: from Berth with credentials (401, a token
# from the token service, then manifest and layer), from Distribution
# without. The layer is written into ORAS_DIR (default: a directory in
# /dev/shm when there is one), so the disk's writeback, which varied one
# pull from 220 to 590 MiB/s on this VM, does not drown the registries'
# difference. Timed with the process; ORAS_REPS repetitions, the systems
# alternating, the order reversed every other repetition.
head -c "$(numfmt --from=iec-i "${BIG_SIZE%B}")" /dev/urandom >"$tmp/oras-layer.bin"
(cd "$tmp" && oras push --plain-http -u admin -p "$password" "127.0.0.1:$p_berth/$REPO-oras:1" oras-layer.bin >/dev/null) ||
	die "oras push to berth failed"
(cd "$tmp" && oras push --plain-http "127.0.0.1:$p_dist/$REPO-oras:1" oras-layer.bin >/dev/null) ||
	die "oras push to distribution failed"
big_bytes=$(stat -c %s "$tmp/oras-layer.bin")
rm -f "$tmp/oras-layer.bin"
oras_base=${ORAS_DIR:-}
if [ -z "$oras_base" ]; then
	oras_base=$tmp
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then
		oras_shm=$(mktemp -d /dev/shm/berth-oras.XXXXXX)
		oras_base=$oras_shm
	fi
fi
oras_pull() { # sys -> MiB/s
	local out="$oras_base/oras-out" creds=() t0 t1
	[ "$1" = berth ] && creds=(-u admin -p "$password")
	rm -rf "$out"
	mkdir -p "$out"
	sync
	t0=$(date +%s%N)
	oras pull --plain-http "${creds[@]}" -o "$out" "127.0.0.1:${port_of[$1]}/$REPO-oras:1" >/dev/null || die "oras pull from $1 failed"
	t1=$(date +%s%N)
	cmp -s <(stat -c %s "$out/oras-layer.bin") <(echo "$big_bytes") || die "oras pull from $1: wrong size"
	rm -rf "$out"
	awk -v b="$big_bytes" -v ns="$((t1 - t0))" 'BEGIN {printf "%.1f", b / 1048576 / (ns / 1e9)}'
}
declare -A port_of=([berth]=$p_berth [distribution]=$p_dist)
for ((rep = 0; rep < ORAS_REPS; rep++)); do
	order=(berth distribution)
	[ $((rep % 2)) = 1 ] && order=(distribution berth)
	for sys in "${order[@]}"; do
		mibs=$(oras_pull "$sys")
		printf 'oras pull %-12s %8s MiB/s\n' "$sys" "$mibs" >&2
		printf 'oras_pull_big\t%s\t%s\n' "$sys" "$mibs" >>"$results"
	done
done
[ -z "${oras_shm:-}" ] || rm -rf "$oras_shm"

# --- manifest GET (wrk) and HEAD (regbench load) ------------------------------------
# wrk cannot measure HEAD: its parser waits for the body that the announced
# Content-Length promises (wg/wrk#198), so HEAD goes through regbench's own
# closed-loop loader with the same connections, duration and headers.
# LOAD_GET=1 also measures GET with it, to compare the two load generators.
# Berth is measured as a client with credentials sees it (a Bearer token from
# its token service, pull scope) and anonymously (library is public);
# Distribution runs without auth. The targets compare Berth with a token.
declare -A port=([berth]=$p_berth [berth-anon]=$p_berth [distribution]=$p_dist)
declare -A pidof=([berth]=$berth_pid [berth-anon]=$berth_pid [distribution]=$dist_pid)
token=$("$rb" token "http://127.0.0.1:$p_berth" admin "$password" "repository:$REPO:pull") || die "no token from berth"
declare -A authz=([berth]="Authorization: Bearer $token" [berth-anon]="" [distribution]="")
[[ "$WRK_DURATION" =~ ^[0-9]+s$ ]] || die "WRK_DURATION must be whole seconds, like 10s"
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
load() { # tool method tag sys -> prints "rps p99"
	local url="http://127.0.0.1:${port[$4]}/v2/$REPO/manifests/$3" out
	if [ "$1" = wrk ]; then
		# A long timeout: on a loaded machine a slow answer is a figure, not an error.
		local hdrs=(-H "Accept: $ACCEPT")
		[ -z "${authz[$4]}" ] || hdrs+=(-H "${authz[$4]}")
		out=$(wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --timeout 30s --latency "${hdrs[@]}" "$url")
		if grep -qE 'Non-2xx|Socket errors: connect [1-9]|Socket errors: .*(read|write) [1-9]' <<<"$out"; then
			echo "$out" >&2
			die "wrk saw errors for $2 $3 on $4"
		fi
		if grep -qE 'Socket errors: .*timeout [1-9]' <<<"$out"; then
			log "warning: wrk saw requests time out (30s) for $2 $3 on $4"
		fi
		awk '/^Requests\/sec:/ {r = $2} $1 == "99%" {p = $2} END {print r, p}' <<<"$out"
	else
		local hdrs=(-H "Accept: $ACCEPT")
		[ -z "${authz[$4]}" ] || hdrs+=(-H "${authz[$4]}")
		out=$("$rb" load -m "${2^^}" -c "$WRK_CONNS" -d "$WRK_DURATION" "${hdrs[@]}" "$url")
		if grep -qvE '^(Requests/sec|p99):|^(Non-2xx|Errors): 0$' <<<"$out"; then echo "$out" >&2; die "regbench load saw errors for $2 $3 on $4"; fi
		awk '/^Requests\/sec:/ {r = $2} /^p99:/ {p = $2} END {print r, p}' <<<"$out"
	fi
}
runs=("wrk get" "regbench head")
[ "${LOAD_GET:-}" = 1 ] && runs+=("regbench get")
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
i=0
for tag in one many; do
	for run in "${runs[@]}"; do
		read -r tool method <<<"$run"
		declare -A rps_of=() us_of=()
		# LOAD_ROUNDS rounds, the systems in turn and the order reversed
		# every other round; each figure is the median of its rounds, so
		# one disturbed run moves no ratio.
		for ((round = 0; round < LOAD_ROUNDS; round++)); do
			order=(berth berth-anon distribution)
			[ $((i % 2)) = 1 ] && order=(distribution berth-anon berth)
			i=$((i + 1))
			for sys in "${order[@]}"; do
				c0=$(cpu_ticks "${pidof[$sys]}")
				read -r rps p99 < <(load "$tool" "$method" "$tag" "$sys")
				c1=$(cpu_ticks "${pidof[$sys]}")
				[ -n "$rps" ] || die "no request rate from $tool"
				# server CPU microseconds per request
				us=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v r="$rps" -v d="${WRK_DURATION%s}" 'BEGIN {printf "%.1f", c / hz * 1e6 / (r * d)}')
				printf 'manifest %-4s %-4s %-12s %10s req/s  p99 %-8s  server CPU %6s us/req (%s, round %d)\n' "${method^^}" "$tag" "$sys" "$rps" "$p99" "$us" "$tool" $((round + 1)) >&2
				rps_of[$sys]+="$rps "
				us_of[$sys]+="$us "
			done
		done
		metric="manifest_${method}_$tag"
		[ "$tool" = regbench ] && [ "$method" = get ] && metric="manifest_get_${tag}_regbench"
		for sys in berth berth-anon distribution; do
			printf '%s\t%s\t%s\n%s_cpu\t%s\t%s\n' "$metric" "$sys" "$(tr ' ' '\n' <<<"${rps_of[$sys]}" | grep . | median)" \
				"$metric" "$sys" "$(tr ' ' '\n' <<<"${us_of[$sys]}" | grep . | median)" >>"$results"
		done
		unset rps_of us_of
	done
done

# --- memory and CPU of each server after the run -------------------------------------
status_mib() { awk -v k="$2:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); printf "%.1f", ($12 + $13) / hz}' "/proc/$1/stat"; }
for sys in berth distribution; do
	pid=$berth_pid
	[ "$sys" = distribution ] && pid=$dist_pid
	kill -0 "$pid" 2>/dev/null || die "$sys exited during the run"
	printf 'rss_hwm\t%s\t%s\n' "$sys" "$(status_mib "$pid" VmHWM)" >>"$results"
	printf 'rss_end\t%s\t%s\n' "$sys" "$(status_mib "$pid" VmRSS)" >>"$results"
	printf 'cpu_s\t%s\t%s\n' "$sys" "$(cpu_s "$pid")" >>"$results"
done

[ -z "${RESULTS:-}" ] || cp "$results" "$RESULTS"

echo
echo "Berth $(git describe --always --dirty 2>/dev/null || echo '?') vs CNCF Distribution $DIST_VERSION vs nginx $("$nginx_bin" -v 2>&1 | sed 's/.*\///'), $(nproc) CPUs, loopback"
echo "load average $load_start before the run, $(cut -d' ' -f1 /proc/loadavg) after"
echo "(medians of $BIG_REPS big pushes, $PULL_REPS pulls, $SMALL_REPS small-layer pushes; of $LOAD_ROUNDS rounds of wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION)"
echo
"$rb" report -big "${BIG_SIZE/MiB/ MiB}" -small "${SMALL_SIZE/KiB/ KiB}" -count "$SMALL_COUNT" -conc "$SMALL_CONC" "$results"
