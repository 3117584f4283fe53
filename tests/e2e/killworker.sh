# Issue 2, test 7: kill -9 of a worker running a sleep kernel: the worker is
# replaced on the same core, the task completes on retry, nothing is lost.
. "$(dirname "$0")/lib.sh"
start_forqd --workers 2
id=$(fq submit --parsable -k sleep --args '{"ms":1500}') || fail submit
for _ in $(seq 100); do [ "$(state_of "$id")" = RUNNING ] && break; sleep 0.02; done
w=$(fq workers --json)
pid=$(jget "$w" ".workers[] | select(.task == $id) | .pid")
cpus=$(jget "$w" ".workers[] | select(.task == $id) | .cpus")
idx=$(jget "$w" ".workers[] | select(.task == $id) | .index")
[ -n "$pid" ] || fail "no worker holds task $id"
i=0
while [ $i -lt 100 ]; do echo '{"kernel":"noop"}'; i=$((i + 1)); done >"$T/n.jsonl"
fq submit -f "$T/n.jsonl" >/dev/null || fail "submit noops"
kill -9 "$pid"
fq wait --all --timeout 20s || fail "not every task DONE after the kill"
s=$(fq status --json "$id")
[ "$(jget "$s" .state)" = DONE ] || fail "task $id is $(jget "$s" .state)"
[ "$(jget "$s" .attempts)" -eq 2 ] || fail "attempts $(jget "$s" .attempts), expected 2"
w=$(fq workers --json)
newpid=$(jget "$w" ".workers[$idx].pid")
[ "$newpid" != "$pid" ] && [ "$newpid" -gt 0 ] || fail "worker $idx not replaced"
[ "$(jget "$w" ".workers[$idx].cpus")" = "$cpus" ] || fail "replacement on another core"
[ "$(jget "$w" ".workers[$idx].restarts")" -eq 1 ] || fail "restart count"
grep -q "Cpus_allowed_list:[[:space:]]*$cpus\$" /proc/"$newpid"/status || fail "replacement not pinned to $cpus"
[ "$(jget "$(fq stats --json)" .counts.DONE)" -eq 101 ] || fail "a task was lost"
note "worker $idx replaced on cpus $cpus; task DONE on attempt 2; none lost"
