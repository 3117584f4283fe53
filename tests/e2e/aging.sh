# Issue 4, test 7: a priority-9 task starts under a constant stream of
# priority-0 tasks when aging is on, and not when it is off.
. "$(dirname "$0")/lib.sh"
stream() { # keep ring 0 busy for $1 seconds
	end=$(( $(date +%s) + $1 ))
	while [ "$(date +%s)" -lt "$end" ]; do
		fq submit -f "$T/p0.jsonl" >/dev/null 2>&1 || break
		sleep 0.2
	done
}
i=0
while [ $i -lt 20 ]; do echo '{"kernel":"sleep","args":{"ms":20},"priority":0}'; i=$((i + 1)); done >"$T/p0.jsonl"
run() { # aging-option -> prints the p9 task's state after a 4 s stream
	start_forqd --workers 1 "$@"
	fq submit -f "$T/p0.jsonl" >/dev/null
	id=$(fq submit --parsable -p 9 -k noop)
	stream 4
	state_of "$id"
	fq cancel --state all >/dev/null 2>&1
	stop_forqd
	rm -rf "$STATE"
}
off=$(run)
[ "$off" = QUEUED ] || fail "without aging the priority-9 task is $off (expected still QUEUED)"
on=$(run --aging 100ms)
[ "$on" = DONE ] || fail "with aging the priority-9 task is $on (expected DONE)"
note "aging off: p9 starved ($off); aging 100ms: p9 ran ($on)"
