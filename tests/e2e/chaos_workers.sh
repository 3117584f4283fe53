# Issue 4, test 9: while 200,000 noop and 2,000 sleep 5ms tasks run, SIGKILL
# a random worker every 50 ms for 10 s: every task ends in exactly one
# terminal state, none is lost, the rings validate afterwards.
. "$(dirname "$0")/lib.sh"
NOOP=${FORQ_CHAOS_NOOP:-200000}
SLEEP=${FORQ_CHAOS_SLEEP:-2000}
start_forqd --workers 2
awk -v n="$SLEEP" 'BEGIN { for (i = 0; i < n; i++) print "{\"kernel\":\"sleep\",\"args\":{\"ms\":5},\"retries\":10}" }' >"$T/s.jsonl"
awk -v n="$NOOP" 'BEGIN { for (i = 0; i < n; i++) print "{\"kernel\":\"noop\",\"retries\":10}" }' >"$T/n.jsonl"
fq submit -f "$T/s.jsonl" >/dev/null || fail "submit sleeps"
fq submit -f "$T/n.jsonl" >/dev/null &
sub=$!
kills=0
end=$(( $(date +%s%N) + 10000000000 ))
while [ "$(date +%s%N)" -lt "$end" ]; do
	pids=$(jget "$(fq workers --json)" '[.workers[].pid | select(. > 0)] | join(" ")')
	set -- $pids
	if [ $# -gt 0 ]; then
		n=$(( $(od -An -N2 -tu2 /dev/urandom) % $# + 1 ))
		eval "victim=\${$n}"
		kill -9 "$victim" 2>/dev/null && kills=$((kills + 1))
	fi
	sleep 0.05
done
wait $sub || fail "submitting the noop tasks failed"
fq wait --all --timeout 120s || fail "not every task ended DONE"
s=$(fq stats --json)
total=$((NOOP + SLEEP))
[ "$(jget "$s" .submitted)" -eq $total ] || fail "submitted $(jget "$s" .submitted)"
[ "$(jget "$s" .counts.DONE)" -eq $total ] || fail "DONE $(jget "$s" .counts.DONE) of $total: $(jget "$s" .counts)"
restarts=$(jget "$(fq workers --json)" '[.workers[].restarts] | add')
stop_forqd
grep -q "rings: all 11 valid at shutdown" "$T/forqd.log" || fail "rings did not validate: $(grep -i ring "$T/forqd.log" | tail -3)"
note "$kills kills, $restarts respawns; $total tasks DONE exactly once; rings valid"
