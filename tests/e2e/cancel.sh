# Issue 4, test 2: queued, waiting and running tasks each end CANCELLED; no
# process of a cancelled running exec task remains; cancelling a finished
# task is a clear error.
. "$(dirname "$0")/lib.sh"
start_forqd --workers 1
marker=31.2718
run=$(fq submit --parsable -- sh -c "sleep $marker & sleep $marker") || fail submit
for _ in $(seq 100); do [ "$(state_of "$run")" = RUNNING ] && break; sleep 0.02; done
[ "$(state_of "$run")" = RUNNING ] || fail "not running"
q=$(fq submit --parsable -k noop) || fail submit
w=$(fq submit --parsable --after "$run" -k noop) || fail submit
[ "$(state_of "$q")" = QUEUED ] || fail "q is $(state_of "$q")"
[ "$(state_of "$w")" = WAITING ] || fail "w is $(state_of "$w")"
fq cancel "$q" >/dev/null || fail "cancel queued"
fq cancel "$w" >/dev/null || fail "cancel waiting"
fq cancel "$run" >/dev/null || fail "cancel running"
for id in $q $w $run; do
	[ "$(state_of "$id")" = CANCELLED ] || fail "task $id is $(state_of "$id")"
done
sleep 1.5
pgrep -f "sleep $marker" >/dev/null && fail "a process of the cancelled task survived"
# The queued task never ran.
[ "$(jget "$(fq status --json "$q")" .started)" = null ] || fail "the cancelled queued task ran"
fq cancel "$q" 2>"$T/err"; rc=$?
[ $rc -eq 4 ] || fail "cancel of a finished task exited $rc"
grep -q ALREADY_FINISHED "$T/err" || fail "no clear error: $(cat "$T/err")"
fq cancel 999999 2>/dev/null; [ $? -eq 5 ] || fail "cancel of an unknown task"
# --state: everything queued or waiting.
blk=$(fq submit --parsable -k sleep --args '{"ms":3000}') || fail submit
for _ in $(seq 100); do [ "$(state_of "$blk")" = RUNNING ] && break; sleep 0.02; done
ids=""
for i in 1 2 3; do ids="$ids $(fq submit --parsable -k noop)"; done
dep=$(fq submit --parsable --after "$blk" -k noop)
fq cancel --state queued >/dev/null || fail "cancel --state queued"
for id in $ids; do [ "$(state_of "$id")" = CANCELLED ] || fail "queued $id not cancelled"; done
[ "$(state_of "$blk")" = RUNNING ] || fail "--state queued cancelled the running task"
[ "$(state_of "$dep")" = WAITING ] || fail "--state queued cancelled a waiting task"
fq cancel --state all >/dev/null || fail "cancel --state all"
[ "$(state_of "$dep")" = CANCELLED ] || fail "waiting not cancelled by all"
for _ in $(seq 50); do [ "$(state_of "$blk")" = CANCELLED ] && break; sleep 0.05; done
[ "$(state_of "$blk")" = CANCELLED ] || fail "running sleep kernel not cancelled"
# The worker survives a cooperative cancel (sleep honours it): no restart.
[ "$(jget "$(fq workers --json)" '.workers[0].restarts')" -eq 0 ] || fail "worker replaced for a cooperative cancel"
note "queued, waiting, running cancelled; group gone; finished refused"
