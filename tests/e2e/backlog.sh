# Issue 4, test 11: with --ring-size 1024, 2,000,000 queued noop tasks
# complete, and forqd's anonymous resident memory stays below 64 bytes per
# queued task plus a fixed base (a generous bound; bench/backlog measures).
. "$(dirname "$0")/lib.sh"
N=${FORQ_BACKLOG_N:-2000000}
start_forqd --workers 1 --ring-size 1024 --sync nosync
anon() { sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/"$DPID"/status; }
base=$(anon)
blk=$(fq submit --parsable -p 0 -k sleep --args '{"ms":600000}') || fail submit
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) print "{\"kernel\":\"noop\"}" }' >"$T/n.jsonl"
fq submit -f "$T/n.jsonl" >/dev/null || fail "submit $N"
rm -f "$T/n.jsonl"
s=$(fq stats --json)
[ "$(jget "$s" .counts.QUEUED)" -eq "$N" ] || fail "queued $(jget "$s" .counts.QUEUED)"
[ "$(jget "$s" .backlog)" -ge $((N - 1024)) ] || fail "backlog $(jget "$s" .backlog)"
q=$(anon)
per=$(( (q - base) * 1024 / N ))
note "RssAnon base ${base} kB, with $N queued ${q} kB: $per bytes per queued task"
[ "$per" -le 64 ] || fail "$per bytes per queued task (> 64)"
fq cancel "$blk" >/dev/null
fq wait --all --timeout 300s >/dev/null
s=$(fq stats --json)
[ "$(jget "$s" .counts.DONE)" -eq "$N" ] || fail "DONE $(jget "$s" .counts.DONE) of $N"
note "$N queued tasks completed"
