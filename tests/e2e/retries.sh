# Issue 4, test 1: a command failing twice then succeeding (state kept in a
# file) with --retries 2 ends DONE with 3 attempts recorded; with
# --retries 1 it ends FAILED with 2.
. "$(dirname "$0")/lib.sh"
start_forqd --workers 2
cmd='n=$(cat "$0" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >"$0"; echo attempt $n; [ $n -ge 3 ]'
a=$(fq submit --parsable --retries 2 --retry-delay 50ms -- sh -c "$cmd" "$T/count-a") || fail submit
b=$(fq submit --parsable --retries 1 -- sh -c "$cmd" "$T/count-b") || fail submit
fq wait "$a" --timeout 20s || fail "task $a did not end DONE"
fq wait "$b" --timeout 20s && fail "task $b must end FAILED"
s=$(fq status --json "$a")
[ "$(jget "$s" .state)" = DONE ] || fail "a: $(jget "$s" .state)"
[ "$(jget "$s" .attempts)" -eq 3 ] || fail "a: attempts $(jget "$s" .attempts)"
[ "$(jget "$s" '.history | length')" -eq 3 ] || fail "a: history $(jget "$s" .history)"
[ "$(jget "$s" '[.history[].outcome] | join(",")')" = "RETRIED,RETRIED,DONE" ] || fail "a: outcomes $(jget "$s" '.history')"
[ "$(jget "$s" '.history[0].exit_code')" = 1 ] || fail "a: first exit code"
# the backoff doubles: attempt 3 started at least 50+100 ms after attempt 1 ended... roughly
s=$(fq status --json "$b")
[ "$(jget "$s" .state)" = FAILED ] || fail "b: $(jget "$s" .state)"
[ "$(jget "$s" .attempts)" -eq 2 ] || fail "b: attempts $(jget "$s" .attempts)"
[ "$(jget "$s" '[.history[].outcome] | join(",")')" = "RETRIED,FAILED" ] || fail "b: outcomes"
[ "$(cat "$T/count-b")" -eq 2 ] || fail "b ran $(cat "$T/count-b") times"
note "retries 2 -> DONE after 3 attempts; retries 1 -> FAILED after 2"
