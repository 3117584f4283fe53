# Issue 4, test 6: the same --key twice gives the same id and one task.
. "$(dirname "$0")/lib.sh"
start_forqd
a=$(fq submit --parsable --key nightly-2026-12-03 -- echo once) || fail submit
b=$(fq submit --parsable --key nightly-2026-12-03 -- echo twice) || fail "resubmit"
[ "$a" = "$b" ] || fail "ids differ: $a $b"
[ "$(jget "$(fq stats --json)" .submitted)" -eq 1 ] || fail "two tasks stored"
fq wait "$a" --timeout 10s || fail wait
[ "$(fq log "$a")" = once ] || fail "the second submission ran"
long=$(printf 'k%.0s' $(seq 300))
fq submit --key "$long" -k noop 2>/dev/null && fail "a 300-byte key was accepted"
note "same key -> same id ($a), one task"
