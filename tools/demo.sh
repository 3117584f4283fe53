#!/bin/sh
# forq demo — the project's main job (`make demo`):
#   sh tools/demo.sh BUILD_DIR
# Starts a private forqd (temporary state directory and socket), submits a
# mixed workload through the real forq CLI — 100 000 noop tasks from one
# JSONL file, 200 spin tasks of 10 ms, 50 shell commands that print, at
# priorities 0, 3, 5, 7 and 9, and four compute kernels of forq-kernels(7)
# (pi, integrate, ode, option) — waits for all of them, prints a summary
# with the kernels' answers beside the known ones, and stops forqd with
# `forq shutdown`.
# Exit status: 0 when every step worked and every task ended DONE, 1
# otherwise, 2 on misuse.  The temporary directory is removed, and a forqd
# still running is stopped, on any exit.
set -u

NOOP=100000	# noop tasks, one JSONL file
SPIN=200	# spin tasks of SPIN_US each, one JSONL file
SPIN_US=10000
EXEC=50		# commands, one `forq submit` each
KERNELS=4	# compute kernel tasks: pi, integrate, ode, option
WAIT_LIMIT=90s	# forq wait --all gives up after this

[ $# -eq 1 ] || { echo "usage: sh tools/demo.sh BUILD_DIR" >&2; exit 2; }
B=$(cd "$1" 2>/dev/null && pwd) || { echo "demo: no build directory $1" >&2; exit 1; }
FORQD=$B/forqd
FORQ=$B/forq
for p in "$FORQD" "$FORQ"; do
	[ -x "$p" ] || { echo "demo: $p is missing: run make first" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/forq-demo.XXXXXX") || exit 1
sock=$dir/forq.sock
pid=""
status=0

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		timeout 5 "$FORQ" --socket "$sock" shutdown >/dev/null 2>&1 ||
			kill -TERM "$pid" 2>/dev/null
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
fail() { echo "demo: FAILED: $*" >&2; status=1; }
# Run forq against our daemon, echoing the command as a user would type it.
fq() {
	echo "\$ forq $*"
	"$FORQ" --socket "$sock" "$@"
}
now() { date +%s.%N; }
# The number after "KEY": in a one-line JSON document on stdin.
jnum() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" | head -n 1; }
die_log() {
	fail "$*"
	echo "--- forqd log:" >&2
	tail -n 20 "$dir/forqd.log" >&2
	exit 1
}

# ---- start forqd ---------------------------------------------------------
say "forq demo: starting forqd (state $dir/state)"
"$FORQD" --state "$dir/state" --socket "$sock" 2>"$dir/forqd.log" &
pid=$!
i=0
until "$FORQ" --socket "$sock" stats >/dev/null 2>&1; do
	kill -0 "$pid" 2>/dev/null || { pid=""; die_log "forqd exited at start"; }
	[ $i -ge 100 ] && die_log "forqd did not answer within 10s"
	sleep 0.1
	i=$((i + 1))
done
st=$("$FORQ" --socket "$sock" stats --json)
workers=$(echo "$st" | jnum workers)
sync=$(echo "$st" | sed -n 's/.*"sync":"\([a-z]*\)".*/\1/p')
echo "forqd pid $pid: $workers workers, sync $sync, socket $sock"

# ---- the workload --------------------------------------------------------
awk -v n=$SPIN -v us=$SPIN_US 'BEGIN { for (i = 0; i < n; i++)
	printf "{\"kernel\":\"spin\",\"args\":{\"us\":%d},\"priority\":7}\n", us }' \
	>"$dir/spin.jsonl"
# Every tenth noop at priority 3, the others at the default 5.
awk -v n=$NOOP 'BEGIN { for (i = 0; i < n; i++)
	if (i % 10 == 0) print "{\"kernel\":\"noop\",\"priority\":3}"
	else print "{\"kernel\":\"noop\"}" }' >"$dir/noop.jsonl"

say "submitting $SPIN spin tasks, $EXEC commands and $NOOP noop tasks"
t0=$(now)
echo "# $SPIN spin tasks of $((SPIN_US / 1000)) ms at priority 7, from a JSONL file"
fq submit -f "$dir/spin.jsonl" || fail "submit spin"

echo "# $EXEC commands that print, at priorities 0, 5 and 9, one forq submit each"
script='echo "task $FORQ_TASK_ID on cpu $FORQ_CPU"; echo "sum 1..$1 = $(($1 * ($1 + 1) / 2))"'
script="$script; echo done >&2"
echo "\$ forq submit [-p 0|-p 9] --name echo-N -- sh -c '$script' sh N"
: >"$dir/exec.ids"
n=1
while [ $n -le $EXEC ]; do
	case $((n % 5)) in
	0) prio=0 ;;
	1) prio=9 ;;
	*) prio=5 ;;
	esac
	id=$("$FORQ" --socket "$sock" submit --parsable -p $prio --name "echo-$n" -- \
		sh -c "$script" sh $((n * 1000))) ||
		{ fail "submit command $n"; break; }
	echo "$id $prio" >>"$dir/exec.ids"
	n=$((n + 1))
done
echo "submitted $(wc -l <"$dir/exec.ids") commands:" \
	"$(head -n 1 "$dir/exec.ids" | cut -d' ' -f1)-$(tail -n 1 "$dir/exec.ids" | cut -d' ' -f1)"

