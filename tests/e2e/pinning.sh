# Issue 2, test 11: each worker's affinity mask is exactly one core, all
# distinct, and matches the core forq workers reports.
. "$(dirname "$0")/lib.sh"
start_forqd
w=$(fq workers --json)
n=$(jget "$w" '.workers | length')
[ "$n" -ge 1 ] || fail "no workers"
ncores=$(lscpu -p=CORE 2>/dev/null | grep -v '^#' | sort -u | wc -l)
[ "$ncores" -lt 1 ] && ncores=$(nproc)
[ "$n" -eq "$ncores" ] || note "workers $n, cores per lscpu $ncores"
seen=""
i=0
while [ $i -lt "$n" ]; do
	pid=$(jget "$w" ".workers[$i].pid")
	cpus=$(jget "$w" ".workers[$i].cpus")
	mask=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/"$pid"/status)
	[ "$mask" = "$cpus" ] || fail "worker $i (pid $pid) allowed on '$mask', expected '$cpus'"
	# exactly one core: every cpu of the mask belongs to the same core
	cores=$(for c in $(echo "$mask" | tr ',' ' '); do
		case "$c" in *-*) seq "${c%-*}" "${c#*-}" ;; *) echo "$c" ;; esac
	done | while read -r c; do cat /sys/devices/system/cpu/cpu"$c"/topology/core_id 2>/dev/null \
		| sed "s/^/$(cat /sys/devices/system/cpu/cpu"$c"/topology/physical_package_id 2>/dev/null)-/"; done | sort -u | wc -l)
	[ "$cores" -eq 1 ] || fail "worker $i spans $cores cores ($mask)"
	case " $seen " in *" $mask "*) fail "two workers share $mask" ;; esac
	seen="$seen $mask"
	i=$((i + 1))
done
note "$n workers pinned to distinct single cores:$seen"
