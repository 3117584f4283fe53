# Issue 2, test 10: a second forqd on the same state dir refuses to start.
. "$(dirname "$0")/lib.sh"
start_forqd
"$FORQD" --state "$STATE" --socket "$T/other.sock" >"$T/second.log" 2>&1 &
p=$!
for _ in $(seq 100); do kill -0 $p 2>/dev/null || break; sleep 0.05; done
kill -0 $p 2>/dev/null && { kill $p; fail "the second forqd is still running"; }
wait $p; rc=$?
[ $rc -ne 0 ] || fail "second forqd exited 0"
grep -q "another forqd" "$T/second.log" || fail "no clear message: $(cat "$T/second.log")"
fq stats >/dev/null || fail "the first forqd stopped serving"
note "second forqd refused: $(tail -n1 "$T/second.log")"
