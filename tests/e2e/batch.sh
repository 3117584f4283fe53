# Issue 2, test 3: 10,000 noop tasks in one batch all end DONE; stats agrees.
. "$(dirname "$0")/lib.sh"
start_forqd
i=0
while [ $i -lt 10000 ]; do echo '{"kernel":"noop"}'; i=$((i + 1)); done >"$T/batch.jsonl"
ids=$(fq submit -f "$T/batch.jsonl" --parsable) || fail "submit -f failed"
[ "$(printf '%s\n' "$ids" | wc -l)" -eq 10000 ] || fail "expected 10000 ids"
first=$(printf '%s\n' "$ids" | head -n1)
last=$(printf '%s\n' "$ids" | tail -n1)
[ $((last - first + 1)) -eq 10000 ] || fail "ids of one batch are not consecutive: $first..$last"
fq wait --all --timeout 60s || fail "wait --all did not end with every task DONE"
s=$(fq stats --json)
[ "$(jget "$s" .counts.DONE)" -eq 10000 ] || fail "stats DONE = $(jget "$s" .counts.DONE)"
for st in QUEUED RUNNING FAILED TIMEOUT LOST CANCELLED; do
	[ "$(jget "$s" .counts.$st)" -eq 0 ] || fail "stats $st = $(jget "$s" .counts.$st)"
done
[ "$(jget "$s" .submitted)" -eq 10000 ] || fail "stats submitted"
[ "$(state_of "$last")" = DONE ] || fail "last task not DONE"
w=$(fq wait "$first" "$last" --json) || fail "wait on ids"
[ "$(jget "$w" .complete)" = true ] || fail "wait ids incomplete"
note "10000 noop DONE; stats agrees"
