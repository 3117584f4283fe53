# Issue 4, test 5: --array 1-100 with {} produces 100 tasks whose outputs
# are the indices 1..100; wait and cancel accept the array's id range.
. "$(dirname "$0")/lib.sh"
start_forqd --workers 2
r=$(fq submit --parsable --array 1-100 -- sh -c 'echo {} $FORQ_ARRAY_INDEX') || fail submit
first=${r%-*} last=${r#*-}
[ $((last - first + 1)) -eq 100 ] || fail "array ids $r"
fq wait "$first-$last" --timeout 30s || fail "array did not finish"
i=$first
while [ "$i" -le "$last" ]; do
	out=$(fq log "$i")
	want=$((i - first + 1))
	[ "$out" = "$want $want" ] || fail "task $i printed '$out', expected '$want $want'"
	i=$((i + 1))
done
[ "$(jget "$(fq status --json "$first")" .array_index)" = 1 ] || fail "array_index"
note "100 array tasks printed 1..100"
# with a step, and a kernel; then cancel the rest by range
blk=$(fq submit --parsable -p 0 -k sleep --args '{"ms":1000}')
blk2=$(fq submit --parsable -p 0 -k sleep --args '{"ms":1000}')
r=$(fq submit --parsable --array 0-18:2 -k sleep --args '{"ms":1}') || fail submit
first=${r%-*} last=${r#*-}
[ $((last - first + 1)) -eq 10 ] || fail "stepped array ids $r"
[ "$(jget "$(fq status --json "$last")" .array_index)" = 18 ] || fail "stepped index"
fq cancel "$first-$last" >/dev/null || fail "cancel by range"
[ "$(state_of "$first")" = CANCELLED ] || fail "range cancel"
note "stepped kernel array cancelled by id range"
