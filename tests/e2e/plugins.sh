# Issue 5, tests 3 and 5, through the real forqd and forq:
#   test 3  the example plug-in loads (forq kernels lists mandelbrot) and
#           runs (a plausible area, a PGM image as raw bytes); a plug-in
#           built for another ABI, one without the forq_plugin symbol and
#           one that reuses a kernel name each stop forqd at start (exit 1)
#           with a message naming the file and the problem;
#   test 5  a kernel that crashes (test_crash.so dereferences NULL) ends
#           LOST with reason worker_lost after its one free retry (and after
#           --retries 2 more with them), its worker is replaced on the same
#           CPUs, and 100 noop tasks submitted alongside all end DONE.
. "$(dirname "$0")/lib.sh"
P=$B/plugins
for so in example test_badabi test_nosym test_dupname test_crash; do
	[ -f "$P/$so.so" ] || fail "$P/$so.so is missing: run make"
done

# ---- test 3: refused at start ------------------------------------------------
# refused SO PATTERN...: forqd --plugin SO exits 1 at start, its message names
# the file and matches each extended regular expression PATTERN.
refused() {
	so=$1
	shift
	rm -rf "$T/bad"
	timeout 20 "$FORQD" --state "$T/bad" --socket "$T/bad.sock" --plugin "$P/$so.so" \
		>"$T/bad.out" 2>&1
	rc=$?
	[ $rc -eq 1 ] || fail "forqd --plugin $so.so exited $rc, expected 1: $(cat "$T/bad.out")"
	grep -qF "$P/$so.so" "$T/bad.out" || fail "$so.so: the message does not name the file: $(cat "$T/bad.out")"
	for re in "$@"; do
		grep -qE "$re" "$T/bad.out" || fail "$so.so: no /$re/ in: $(cat "$T/bad.out")"
	done
	[ -S "$T/bad.sock" ] && fail "$so.so: forqd left its socket behind"
	pgrep -f -- "--state $T/bad" >/dev/null && fail "$so.so: forqd left a worker behind"
	note "$so.so refused: $(grep -F "$P/$so.so" "$T/bad.out" | head -n 1)"
}
refused test_badabi 'ABI 999' 'ABI 1([^0-9]|$)'
refused test_nosym 'forq_plugin' 'symbol'
refused test_dupname '"pi"' 'already exists'

# ---- test 3: the example plug-in -------------------------------------------------
start_forqd --workers 2 --plugin "$P/example.so" --plugin "$P/test_crash.so"
fq kernels | grep -q '^mandelbrot ' || fail "forq kernels does not list mandelbrot"
k=$(fq kernels --json)
[ "$(jget "$k" '.kernels[] | select(.name == "mandelbrot") | .origin')" = plugin ] ||
	fail "mandelbrot: origin $(jget "$k" '.kernels[] | select(.name == "mandelbrot") | .origin')"
[ "$(jget "$k" '.kernels[] | select(.name == "mandelbrot") | .plugin')" = "$P/example.so" ] ||
	fail "mandelbrot: plugin $(jget "$k" '.kernels[] | select(.name == "mandelbrot") | .plugin')"
[ "$(jget "$k" '[.kernels[] | select(.name == "mandelbrot") | .args[].name] | join(",")')" = \
	"width,height,max_iter,x0,x1,y0,y1,image" ] || fail "mandelbrot's schema"
id=$(fq submit --parsable -k mandelbrot --args '{"width":400,"height":400,"max_iter":1000}') ||
	fail "submit mandelbrot"
fq wait "$id" --timeout 30s >/dev/null || fail "mandelbrot ended $(state_of "$id")"
r=$(fq result --json "$id")
# The area of the Mandelbrot set is about 1.5066; a 400x400 grid is within 1%.
[ "$(jget "$r" '.result.area > 1.49 and .result.area < 1.53 and .result.inside > 0')" = true ] ||
	fail "mandelbrot: implausible $(jget "$r" '.result | tojson')"
note "mandelbrot 400x400: area $(jget "$r" .result.area)"
# Its validator runs at submit, before anything is stored.
n0=$(jget "$(fq stats --json)" .submitted)
fq submit -k mandelbrot --args '{"x0":1,"x1":0}' 2>"$T/err"; rc=$?
[ $rc -eq 4 ] && grep -q 'x0: must be less than x1 (BAD_ARGS)' "$T/err" ||
	fail "mandelbrot x0 > x1: exit $rc: $(cat "$T/err")"
