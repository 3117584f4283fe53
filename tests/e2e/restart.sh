# Issue 2, test 8: stop forqd, start it again on the same state dir: every
# finished task, its result and log are still there; ids keep increasing.
. "$(dirname "$0")/lib.sh"
start_forqd
a=$(fq submit --parsable -- sh -c 'echo persisted-output; exit 4') || fail submit
b=$(fq submit --parsable -k sleep --args '{"ms":1}') || fail submit
fq wait "$a" "$b" --timeout 10s
stop_forqd
# A clean shutdown leaves no process of forq behind: no worker, no command.
sleep 0.2
pgrep -f -- "--state $STATE" >/dev/null && fail "a worker survived a clean shutdown: $(pgrep -af -- "--state $STATE")"
start_forqd
[ "$(state_of "$a")" = FAILED ] || fail "task $a is $(state_of "$a") after restart"
[ "$(jget "$(fq status --json "$a")" .exit_code)" = 4 ] || fail "exit code lost"
[ "$(fq log "$a")" = persisted-output ] || fail "log lost"
[ "$(state_of "$b")" = DONE ] || fail "task $b"
[ "$(jget "$(fq result --json "$b")" .result.ms)" = 1 ] || fail "result lost: $(fq result --json "$b")"
c=$(fq submit --parsable -k noop) || fail submit
[ "$c" -gt "$b" ] || fail "id $c does not follow $b"
fq wait "$c" --timeout 5s || fail "new task"
[ "$(jget "$(fq stats --json)" .counts.DONE)" -eq 2 ] || fail "counts after restart"
# Queued work survives too: tasks still queued at shutdown run after restart.
stop_forqd
start_forqd --workers 1
i=0
while [ $i -lt 20 ]; do echo '{"kernel":"sleep","args":{"ms":50}}'; i=$((i + 1)); done >"$T/q.jsonl"
fq submit -f "$T/q.jsonl" >/dev/null || fail submit
fq shutdown >/dev/null
for _ in $(seq 200); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
DPID=
start_forqd --workers 2
# (wait --all exits 1 here: task $a FAILED earlier; the counts tell.)
fq wait --all --timeout 20s >/dev/null
[ $? -eq 6 ] && fail "queued tasks did not finish after restart"
[ "$(jget "$(fq stats --json)" .counts.DONE)" -eq 22 ] || fail "queued tasks lost across restart"
note "records, results, logs and the queue survive a restart; ids increase"
# A clean shutdown with a command still running: after the grace the
# command's process group is stopped; the task stays queued (it runs again
# at the next start) and nothing of it survives.
stop_forqd
start_forqd --workers 1 --shutdown-grace 200ms
marker=33.1415
id=$(fq submit --parsable -- sh -c "sleep $marker & sleep $marker") || fail submit
for _ in $(seq 100); do [ "$(state_of "$id")" = RUNNING ] && break; sleep 0.02; done
stop_forqd
sleep 0.3
pgrep -f "sleep $marker" >/dev/null && fail "a command survived a clean shutdown"
pgrep -f -- "--state $STATE" >/dev/null && fail "a worker survived a clean shutdown"
start_forqd --workers 1
[ "$(state_of "$id")" != CANCELLED ] || fail "the interrupted task was cancelled, not kept"
fq cancel "$id" >/dev/null
note "a clean shutdown stops running commands and leaves no process; the task is kept"
