# Issue 3: every benchmark runs in its tiny mode, so that none can rot:
# bench/run.sh BUILD --tiny exits 0 and names every benchmark, in its
# headers and in the summary table; the --json variant is one valid JSON
# document with a non-null entry per benchmark.  No timing is asserted.
#   FORQ_BUILD  the build directory (set by tests/run.sh)
set -u
B=${FORQ_BUILD:?FORQ_BUILD must name the build directory}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/forq-e2e-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
names="ring latency throughput scaling backlog cost kernels"

fail() { echo "FAIL: $*" >&2; tail -n 40 "$T/out" >&2; exit 1; }

BENCH_TIMEOUT=40 sh "$ROOT/bench/run.sh" "$B" --tiny >"$T/out" 2>&1 ||
	fail "bench/run.sh --tiny exited $?"
for n in $names; do
	grep -q "^==> $n " "$T/out" || fail "no header for $n"
	grep -q "^$n  *[^ ]" "$T/out" || fail "no summary row for $n"
done
grep -q '^==> summary' "$T/out" || fail "no summary table"

BENCH_TIMEOUT=40 sh "$ROOT/bench/run.sh" "$B" --tiny --json >"$T/json" 2>"$T/out" ||
	fail "bench/run.sh --tiny --json exited $?"
if command -v jq >/dev/null 2>&1; then
	[ "$(jq -s length "$T/json")" = 1 ] || fail "--json did not print one document"
	for n in $names; do
		[ "$(jq -r --arg n "$n" '.[$n].summary | length > 0' "$T/json")" = true ] ||
			fail "--json: no summary for $n"
	done
fi
echo "# every benchmark ran in tiny mode: $names"
