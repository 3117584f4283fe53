# Issue 2, test 5: with one worker busy, 50 tasks at priority 9 then one at
# priority 0 queued behind it: the priority-0 task starts before the
# remaining priority-9 tasks.
. "$(dirname "$0")/lib.sh"
start_forqd --workers 1
blocker=$(fq submit --parsable -k sleep --args '{"ms":700}') || fail submit
sleep 0.2
[ "$(state_of "$blocker")" = RUNNING ] || fail "blocker not running"
i=0
while [ $i -lt 50 ]; do echo '{"kernel":"sleep","args":{"ms":5},"priority":9}'; i=$((i + 1)); done >"$T/p9.jsonl"
ids9=$(fq submit -f "$T/p9.jsonl" --parsable) || fail "submit p9"
id0=$(fq submit --parsable -p 0 -k noop) || fail "submit p0"
fq wait --all --timeout 30s || fail "not all DONE"
t0=$(jget "$(fq status --json "$id0")" .started)
for id in $ids9; do
	t9=$(jget "$(fq status --json "$id")" .started)
	awk -v a="$t0" -v b="$t9" 'BEGIN { exit !(a < b) }' || fail "p9 task $id started ($t9) before the p0 task ($t0)"
done
note "priority 0 started before all 50 queued priority-9 tasks"