fq submit -k mandelbrot --args '{"width":0}' 2>"$T/err"; rc=$?
[ $rc -eq 4 ] && grep -q 'width: .*(BAD_ARGS)' "$T/err" || fail "mandelbrot width 0: exit $rc: $(cat "$T/err")"
[ "$(jget "$(fq stats --json)" .submitted)" = "$n0" ] || fail "a refused mandelbrot was stored"
# The image travels as raw bytes: an 8-bit PGM of 32x16.
id=$(fq submit --parsable -k mandelbrot --args '{"width":32,"height":16,"image":true}') || fail submit
fq wait "$id" --timeout 30s >/dev/null || fail "mandelbrot image ended $(state_of "$id")"
fq result "$id" --bytes >"$T/m.pgm" || fail "result --bytes of the image"
[ "$(head -c 13 "$T/m.pgm" | od -A n -c | tr -d ' \n')" = 'P5\n3216\n255\n' ] ||
	fail "not a P5 header: $(head -c 13 "$T/m.pgm" | od -A n -c)"
[ "$(wc -c <"$T/m.pgm")" -eq $((13 + 32 * 16)) ] || fail "image of $(wc -c <"$T/m.pgm") bytes"
note "mandelbrot image: $(wc -c <"$T/m.pgm") bytes of PGM"

# ---- test 5: a crashing kernel ------------------------------------------------------
layout() { jget "$(fq workers --json)" '[.workers[] | "\(.index):\(.cpus)"] | join(" ")'; }
pids() { jget "$(fq workers --json)" '[.workers[] | "\(.index):\(.pid)"] | join(" ")'; }
restarts() { jget "$(fq workers --json)" '[.workers[].restarts] | add'; }
l0=$(layout)
p0=$(pids)
[ "$(restarts)" = 0 ] || fail "a worker was replaced before the crash"
awk 'BEGIN { for (i = 0; i < 50; i++) print "{\"kernel\":\"noop\"}" }' >"$T/noops"
fq submit --parsable -f "$T/noops" >"$T/ids1" || fail "submit noops"
crash=$(fq submit --parsable -k crash) || fail "submit crash"
fq submit --parsable -f "$T/noops" >"$T/ids2" || fail "submit noops"
crash2=$(fq submit --parsable --retries 2 -k crash) || fail "submit crash --retries 2"
# shellcheck disable=SC2046
fq wait $(cat "$T/ids1" "$T/ids2") --timeout 30s >/dev/null || fail "a noop did not end DONE"
fq wait "$crash" "$crash2" --timeout 30s >/dev/null
s=$(fq status --json "$crash")
[ "$(jget "$s" '.state == "LOST" and .reason == "worker_lost" and .attempts == 2 and
	([.history[] | "\(.outcome) \(.reason)"] == ["RETRIED worker_lost", "LOST worker_lost"])')" = true ] ||
	fail "crash (retries 0): $(jget "$s" '[.state, .reason, .attempts, .history] | tojson')"
s=$(fq status --json "$crash2")
[ "$(jget "$s" '.state == "LOST" and .reason == "worker_lost" and .attempts == 3 and
	([.history[].outcome] == ["RETRIED", "RETRIED", "LOST"])')" = true ] ||
	fail "crash (retries 2): $(jget "$s" '[.state, .reason, .attempts, .history] | tojson')"
# Five runs crashed, each took its worker down.
for _ in $(seq 50); do
	[ "$(restarts)" -ge 5 ] && [ "$(jget "$(fq workers --json)" '[.workers[] | select(.state == "idle")] | length')" = 2 ] && break
	sleep 0.1
done
[ "$(restarts)" -eq 5 ] || fail "restarts $(restarts), expected 5: $(fq workers)"
[ "$(layout)" = "$l0" ] || fail "workers moved: $l0 -> $(layout)"
# Each worker that was replaced has a new pid; one never replaced kept its own.
w=$(fq workers --json)
for ip in $p0; do
	i=${ip%%:*}
	now=$(jget "$w" ".workers[] | select(.index == $i) | \"\\(.restarts):\\(.pid)\"")
	case "$now" in
	0:"${ip#*:}") ;;
	0:*) fail "worker $i has a new pid without a restart: $ip -> $now" ;;
	*:"${ip#*:}") fail "worker $i restarted with its old pid: $ip -> $now" ;;
	esac
done
c=$(jget "$(fq stats --json)" '.counts | "\(.DONE) \(.LOST) \(.FAILED)"')
[ "$c" = "102 2 0" ] || fail "DONE LOST FAILED = $c, expected 102 2 0 (100 noops, 2 mandelbrots; 2 crashes)"
# The replacements work.
id=$(fq submit --parsable -k pi --args '{"samples":100000}') || fail submit
fq wait "$id" --timeout 10s >/dev/null || fail "a task after the crashes ended $(state_of "$id")"
note "crash: LOST after 2 and 3 attempts (worker_lost), 5 worker replacements on the same CPUs ($l0), 100 noops DONE"
stop_forqd
