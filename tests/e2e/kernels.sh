# Issue 5 through the real forqd and forq:
#   test 1  known answers end to end: submit -k, wait, result --json;
#   test 2  bad arguments of every kernel (unknown field, missing, wrong
#           type, out of range, nonexistent file) refused at submit with
#           BAD_ARGS, exit 4, a message naming the field, nothing stored;
#   test 4  a long pi stops cleanly on cancel and on its deadline, and its
#           worker is not replaced;
#   test 6  resource figures present and plausible (spin, exec);
# and a result larger than the worker's inline slot (ode trajectory), and
# raw result bytes (matmul emit, forq result --bytes).
. "$(dirname "$0")/lib.sh"
start_forqd --workers 2
D=$T/data
mkdir -p "$D"

# run_k KERNEL ARGS: submit, wait, print `forq result --json`.  In $(...):
# a failure exits the subshell, so call as r=$(run_k ...) || exit 1.
run_k() {
	_id=$(fq submit --parsable -k "$1" --args "$2") || fail "submit -k $1 --args $2"
	fq wait "$_id" --timeout 30s >/dev/null ||
		fail "$1 $2: task $_id ended $(state_of "$_id")"
	fq result --json "$_id" || fail "result $_id"
}
# check JSON JQ-BOOL WHAT: fail unless the jq expression is true.
check() {
	[ "$(jget "$1" "$2")" = true ] || fail "$3: $(printf '%s' "$1" | head -c 600)"
}
submitted() { jget "$(fq stats --json)" .submitted; }

# ---- test 1: known answers --------------------------------------------------
r=$(run_k pi '{"samples":2000000,"seed":7}') || exit 1
check "$r" '.state == "DONE" and .result.samples == 2000000 and
	(.result.estimate - 3.141592653589793 | fabs) <= 4 * .result.stderr' "pi within 4 stderr"
hits=$(jget "$r" .result.hits)
# Counter-based RNG: the same seed gives the same answer, whichever worker runs it.
for _ in 1 2 3; do
	r=$(run_k pi '{"samples":2000000,"seed":7}') || exit 1
	[ "$(jget "$r" .result.hits)" = "$hits" ] || fail "pi seed 7: hits $(jget "$r" .result.hits) != $hits"
done
r=$(run_k integrate '{"f":"exp","a":0,"b":1,"tol":1e-12}') || exit 1
check "$r" '(.result.value - 1.718281828459045235 | fabs) <= 1e-11 and .result.converged' \
	"integrate exp on [0,1] = e-1"
r=$(run_k integrate '{"f":"gaussian","a":-3,"b":3}') || exit 1
check "$r" '(.result.value - 0.99730020393673981 | fabs) <= 1e-9' "integrate gaussian = erf(3/sqrt 2)"
r=$(run_k option '{"paths":400000,"seed":3}') || exit 1
check "$r" '(.result.bs - 10.450583572185565 | fabs) < 1e-6 and
	(.result.mc - .result.bs | fabs) <= 3 * .result.stderr' "option call within 3 stderr of BS"
r=$(run_k option '{"type":"put","paths":400000}') || exit 1
check "$r" '(.result.bs - 5.573526022256971 | fabs) < 1e-6 and
	(.result.mc - .result.bs | fabs) <= 3 * .result.stderr' "option put within 3 stderr of BS"
# The harmonic oscillator after 100 periods: back at (1, 0), energy kept.
r=$(run_k ode '{"system":"harmonic","t1":628.3185307179586,"rtol":1e-10,"atol":1e-12}') || exit 1
check "$r" '(.result.y[0] - 1 | fabs) < 1e-6 and (.result.y[1] | fabs) < 1e-6 and
	.result.drift < 1e-6' "ode harmonic after 100 periods"
r=$(run_k matmul '{"n":100}') || exit 1
check "$r" '.result.max_rel_err < 1e-12 and .result.threads == 1' "matmul against long double"
r=$(run_k linsolve '{"n":200}') || exit 1
check "$r" '.result.residual < 1e-12 and .result.error < 1e-8' "linsolve residual"
r=$(run_k nbody '{"n":64,"steps":200}') || exit 1
check "$r" '.result.drift < 1e-3 and .result.steps == 200' "nbody energy drift"
r=$(run_k heat2d '{"n":65,"tol":1e-10}') || exit 1
check "$r" '.result.converged and (.result.probes[0].u - 0.25 | fabs) < 1e-3' \
	"heat2d centre = 1/4 (one hot side of four)"

