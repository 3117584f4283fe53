# Issue 4, test 8: SIGSTOP a worker running a sleep kernel; it is replaced
# within the hang timeout plus 1 s and the task completes on retry.
. "$(dirname "$0")/lib.sh"
start_forqd --workers 2 --hang-timeout 2s
id=$(fq submit --parsable -k sleep --args '{"ms":1500}') || fail submit
for _ in $(seq 100); do [ "$(state_of "$id")" = RUNNING ] && break; sleep 0.02; done
pid=$(jget "$(fq workers --json)" ".workers[] | select(.task == $id) | .pid")
[ -n "$pid" ] || fail "no worker holds $id"
kill -STOP "$pid"
t0=$(date +%s%N)
while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 6000 ]; do
	[ "$(jget "$(fq workers --json)" "[.workers[].pid] | index($pid)")" = null ] && break
	sleep 0.05
done
el=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(jget "$(fq workers --json)" "[.workers[].pid] | index($pid)")" = null ] || fail "hung worker not replaced after $el ms"
[ $el -le 3200 ] || fail "replaced after $el ms (hang timeout 2 s + 1 s)"
fq wait "$id" --timeout 10s || fail "task did not complete on retry"
s=$(fq status --json "$id")
[ "$(jget "$s" .attempts)" -eq 2 ] || fail "attempts $(jget "$s" .attempts)"
[ "$(jget "$s" '.history[0].reason')" = hung ] || fail "first attempt reason $(jget "$s" '.history[0].reason')"
note "hung worker replaced after $el ms; task DONE on attempt 2"
