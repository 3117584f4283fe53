#!/bin/sh
# Run every benchmark program built in BUILD_DIR/bench/, one after another.
#   sh bench/run.sh BUILD_DIR [--json]
# Text mode prints each program's table under a header.  With --json each
# program gets --json and the documents are wrapped into one object keyed
# by program name, {"ring":{...},"throughput":{...}}; a program that fails
# or prints nothing contributes null.  Benchmarks print figures and assert
# nothing about speed; the exit status is 1 when any program failed (a
# benchmark fails only on a correctness check or a setup error), 2 on
# misuse.  Each program runs under a timeout (BENCH_TIMEOUT seconds,
# default 200) so that the whole run stays within minutes.
set -u

usage() {
	echo "usage: sh bench/run.sh BUILD_DIR [--json]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
B=$1
shift
json=0
for a in "$@"; do
	case "$a" in
	--json) json=1 ;;
	*) usage ;;
	esac
done
[ -d "$B/bench" ] || { echo "bench/run.sh: no $B/bench: run make first" >&2; exit 1; }
limit=${BENCH_TIMEOUT:-200}

progs=""
for p in "$B"/bench/*; do
	case "$p" in *.o|*.d) continue ;; esac
	[ -f "$p" ] && [ -x "$p" ] && progs="$progs $p"
done
[ -n "$progs" ] || { echo "bench/run.sh: no benchmark programs in $B/bench" >&2; exit 1; }

failed=""
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
trap 'exit 130' INT TERM

sep=""
[ $json -eq 1 ] && printf '{'
for p in $progs; do
	name=$(basename "$p")
	if [ $json -eq 1 ]; then
		timeout -k 10 "$limit" "$p" --json >"$out"
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
		timeout -k 10 "$limit" "$p"
		rc=$?
		echo "    ($name: $(( $(date +%s) - start ))s, exit $rc)"
		echo
	fi
	if [ $rc -ne 0 ]; then
		failed="$failed $name"
		[ $rc -eq 124 ] && echo "bench/run.sh: $name: timed out after ${limit}s" >&2
		echo "bench/run.sh: $name: exit $rc" >&2
	fi
done
[ $json -eq 1 ] && printf '}\n'

if [ -n "$failed" ]; then
	echo "bench/run.sh: failed:$failed" >&2
	exit 1
fi
exit 0