# A CSV whose answers awk computes independently.
awk 'BEGIN { print "key,value"; for (i = 0; i < 1001; i++)
	printf "k%d,%.3f\n", i % 7, ((i * 7919) % 1000) / 8.0 - 20 }' >"$D/num.csv"
exp=$(awk -F, 'NR > 1 { n++; s += $2; q += $2 * $2; if (n == 1 || $2 < lo) lo = $2
		if (n == 1 || $2 > hi) hi = $2 }
	END { m = s / n; printf "%d %.12g %.12g %.12g %.12g", n, m, sqrt((q - n * m * m) / (n - 1)), lo, hi }' \
	"$D/num.csv")
med=$(tail -n +2 "$D/num.csv" | cut -d, -f2 | sort -g | sed -n 501p)
r=$(run_k stats "{\"path\":\"$D/num.csv\",\"name\":\"value\"}") || exit 1
set -- $exp
check "$r" "def near(\$x): (. - \$x | fabs) <= 1e-9 * (1 + (\$x | fabs));
	.result.count == $1 and (.result.mean | near($2)) and (.result.stddev | near($3)) and
	.result.min == $4 and .result.max == $5 and
	(.result.quantiles[0] | .q == 0.5 and (.value | near($med)))" "stats against awk ($exp, median $med)"
