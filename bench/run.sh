#!/bin/sh
# Run forq's benchmarks one after another and print one table at the end.
#   sh bench/run.sh BUILD_DIR [--json] [--tiny]
# The six of issue 3 run in this order: ring latency throughput scaling
# backlog cost; then kernels (issue 5: the built-in compute kernels, tasks/s
# and the scheduler's share of the workers' time); any other program in
# BUILD_DIR/bench/ runs after them.
# Each program starts its own forqd in temporary directories and measures
# its own baselines in the same run.
#
# Text mode prints each program's own tables under a header, then one
# table of the summary rows the programs print (lines "  @ NAME | what |
# figure | baseline | ratio | target"): the figure, the same run's
# baseline, figure/baseline, and the issue's target with "(met)" or
# "(missed)" (kernels: tasks/s against workers / mean task time, a ratio
# of 1 - the scheduler's share, and no target).  With --json each program gets --json and the documents are
# wrapped into one object keyed by program name,
# {"ring":{...},"latency":{...},...}; every document has a "summary" array
# of the same rows; a program that fails or prints nothing contributes
# null.  --tiny is passed to every program: a very small run (seconds),
# for tests.
#
# Benchmarks print figures and assert nothing about speed: targets are
# printed, never checked.  Exit status: 0 done, 1 a program failed (a
# correctness check or a setup error), 2 misuse.  Each program runs under
# a timeout (BENCH_TIMEOUT seconds, default 200); the whole default run
# takes about two minutes on a 2-CPU machine.
set -u

usage() {
	echo "usage: sh bench/run.sh BUILD_DIR [--json] [--tiny]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
B=$1
shift
json=0
tiny=
for a in "$@"; do
	case "$a" in
	--json) json=1 ;;
	--tiny) tiny=--tiny ;;
	*) usage ;;
	esac
done
[ -d "$B/bench" ] || { echo "bench/run.sh: no $B/bench: run make first" >&2; exit 1; }
limit=${BENCH_TIMEOUT:-200}

order="ring latency throughput scaling backlog cost kernels"
progs=""
for name in $order; do
	p="$B/bench/$name"
	if [ -f "$p" ] && [ -x "$p" ]; then
		progs="$progs $p"
	else
		echo "bench/run.sh: $p is missing: run make first" >&2
	fi
done
for p in "$B"/bench/*; do
	case "$p" in *.o|*.d) continue ;; esac
	case " $order " in *" $(basename "$p") "*) continue ;; esac
	[ -f "$p" ] && [ -x "$p" ] && progs="$progs $p"
done
[ -n "$progs" ] || { echo "bench/run.sh: no benchmark programs in $B/bench" >&2; exit 1; }

failed=""
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
out=$tmp/out
rows=$tmp/rows
: >"$rows"

sep=""
[ $json -eq 1 ] && printf '{'
for p in $progs; do
	name=$(basename "$p")
	if [ $json -eq 1 ]; then
		# $tiny is empty or one word: unquoted on purpose.
		timeout -k 10 "$limit" "$p" --json $tiny >"$out"
		rc=$?
		printf '%s"%s":' "$sep" "$name"
		if [ $rc -eq 0 ] && [ -s "$out" ]; then
			# One document, one line: drop the newline it ends with.
			tr -d '\n' <"$out"
		else
			printf 'null'
		fi
		sep=","
	else
		echo "==> $name ($p)"
		start=$(date +%s)
		# Shown as it comes and kept for the table; the exit status
		# travels through a file, past the pipe.
		{ timeout -k 10 "$limit" "$p" $tiny; echo $? >"$tmp/rc"; } | tee "$out"
		rc=$(cat "$tmp/rc")
		echo "    ($name: $(( $(date +%s) - start ))s, exit $rc)"
		echo
		grep '^  @ ' "$out" | sed 's/^  @ //' >>"$rows"
		[ $rc -ne 0 ] && echo "$name | FAILED (exit $rc) | - | - | - | -" >>"$rows"
	fi
	if [ $rc -ne 0 ]; then
		failed="$failed $name"
		[ $rc -eq 124 ] && echo "bench/run.sh: $name: timed out after ${limit}s" >&2
		echo "bench/run.sh: $name: exit $rc" >&2
	fi
done
if [ $json -eq 1 ]; then
	printf '}\n'
else
	echo "==> summary: figure, the same run's baseline, figure/baseline, the issue's target"
	awk -F' [|] ' '
	BEGIN { h[1] = "benchmark"; h[2] = "measure"; h[3] = "figure"; h[4] = "baseline";
		h[5] = "ratio"; h[6] = "target"
		for (i = 1; i <= 6; i++) w[i] = length(h[i]) }
	NF >= 6 {
		n++
		for (i = 1; i <= 6; i++) { c[n, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
	}
	function line(get, r,   i, s) {
		s = ""
		for (i = 1; i <= 6; i++) {
			v = get ? c[r, i] : h[i]
			s = s (i > 1 ? "  " : "") (i == 6 ? v : sprintf("%-" w[i] "s", v))
		}
		print s
	}
	END { line(0, 0); for (r = 1; r <= n; r++) line(1, r) }' "$rows"
fi

if [ -n "$failed" ]; then
	echo "bench/run.sh: failed:$failed" >&2
	exit 1
fi
exit 0
