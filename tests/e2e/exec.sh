# Issue 2, test 4: exec output lands in forq log, the exit status in
# forq status; exit 3 ends FAILED with exit code 3.
. "$(dirname "$0")/lib.sh"
start_forqd
id=$(fq submit --parsable -- sh -c 'echo "to stdout $FORQ_TASK_ID"; echo "to stderr" >&2; exit 0') || fail submit
fq wait "$id" --timeout 10s || fail "task $id did not end DONE"
[ "$(fq log "$id")" = "to stdout $id" ] || fail "stdout log: $(fq log "$id")"
[ "$(fq log "$id" --stderr)" = "to stderr" ] || fail "stderr log: $(fq log "$id" --stderr)"
s=$(fq status --json "$id")
[ "$(jget "$s" .exit_code)" = 0 ] || fail "exit code $(jget "$s" .exit_code)"
[ "$(jget "$s" .kernel)" = exec ] || fail kernel

id3=$(fq submit --parsable -- sh -c 'echo failing; exit 3') || fail submit
fq wait "$id3" --timeout 10s && fail "wait must exit non-zero for a FAILED task"
s=$(fq status --json "$id3")
[ "$(jget "$s" .state)" = FAILED ] || fail "state $(jget "$s" .state)"
[ "$(jget "$s" .exit_code)" = 3 ] || fail "exit code $(jget "$s" .exit_code)"
[ "$(fq log "$id3")" = failing ] || fail "log of the failing task"
r=$(fq result --json "$id3")
[ "$(jget "$r" .exit_code)" = 3 ] || fail "result exit code"

# No shell unless asked: the argument is passed as is.
idq=$(fq submit --parsable -- echo '$HOME; rm -rf /') || fail submit
fq wait "$idq" --timeout 10s || fail "echo task"
[ "$(fq log "$idq")" = '$HOME; rm -rf /' ] || fail "argv was interpreted by a shell"

# A command that does not exist fails with 127.
idn=$(fq submit --parsable -- /nonexistent/forq-e2e) || fail submit
fq wait "$idn" --timeout 10s && fail "nonexistent command must fail"
[ "$(jget "$(fq status --json "$idn")" .exit_code)" = 127 ] || fail "exit 127 expected"

# Environment and working directory.
mkdir -p "$T/wd"
ide=$(fq submit --parsable --env FOO=bar --cwd "$T/wd" -- sh -c 'echo "$FOO $(pwd)"') || fail submit
fq wait "$ide" --timeout 10s || fail "env task"
[ "$(fq log "$ide")" = "bar $T/wd" ] || fail "env/cwd: $(fq log "$ide")"
note "exec logs, exit codes, env and cwd as expected"
