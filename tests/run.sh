#!/bin/sh
# Run forq's tests and print one summary line: "N passed, N failed, N skipped".
#   tests/run.sh BUILD_DIR [all|unit|e2e|san]
# all = man-page lint + cmocka unit tests + end-to-end tests + the unit tests
# again under ASan+UBSan + the ring under TSan.  Each test runs under a
# timeout; a test program that exits 77 is skipped.
set -u
B=${1:-build}
MODE=${2:-all}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
pass=0 fail=0 skip=0 failed=""

run() { # name timeout cmd...
	name=$1 t=$2
	shift 2
	start=$(date +%s)
	log=$(mktemp)
	timeout -k 10 "$t" "$@" >"$log" 2>&1
	rc=$?
	dur=$(( $(date +%s) - start ))
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1)); echo "ok      $name (${dur}s)"
	elif [ $rc -eq 77 ]; then
		skip=$((skip + 1)); echo "skip    $name"
	else
		fail=$((fail + 1)); failed="$failed $name"
		echo "FAIL    $name (exit $rc, ${dur}s)"
		tail -n 60 "$log" | sed 's/^/    | /'
	fi
	rm -f "$log"
}

lint_man() {
	rc=0
	for m in man/*.[1-9]; do
		[ -f "$m" ] || continue
		out=$(mandoc -Tlint -W warning "$m" 2>&1) || rc=1
		[ -n "$out" ] && { echo "$out"; rc=1; }
	done
	return $rc
}

unit() {
	dir=$1
	for t in "$dir"/tests/test_*; do
		case "$t" in *.o|*.d) continue ;; esac
		[ -x "$t" ] || continue
		run "$(basename "$t")${2:-}" 300 "$t"
	done
}

e2e() {
	for t in tests/e2e/*.sh; do
		[ -f "$t" ] || continue
		case "$(basename "$t")" in lib*) continue ;; esac
		run "e2e/$(basename "$t" .sh)" 600 env FORQ_BUILD="$ROOT/$B" sh "$t"
	done
}

case "$MODE" in
all|unit)
	if lint_man; then pass=$((pass + 1)); echo "ok      man-lint"
	else fail=$((fail + 1)); failed="$failed man-lint"; echo "FAIL    man-lint"; fi
	unit "$B" ;;
esac
case "$MODE" in
all|e2e) e2e ;;
esac
case "$MODE" in
all|san)
	if make --no-print-directory asan >/tmp/forq-asan-build.log 2>&1; then
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			unit build-asan " [asan]"
		# The daemon's busiest paths under ASan+UBSan too: a sanitizer
		# report aborts forqd or a worker, and the test fails.
		for t in batch exec cancel dag retries array keys kernels restart killworker; do
			ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1 \
				run "e2e/$t [asan]" 600 env FORQ_BUILD="$ROOT/build-asan" sh "tests/e2e/$t.sh"
		done
	else
		fail=$((fail + 1)); failed="$failed asan-build"; tail -n 30 /tmp/forq-asan-build.log
	fi
	if make --no-print-directory tsan >/tmp/forq-tsan-build.log 2>&1; then
		TSAN_OPTIONS=halt_on_error=1 run "test_ring [tsan]" 300 build-tsan/tests/test_ring
	else
		fail=$((fail + 1)); failed="$failed tsan-build"; tail -n 30 /tmp/forq-tsan-build.log
	fi
	;;
esac
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
