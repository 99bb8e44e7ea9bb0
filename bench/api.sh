#!/usr/bin/env bash
# bench/api.sh — Berth's Harbor-compatible listings on goharbor/perf's
# "small" data set (100 projects × 100 repositories × 10 artifacts × 5 tags:
# 100,000 artifacts, 500,000 tags).
#
#   bash bench/api.sh sqlite      # a fresh data dir with the embedded SQLite
#   bash bench/api.sh postgres    # a fresh database berth_bench on 127.0.0.1:5432 (user postgres)
#
# Builds berth and bench/cmd/apibench from this checkout, starts Berth once
# so that it creates its admin user, stops it, seeds the data set straight
# into the metadata database (and the config blobs into the data dir), starts
# `berth serve` again on a loopback port and drives each endpoint with N
# concurrent clients for a fixed time (apibench run), as admin with Basic
# auth, and the project list also as a non-admin member of a few projects.
# Everything it starts is stopped, and the database dropped, on exit.
# docs/performance.md ("API listings at 100k artifacts") has the figures.
#
# The data set has goharbor/perf's 100 users, each a member of 10 projects.
# Endpoints are the read scenarios of goharbor/perf: listings (P95 target
# 200 ms) and gets (100 ms), each row saying whether it met its target; the
# pulls send a pull token from the token service, as registry clients do.
#
# Knobs (environment): DURATION (10s per endpoint and concurrency),
# CONCURRENCY (50,300), ENDPOINTS (all: projects, projects-member,
# repositories, artifacts, artifact, search, catalog, project, repository,
# tags, members, audit-logs, quotas, users, pull-one, pull-many), PG_URL
# (postgres://postgres@127.0.0.1:5432), RESULTS=FILE appends the rows as
# TSV, KEEP=1 keeps the temp dir (and the database), DEBUG_ADDR=127.0.0.1:6060
# serves Go's profiler from the server under test (go tool pprof).
set -euo pipefail

cd "$(dirname "$0")/.."
backend=${1:-}
case "$backend" in
sqlite | postgres) ;;
*)
	echo "usage: bash bench/api.sh sqlite|postgres" >&2
	exit 2
	;;
esac
DURATION=${DURATION:-10s}
CONCURRENCY=${CONCURRENCY:-50,300}
ENDPOINTS=${ENDPOINTS:-}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=berth_bench

log() { printf '== %s\n' "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-apibench.XXXXXX")
berth_pid=""
db_created=""
stop_berth() {
	if [ -n "$berth_pid" ]; then
		kill "$berth_pid" 2>/dev/null || true
		wait "$berth_pid" 2>/dev/null || true
		berth_pid=""
	fi
}
cleanup() {
	local rc=$?
	stop_berth
	if [ "$rc" != 0 ] && [ -s "$tmp/berth.log" ]; then
		echo "--- berth.log (last lines)" >&2
		tail -n 20 "$tmp/berth.log" >&2
	fi
	if [ "${KEEP:-}" = 1 ]; then
		echo "kept $tmp${db_created:+ and database $PG_DB}" >&2
	else
		if [ -n "$db_created" ]; then "$tmp/apibench" pgdb drop "$PG_URL/postgres?sslmode=disable" "$PG_DB" || true; fi
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building berth and apibench"
go build -o "$tmp/berth" ./cmd/berth
go build -o "$tmp/apibench" ./bench/cmd/apibench
ab="$tmp/apibench"

data="$tmp/data"
database=""
dsn="$data/berth.db"
if [ "$backend" = postgres ]; then
	log "creating database $PG_DB"
	"$ab" pgdb drop "$PG_URL/postgres?sslmode=disable" "$PG_DB"
	"$ab" pgdb create "$PG_URL/postgres?sslmode=disable" "$PG_DB"
	db_created=1
	database="$PG_URL/$PG_DB?sslmode=disable"
	dsn="$database"
fi
port=$("$ab" port)
url="http://127.0.0.1:$port"
admin_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
user_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')

# Environment variables of a caller's own Berth must not leak in.
read -r -a unset_env < <(env | awk -F= '/^BERTH_/ {printf "-u %s ", $1}'; echo)
start_berth() {
	env "${unset_env[@]}" BERTH_ADMIN_PASSWORD="$admin_password" "$tmp/berth" serve \
		--addr "127.0.0.1:$port" --data-dir "$data" ${database:+--database "$database"} \
		--log-level warn ${DEBUG_ADDR:+--debug-addr "$DEBUG_ADDR"} >>"$tmp/berth.log" 2>&1 &
	berth_pid=$!
	"$ab" wait "$url/v2/" 60
}

log "first start: admin user and library project"
start_berth
stop_berth

log "seeding the small data set ($backend)"
"$ab" seed -db "$dsn" -storage "$data/blobs" -user-password "$user_password"

log "serving on $url"
start_berth

load_average() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || true; }
log "load: $CONCURRENCY clients, $DURATION per endpoint (server and load generator share this machine's $(nproc) cores; load average $(load_average))"
"$ab" run -url "$url" -admin-password "$admin_password" -user-password "$user_password" \
	-c "$CONCURRENCY" -d "$DURATION" -label "$backend" -pid "$berth_pid" \
	${ENDPOINTS:+-endpoints "$ENDPOINTS"} ${RESULTS:+-out "$RESULTS"}
log "done (load average $(load_average))"
