# Shared helpers for the end-to-end tests: each test starts its own forqd on
# a private state dir and socket, drives it through the real forq CLI, and
# cleans up (daemon, workers, temp dir) on every exit.  Sourced, not run.
#   FORQ_BUILD  the build directory (set by tests/run.sh)
set -u
B=${FORQ_BUILD:?FORQ_BUILD must name the build directory}
FORQD=$B/forqd
FORQ=$B/forq
T=$(mktemp -d /tmp/forq-e2e.XXXXXX)
STATE=$T/state
SOCK=$T/sock
DPID=
export FORQ_SOCKET=$SOCK

cleanup() {
	rc=$?
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill -TERM "$DPID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DPID" 2>/dev/null
	fi
	# Workers run in sessions of their own: find them by state dir.
	pkill -KILL -f -- "--state $STATE" 2>/dev/null
	# Under a sanitizer build a report from forqd or any worker (whose
	# stderr is forqd's) fails the test, even when the daemon recovered.
	if grep -q -e "AddressSanitizer" -e "runtime error:" -e "LeakSanitizer" "$T/forqd.log" 2>/dev/null; then
		echo "FAIL: sanitizer report in forqd's log:" >&2
		grep -m 20 -A 12 -e "AddressSanitizer" -e "runtime error:" "$T/forqd.log" >&2
		rc=1
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT INT TERM

fail() { echo "FAIL: $*" >&2; [ -f "$T/forqd.log" ] && tail -n 30 "$T/forqd.log" >&2; exit 1; }
note() { echo "# $*"; }
fq() { "$FORQ" "$@"; }

# start_forqd [options...]: start forqd, wait until it answers.
start_forqd() {
	"$FORQD" --state "$STATE" --socket "$SOCK" "$@" >>"$T/forqd.log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do
		fq stats >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || fail "forqd exited at start"
		sleep 0.05
	done
	fail "forqd did not answer within 5 s"
}

# stop_forqd: clean shutdown through the CLI; waits for the process.
stop_forqd() {
	fq shutdown >/dev/null || fail "forq shutdown failed"
	for _ in $(seq 200); do kill -0 "$DPID" 2>/dev/null || { wait "$DPID" 2>/dev/null; DPID=; return 0; }; sleep 0.05; done
	fail "forqd did not stop within 10 s"
}

# jget JSON FILTER: jq -r shorthand.
jget() { printf '%s' "$1" | jq -r "$2"; }

# state_of ID
state_of() { jget "$(fq status --json "$1")" .state; }

# wait_state ID STATE SECONDS
wait_state() {
	n=$(( $3 * 20 ))
	for _ in $(seq "$n"); do
		[ "$(state_of "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	fail "task $1 is $(state_of "$1"), expected $2 within $3 s"
}
