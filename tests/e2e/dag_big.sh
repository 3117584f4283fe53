# Issue 4, test 4: a 100,000-task chain and a 100,000-wide fan-out/fan-in
# both complete.  (nosync: the chain is 100,000 commits in a row.)
. "$(dirname "$0")/lib.sh"
N=${FORQ_DAG_N:-100000}
start_forqd --workers 2 --sync nosync
awk -v n="$N" 'BEGIN { print "{\"key\":\"c0\",\"kernel\":\"noop\"}";
	for (i = 1; i < n; i++) printf "{\"key\":\"c%d\",\"kernel\":\"noop\",\"after\":[\"c%d\"]}\n", i, i - 1 }' >"$T/chain.jsonl"
t0=$(date +%s%N)
fq submit -f "$T/chain.jsonl" >/dev/null || fail "submit chain"
fq wait --all --timeout 300s || fail "chain did not complete"
t1=$(date +%s%N)
note "chain of $N: $(( (t1 - t0) / 1000000 )) ms"
awk -v n="$N" 'BEGIN { print "{\"key\":\"root\",\"kernel\":\"noop\"}";
	for (i = 0; i < n; i++) printf "{\"key\":\"f%d\",\"kernel\":\"noop\",\"after\":[\"root\"]}\n", i;
	printf "{\"key\":\"sink\",\"kernel\":\"noop\",\"after\":[";
	for (i = 0; i < n; i++) printf "%s\"f%d\"", (i ? "," : ""), i; print "]}" }' >"$T/fan.jsonl"
t0=$(date +%s%N)
fq submit -f "$T/fan.jsonl" >/dev/null || fail "submit fan"
fq wait --all --timeout 300s || fail "fan-out/fan-in did not complete"
t1=$(date +%s%N)
s=$(fq stats --json)
[ "$(jget "$s" .counts.DONE)" -eq $((2 * N + 2)) ] || fail "DONE $(jget "$s" .counts.DONE)"
sink=$(jget "$(fq list --state DONE --json --limit 100000 2>/dev/null)" '.tasks[-1].id' 2>/dev/null)
note "fan-out/fan-in of $N: $(( (t1 - t0) / 1000000 )) ms"
