# Issue 4, test 3: a diamond (A -> B, C -> D) submitted as one batch with
# keys runs in a valid order; A failing cancels B, C, D with reason
# dependency_failed; a cycle in a batch is refused and nothing is stored.
. "$(dirname "$0")/lib.sh"
start_forqd --workers 2
cat >"$T/diamond.jsonl" <<'J'
{"key":"A","kernel":"sleep","args":{"ms":100}}
{"key":"B","kernel":"sleep","args":{"ms":100},"after":["A"]}
{"key":"C","kernel":"sleep","args":{"ms":150},"after":["A"]}
{"key":"D","kernel":"sleep","args":{"ms":10},"after":["B","C"]}
J
ids=$(fq submit -f "$T/diamond.jsonl" --parsable) || fail submit
set -- $ids
A=$1 B=$2 C=$3 D=$4
fq wait "$A" "$B" "$C" "$D" --timeout 20s || fail "diamond did not finish DONE"
t() { jget "$(fq status --json "$1")" ".$2"; }
before() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
before "$(t "$A" ended)" "$(t "$B" started)" || fail "B started before A ended"
before "$(t "$A" ended)" "$(t "$C" started)" || fail "C started before A ended"
before "$(t "$B" ended)" "$(t "$D" started)" || fail "D started before B ended"
before "$(t "$C" ended)" "$(t "$D" started)" || fail "D started before C ended"
note "diamond order valid"

sed -e 's/"key":"\([A-D]\)"/"key":"F\1"/' -e 's/"after":\["\([A-D]\)"\]/"after":["F\1"]/' \
    -e 's/"after":\["B","C"\]/"after":["FB","FC"]/' \
    -e 's/{"key":"FA","kernel":"sleep","args":{"ms":100}}/{"key":"FA","argv":["false"]}/' \
    "$T/diamond.jsonl" >"$T/fail.jsonl"
ids=$(fq submit -f "$T/fail.jsonl" --parsable) || fail submit
set -- $ids
fq wait "$1" "$2" "$3" "$4" --timeout 20s
[ "$(state_of "$1")" = FAILED ] || fail "A is $(state_of "$1")"
for id in $2 $3 $4; do
	s=$(fq status --json "$id")
	[ "$(jget "$s" .state)" = CANCELLED ] || fail "task $id is $(jget "$s" .state)"
	[ "$(jget "$s" .reason)" = dependency_failed ] || fail "task $id reason $(jget "$s" .reason)"
	[ "$(jget "$s" .started)" = null ] || fail "task $id ran"
done
note "failed A cancels B, C, D (dependency_failed)"

n0=$(jget "$(fq stats --json)" .submitted)
printf '%s\n' '{"key":"X","kernel":"noop","after":["Z"]}' '{"key":"Y","kernel":"noop","after":["X"]}' \
	'{"key":"Z","kernel":"noop","after":["Y"]}' '{"kernel":"noop"}' >"$T/cycle.jsonl"
fq submit -f "$T/cycle.jsonl" 2>"$T/err" && fail "a cycle was accepted"
grep -q BAD_DEPENDENCY "$T/err" || fail "no clear error: $(cat "$T/err")"
printf '%s\n' '{"key":"S","kernel":"noop","after":["S"]}' >"$T/self.jsonl"
fq submit -f "$T/self.jsonl" 2>/dev/null && fail "a self-dependency was accepted"
fq submit --after 999999 -k noop 2>/dev/null && fail "an unknown dependency was accepted"
[ "$(jget "$(fq stats --json)" .submitted)" -eq "$n0" ] || fail "a refused batch stored tasks"
# after-any runs whatever the outcome
f=$(fq submit --parsable -- false)
any=$(fq submit --parsable --after "$f" --after-any -k noop)
fq wait "$any" --timeout 10s || fail "after-any task did not run"
note "cycles, self and unknown dependencies refused; nothing stored; after-any runs"
