# Issue 4, test 10: while exec `sleep 2` tasks and a stream of noop tasks
# run, kill -9 forqd and start it again: the running sleep tasks finish
# without being restarted (one attempt each), every acknowledged task
# reaches exactly one terminal state, none DONE twice.  5 rounds.
. "$(dirname "$0")/lib.sh"
ROUNDS=${FORQ_CHAOS_ROUNDS:-5}
start_forqd --workers 2 --hang-timeout 0
acked="$T/acked"
: >"$acked"
i=0
while [ $i -lt 500 ]; do echo '{"kernel":"noop"}'; i=$((i + 1)); done >"$T/n.jsonl"
r=1
while [ $r -le "$ROUNDS" ]; do
	s1=$(fq submit --parsable -- sh -c 'echo "$FORQ_TASK_ID" >>"$0"; sleep 2' "$T/starts") || fail submit
	s2=$(fq submit --parsable -- sh -c 'echo "$FORQ_TASK_ID" >>"$0"; sleep 2' "$T/starts") || fail submit
	echo "$s1" >>"$acked"; echo "$s2" >>"$acked"
	echo "$s1 $s2" >>"$T/sleeps"
	for _ in $(seq 100); do
		[ "$(state_of "$s1")" = RUNNING ] && [ "$(state_of "$s2")" = RUNNING ] && break
		sleep 0.02
	done
	# a stream of noop submissions, acknowledged ids recorded
	( while :; do fq submit -f "$T/n.jsonl" --parsable >>"$acked" 2>/dev/null || exit 0; done ) &
	strm=$!
	sleep 0.3
	kill -9 "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=
	sleep 0.2
	kill "$strm" 2>/dev/null
	wait "$strm" 2>/dev/null
	start_forqd --workers 2 --hang-timeout 0
	grep -q "re-adopt" "$T/forqd.log" || fail "round $r: workers were not re-adopted"
	r=$((r + 1))
done
fq wait --all --timeout 60s >/dev/null
s=$(fq stats --json)
for st in QUEUED WAITING RUNNING; do
	[ "$(jget "$s" .counts.$st)" -eq 0 ] || fail "$st = $(jget "$s" .counts.$st)"
done
# Every acknowledged task ended, exactly once (a record has one state).
sort -un "$acked" | grep -v '^$' >"$T/acked.u"
n=$(wc -l <"$T/acked.u")
bad=$(fq list --json --limit 100000 | jq -r '.tasks[] | select(.state != "DONE") | "\(.id) \(.state)"' | head -5)
[ -z "$bad" ] || fail "tasks not DONE: $bad"
last=$(tail -n1 "$T/acked.u")
[ "$(jget "$(fq stats --json)" .counts.DONE)" -ge "$n" ] || fail "fewer DONE than acknowledged ($n)"
# The sleep tasks ran once each: one start line, one attempt.
for id in $(cat "$T/sleeps"); do
	[ "$(grep -cx "$id" "$T/starts")" -eq 1 ] || fail "sleep task $id started $(grep -cx "$id" "$T/starts") times"
	[ "$(jget "$(fq status --json "$id")" .attempts)" -eq 1 ] || fail "sleep task $id: attempts"
	[ "$(state_of "$id")" = DONE ] || fail "sleep task $id: $(state_of "$id")"
done
note "$ROUNDS forqd crashes: $n acknowledged tasks DONE once; sleep tasks ran once each (last id $last)"