exp=$(awk -F, 'NR > 1 { c[$1]++; s[$1] += $2 }
	END { for (k in c) printf "%s %d %.9g\n", k, c[k], s[k] }' "$D/num.csv" | sort)
r=$(run_k groupby "{\"path\":\"$D/num.csv\",\"key_name\":\"key\",\"value_name\":\"value\"}") || exit 1
got=$(jget "$r" '.result.groups[] | "\(.key) \(.count) \(.sum)"' |
	awk '{ printf "%s %d %.9g\n", $1, $2, $3 }' | sort)
[ "$got" = "$exp" ] || fail "groupby: got [$got], awk says [$exp]"
r=$(run_k grep "{\"path\":\"$D/num.csv\",\"pattern\":\"^k[35],-\"}") || exit 1
[ "$(jget "$r" .result.matches)" = "$(grep -cE '^k[35],-' "$D/num.csv")" ] || fail "grep count"
r=$(run_k histogram "{\"path\":\"$D/num.csv\",\"column\":1,\"header\":true,\"bins\":8}") || exit 1
check "$r" '(.result.counts | add) + .result.underflow + .result.overflow == 1001' "histogram total"

printf 'abc' >"$D/abc"
r=$(run_k checksum "{\"path\":\"$D/abc\"}") || exit 1
[ "$(jget "$r" .result.digest)" = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad ] ||
	fail "sha256(abc) = $(jget "$r" .result.digest)"

awk 'BEGIN { srand(42); for (i = 0; i < 5000; i++) printf "%.4f\n", (rand() - 0.5) * 1e4 }' >"$D/n.txt"
r=$(run_k sort "{\"path\":\"$D/n.txt\",\"out\":\"$D/n.sorted\"}") || exit 1
[ "$(jget "$r" .result.lines)" = 5000 ] || fail "sort: $(jget "$r" .result.lines) lines"
sort -c -g "$D/n.sorted" || fail "sort: output not sorted"
[ "$(sort "$D/n.txt" | cksum)" = "$(sort "$D/n.sorted" | cksum)" ] || fail "sort: not a permutation"
note "known answers: pi, integrate, option, ode, matmul, linsolve, nbody, heat2d, stats, groupby, grep, histogram, checksum, sort"

# ---- big results: through the result file, and raw bytes -----------------------
r=$(run_k ode '{"system":"harmonic","t1":6.283185307179586,"samples":50}') || exit 1
[ "$(jget "$r" '.result | tostring | length > 120')" = true ] || fail "ode result is small"
check "$r" '(.result.trajectory | length) == 50 and .result.trajectory[0] == [0,1,0] and
	(.result.trajectory[49][0] - 6.283185307179586 | fabs) < 1e-12 and
	([.result.trajectory[] | length == 3] | all)' "ode trajectory of 50 samples"
id=$(fq submit --parsable -k matmul --args '{"n":24,"emit":true}') || fail submit
fq wait "$id" --timeout 30s >/dev/null || fail "matmul emit ended $(state_of "$id")"
fq result "$id" --bytes >"$D/c.f64"; rc=$?
[ $rc -eq 0 ] || fail "result --bytes exited $rc"
[ "$(wc -c <"$D/c.f64")" -eq $((24 * 24 * 8)) ] || fail "result --bytes: $(wc -c <"$D/c.f64") bytes"
# The bytes are C: their sum is the result's checksum.
sum=$(od -A n -v -t f8 "$D/c.f64" | awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%.12g", s }')
check "$(fq result --json "$id")" "(.result.checksum - ($sum) | fabs) <= 1e-9 * (1 + (.result.checksum | fabs))" \
	"matmul bytes sum $sum"
check "$(fq result --json --bytes "$id")" '.bytes_len == 4608 and (.bytes | length) == 6144' "--bytes --json"
fq result "$id" --bytes --json >/dev/null || fail "--bytes --json"
fq result "$(echo "$r" | jq .id)" --bytes >"$D/none" 2>"$D/err"; rc=$?
[ $rc -eq 4 ] || fail "result --bytes of a task without bytes exited $rc"
[ ! -s "$D/none" ] || fail "result --bytes without bytes wrote to stdout"
grep -q "task $(echo "$r" | jq .id) has no result bytes" "$D/err" || fail "message: $(cat "$D/err")"
note "ode trajectory (result file), matmul bytes ($((24 * 24 * 8)) bytes, sum matches)"

# ---- test 2: bad arguments of every kernel --------------------------------------
# Valid arguments for each built-in kernel, mutated one field at a time.  A
# kernel missing here gets its required fields filled from its schema; every
# base is submitted at the end and must run DONE, so that each refusal
# below is the mutation's doing.
printf '5\n3\n' >"$D/small.txt"
base=$(jq -n --arg d "$D" '{
	noop: {}, sleep: {ms: 1}, spin: {us: 1}, pi: {samples: 1000},
	integrate: {f: "exp", a: 0, b: 1}, ode: {system: "harmonic", t1: 1},
	nbody: {n: 8, steps: 1}, heat2d: {n: 9}, option: {paths: 1000},
	matmul: {n: 4}, linsolve: {n: 4},
	stats: {path: "\($d)/num.csv", header: true, column: 1},
	histogram: {path: "\($d)/num.csv", header: true, column: 1},
	groupby: {path: "\($d)/num.csv", header: true}, sort: {path: "\($d)/small.txt", out: "\($d)/o.txt"},
	grep: {path: "\($d)/num.csv", pattern: "x"}, checksum: {path: "\($d)/abc"}}')
kernels=$(fq kernels --json) || fail "kernels --json"
# One line per case: kernel <TAB> what <TAB> args <TAB> the field the message names.
jq -r --argjson base "$base" --arg d "$D" '
	def fill: if .type == "enum" then .choices[0] elif .type == "path" then "\($d)/num.csv"
		elif .type == "outpath" then "\($d)/gen.out" elif .type == "bool" then false
		elif .type == "string" then "x" * ([.min // 1, 1] | max)
		elif .type == "numbers" then [.min // 0] else ([.min // 0, 0] | max) end;
	def badtype: if (.type | IN("int", "number", "numbers", "bool")) then "zz"
		elif (.type | IN("string", "enum", "path", "outpath")) then 12345 else empty end;
	def big: . + (. | fabs) + 1;
	def small: . - (. | fabs) - 1;
	def outofrange: if (.type | IN("int", "number")) then
			(if .max != null then (.max | big) elif .min != null then (.min | small) else empty end)
		elif .type == "numbers" then
			(if .max != null then [.max | big] elif .min != null then [.min | small] else empty end)
		elif .type == "string" then (if (.min // 0) >= 1 then "" else "a" * (.max + 1) end)
		elif .type == "enum" then "zz_no_such_choice"
		elif .type == "path" then ("\($d)/no/such/file", "relative.csv", $d)
		elif .type == "outpath" then ("\($d)/no/such/dir/out", $d) else empty end;
	.kernels[] | select(.name != "exec") | .name as $k | (.args // []) as $args |
	($base[$k] // ([$args[] | select(.required) | {key: .name, value: fill}] | from_entries)) as $b |
	([$k, "base", ($b | tojson), ""] | @tsv),
	([$k, "unknown field", ($b + {zz_bogus: 1} | tojson), "zz_bogus"] | @tsv),
	($args[] | . as $a |
		(select(.required) | [$k, "missing", ($b | del(.[$a.name]) | tojson), .name] | @tsv),
		(($a | badtype) as $v | [$k, "wrong type", ($b + {($a.name): $v} | tojson), .name] | @tsv),
		(($a | outofrange) as $v | [$k, "out of range", ($b + {($a.name): $v} | tojson), .name] | @tsv))
' <<EOF >"$T/cases" || fail "building the cases"
$kernels
EOF
# The specific cases of issue 5 and of forq-kernels(7), beyond the schema.
cat >>"$T/cases" <<EOF
pi	fraction	{"samples":1.5}	samples
pi	string number	{"samples":"1000"}	samples
pi	zero	{"samples":0}	samples
integrate	b < a	{"f":"exp","a":1,"b":0}	a
integrate	poly without coeffs	{"f":"poly","a":0,"b":1}	coeffs
integrate	coeffs without poly	{"f":"exp","a":0,"b":1,"coeffs":[1]}	coeffs
integrate	sqrt below 0	{"f":"sqrt","a":-1,"b":1}	a
ode	t1 <= t0	{"system":"harmonic","t1":0}	t1
ode	parameter of another system	{"system":"lorenz","t1":1,"omega":2}	omega
ode	y0 of the wrong length	{"system":"harmonic","t1":1,"y0":[1,2,3]}	y0
heat2d	odd probes	{"probes":[0.5]}	probes
histogram	min without max	{"path":"$D/num.csv","min":0}	max
sort	out in a missing directory	{"path":"$D/small.txt","out":"$D/nodir/x"}	out
sort	out a directory	{"path":"$D/small.txt","out":"$D"}	out
grep	bad regex	{"path":"$D/num.csv","pattern":"("}	pattern
checksum	unknown algorithm	{"path":"$D/abc","algorithm":"crc64"}	algorithm
stats	nonexistent file	{"path":"$D/missing.csv"}	path
EOF
before=$(submitted)
n=0 nk=0
while IFS='	' read -r k what args field; do
	[ "$what" = base ] && { nk=$((nk + 1)); continue; }
	fq submit -k "$k" --args "$args" >"$T/out" 2>"$T/err"; rc=$?
	[ $rc -eq 4 ] || fail "$k, $what: $args: exit $rc, expected 4 ($(cat "$T/out" "$T/err"))"
	grep -q '(BAD_ARGS)$' "$T/err" || fail "$k, $what: $args: not BAD_ARGS: $(cat "$T/err")"
	grep -qF "$field" "$T/err" || fail "$k, $what: $args: message does not name $field: $(cat "$T/err")"
	n=$((n + 1))
done <"$T/cases"
[ "$nk" -ge 17 ] || fail "only $nk kernels listed"
# exec is not a schema kernel: its command is the task's argv, refused as such.
for line in '{"kernel":"exec"}' '{"argv":"true"}' '{"argv":[1]}' '{"argv":[]}' \
	'{"argv":["true"],"args":{"zz_bogus":1}}'; do
	echo "$line" | fq submit -f - >/dev/null 2>"$T/err"; rc=$?
	[ $rc -eq 4 ] || fail "exec $line: exit $rc"
	grep -qE '(EMPTY_COMMAND|BAD_FIELD)\)$' "$T/err" || fail "exec $line: $(cat "$T/err")"
	n=$((n + 1))
done
after=$(submitted)
[ "$after" = "$before" ] || fail "refused submissions stored tasks: submitted $before -> $after"
[ "$(jget "$(fq list --limit 0 --json)" '.tasks | length')" = "$before" ] || fail "list grew"
# Every base is accepted and runs.
ids=""
while IFS='	' read -r k what args field; do
	[ "$what" = base ] || continue
	id=$(fq submit --parsable -k "$k" --args "$args" 2>"$T/err") || fail "base of $k refused: $(cat "$T/err")"
	ids="$ids $id"
done <"$T/cases"
# shellcheck disable=SC2086
fq wait $ids --timeout 30s >/dev/null || fail "a base task did not end DONE"
note "test 2: $n bad-argument cases over $nk kernels refused (exit 4, field named), nothing stored"

# ---- test 4: a long pi stops on cancel and on its deadline ------------------------
workers() { jget "$(fq workers --json)" '[.workers[] | "\(.index):\(.pid):\(.cpus):\(.restarts)"] | join(" ")'; }
w0=$(workers)
[ "$(jget "$(fq workers --json)" '[.workers[].restarts] | add')" = 0 ] ||
	fail "a worker was replaced before test 4: $w0"
id=$(fq submit --parsable -k pi --args '{"samples":1000000000000}') || fail submit
wait_state "$id" RUNNING 5
sleep 0.3
start=$(date +%s%N)
fq cancel "$id" >/dev/null || fail "cancel pi"
for _ in $(seq 40); do [ "$(state_of "$id")" = CANCELLED ] && break; sleep 0.025; done
el=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(state_of "$id")" = CANCELLED ] || fail "pi not CANCELLED 1 s after cancel: $(state_of "$id")"
sleep 1 # forqd would replace a worker that had not stopped within 0.5 s
[ "$(workers)" = "$w0" ] || fail "worker replaced by a cancel of pi: $w0 -> $(workers)"
check "$(fq status --json "$id")" '.reason == "cancelled" and .resources.wall > 0.2' "pi cancelled"
note "test 4: pi cancelled in $el ms, workers unchanged ($w0)"
start=$(date +%s%N)
id=$(fq submit --parsable -t 500ms -k pi --args '{"samples":1000000000000}') || fail submit
fq wait "$id" --timeout 5s >/dev/null
el=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(state_of "$id")" = TIMEOUT ] || fail "pi -t 500ms is $(state_of "$id")"
[ $el -lt 2000 ] || fail "pi TIMEOUT took $el ms"
check "$(fq status --json "$id")" '.reason == "timeout" and .attempts == 1' "pi timeout"
sleep 1
[ "$(workers)" = "$w0" ] || fail "worker replaced by pi's deadline: $w0 -> $(workers)"
note "test 4: pi -t 500ms TIMEOUT in $el ms, workers unchanged"

# ---- test 6: resource figures --------------------------------------------------
# spin burns 200 ms of wall time; on a loaded machine its CPU share can fall
# short, so it gets three tries to show it.
for try in 1 2 3; do
	id=$(fq submit --parsable -k spin --args '{"us":200000}') || fail submit
	fq wait "$id" --timeout 10s >/dev/null || fail "spin ended $(state_of "$id")"
	s=$(fq status --json "$id")
	[ "$(jget "$s" '.resources.user >= 0.15 and .resources.user <= 0.3')" = true ] && break
	note "spin try $try: $(jget "$s" '.resources | tojson')"
	[ $try -lt 3 ] || fail "spin 200 ms: user CPU not ~0.2 s: $(jget "$s" '.resources | tojson')"
done
check "$s" '.resources.wall >= 0.19 and .resources.wall <= 0.3 and .resources.system < 0.05 and
	(.resources.cpu | type) == "number" and .resources.cpu == .cpu and .cpu >= 0' \
	"spin 200 ms resources"
note "test 6: spin 200 ms: $(jget "$s" '.resources | tojson')"
id=$(fq submit --parsable -- sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done') || fail submit
fq wait "$id" --timeout 30s >/dev/null || fail "exec loop ended $(state_of "$id")"
s=$(fq status --json "$id")
check "$s" '.resources.user > 0 and .resources.max_rss_kb > 0 and .resources.wall > 0 and
	(.resources.cpu | type) == "number" and .resources.cpu == .cpu' "exec loop resources"
fq status "$id" | grep -q '^resources: wall .*, user .*, max rss [1-9][0-9]* KiB, cpu [0-9]' ||
	fail "status text: $(fq status "$id" | grep resources)"
note "test 6: exec loop: $(jget "$s" '.resources | tojson')"
stop_forqd