echo "# $KERNELS compute kernels, run inside the workers at priority 3: their answers come in the summary"
: >"$dir/kernel.ids"
ksub() { # NAME ARGS: submit one kernel task, remember its id
	echo "\$ forq submit -p 3 -k $1 --args '$2'"
	id=$("$FORQ" --socket "$sock" submit --parsable -p 3 -k "$1" --args "$2") ||
		{ fail "submit -k $1"; return; }
	echo "Submitted task $id"
	echo "$id $1" >>"$dir/kernel.ids"
}
ksub pi '{"samples":20000000,"seed":42}'
ksub integrate '{"f":"gaussian","a":-3,"b":3,"tol":1e-12}'
ksub ode '{"system":"harmonic","t1":628.3185307179586,"rtol":1e-10,"atol":1e-12,"samples":3}'
ksub option '{"type":"call","paths":2000000,"seed":7}'

echo "# $NOOP noop tasks (one in ten at priority 3), from one JSONL file"
fq submit -f "$dir/noop.jsonl" || fail "submit noop"
t1=$(now)

say "waiting for every task"
fq wait --all --timeout $WAIT_LIMIT || fail "forq wait --all (exit $?)"
t2=$(now)

# ---- summary -------------------------------------------------------------
say "summary"
fq stats || fail "forq stats"
st=$("$FORQ" --socket "$sock" stats --json) || fail "forq stats --json"
total=$((NOOP + SPIN + EXEC + KERNELS))
done_n=$(echo "$st" | jnum DONE)
sub_n=$(echo "$st" | jnum submitted)
echo
echo "counts by state:"
for s in QUEUED WAITING RUNNING DONE FAILED TIMEOUT LOST CANCELLED; do
	printf '  %-10s %s\n' "$s" "$(echo "$st" | jnum $s)"
done
awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v n="$total" 'BEGIN {
	printf "%d tasks in %.2f s from the first submit to the last result (%.2f s submitting):" \
	       " %.0f tasks/s\n", n, t2 - t0, t1 - t0, n / (t2 - t0) }'
[ "$sub_n" = "$total" ] || fail "forqd counts $sub_n tasks submitted, expected $total"
[ "$done_n" = "$total" ] || fail "$done_n of $total tasks ended DONE"

say "workers"
fq workers || fail "forq workers"

id=$(sed -n '5p' "$dir/exec.ids" | cut -d' ' -f1)
say "one command task, $id"
fq status "$id" || fail "forq status"
echo
fq result "$id" || fail "forq result"
echo
fq log "$id" || fail "forq log"
fq log "$id" --stderr || fail "forq log --stderr"

say "compute kernels: forq result of each, and what it should be"
while read -r id name; do
	fq result "$id" || fail "forq result $id"
	r=$("$FORQ" --socket "$sock" result --json "$id")
	case $name in
	pi) echo "  => pi ~ $(echo "$r" | jnum estimate) +- $(echo "$r" | jnum stderr)" \
		"(Monte Carlo, 2e7 samples); pi = 3.14159265..." ;;
	integrate) echo "  => integral of the normal density on [-3,3] =" \
		"$(echo "$r" | jnum value); erf(3/sqrt(2)) = 0.99730020393674" ;;
	ode) echo "  => harmonic oscillator after 100 periods: energy $(echo "$r" | jnum energy)" \
		"(0.5 at the start), drift $(echo "$r" | jnum drift)" ;;
	option) echo "  => European call: Monte Carlo $(echo "$r" | jnum mc)" \
		"+- $(echo "$r" | jnum stderr); Black-Scholes $(echo "$r" | jnum bs)" ;;
	esac
	echo
done <"$dir/kernel.ids"
[ "$(wc -l <"$dir/kernel.ids")" -eq $KERNELS ] || fail "not every kernel task was submitted"

say "commands by priority: when they started, in seconds after the first submit"
: >"$dir/exec.starts"
while read -r id prio; do
	s=$("$FORQ" --socket "$sock" status --json "$id" | jnum started)
	[ -n "$s" ] && echo "$prio $s" >>"$dir/exec.starts"
done <"$dir/exec.ids"
sort -n -k1,1 -k2,2 "$dir/exec.starts" | awk -v t0="$t0" '
	{ p = $1; s = $2 - t0; n[p]++
	  if (!(p in lo) || s < lo[p]) lo[p] = s
	  if (s > hi[p]) hi[p] = s }
	END { printf "  %-8s %5s %10s %10s\n", "priority", "tasks", "first", "last"
	      for (p = 0; p <= 9; p++)
		if (p in n) printf "  %-8d %5d %10.3f %10.3f\n", p, n[p], lo[p], hi[p] }'

# ---- stop ------------------------------------------------------------------
say "stopping forqd"
fq shutdown || fail "forq shutdown"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then
	fail "forqd still running 15s after shutdown"
else
	wait "$pid"
	rc=$?
	pid=""
	if [ $rc -eq 0 ]; then
		echo "forqd exited (status 0)"
	else
		fail "forqd exited with status $rc"
	fi
fi

if [ $status -eq 0 ]; then
	say "demo passed: all $total tasks DONE"
else
	say "demo FAILED"
	echo "--- forqd log:"
	tail -n 20 "$dir/forqd.log"
fi
exit $status
