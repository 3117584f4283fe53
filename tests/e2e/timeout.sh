# Issue 2, test 6: exec `sleep` with -t 300ms ends TIMEOUT within 2 s and no
# sleep process remains; spin 10 s with -t 300ms ends TIMEOUT and its worker
# is replaced.
. "$(dirname "$0")/lib.sh"
start_forqd --workers 2
marker=30.4242
start=$(date +%s%N)
id=$(fq submit --parsable -t 300ms -- sh -c "sleep $marker & sleep $marker") || fail submit
fq wait "$id" --timeout 5s
el=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(state_of "$id")" = TIMEOUT ] || fail "exec state $(state_of "$id")"
[ $el -lt 2000 ] || fail "exec TIMEOUT took $el ms"
sleep 0.2
pgrep -f "sleep $marker" >/dev/null && fail "a sleep process of the timed-out task survived"
note "exec timeout in ${el} ms, process group gone"

pids_before=$(jget "$(fq workers --json)" '[.workers[].pid] | sort | join(",")')
start=$(date +%s%N)
id=$(fq submit --parsable -t 300ms -k spin --args '{"us":10000000}') || fail submit
fq wait "$id" --timeout 5s
el=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(state_of "$id")" = TIMEOUT ] || fail "spin state $(state_of "$id")"
[ $el -lt 2000 ] || fail "spin TIMEOUT took $el ms"
sleep 0.3
w=$(fq workers --json)
pids_after=$(jget "$w" '[.workers[].pid] | sort | join(",")')
[ "$pids_before" != "$pids_after" ] || fail "no worker was replaced"
[ "$(jget "$w" '[.workers[].restarts] | add')" -ge 1 ] || fail "restarts not counted"
[ "$(jget "$w" '[.workers[] | select(.pid > 0)] | length')" -eq 2 ] || fail "a worker is missing"
# The replacement works.
id2=$(fq submit --parsable -k noop) || fail submit
fq wait "$id2" --timeout 5s || fail "task after replacement"
note "spin timeout in ${el} ms, worker replaced"
