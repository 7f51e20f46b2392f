# bench/lib/quiet.sh: waiting for a quiet machine before a measurement (bench/boot, bench/spike).
# Sourced. Other engineers' jobs share these machines, and a burst's own aftermath (the kernel
# destroying the network namespaces of the containers just removed, in its workqueues) must not
# land on the next measurement.
#
# busy: the CPU busy share (%) of the next second.
# quiet: waits (at most 2 minutes) until a second is less than 25% busy; prints the last share.
busy() {
        local a b t=0 i k
        a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
        for k in 1 2 3 4 5 6 7 8; do t=$((t + b[k] - a[k])); done
        i=$(( (b[4] - a[4]) + (b[5] - a[5]) ))
        echo $(( t > 0 ? 100 * (t - i) / t : 0 ))
}

quiet() {
        local b
        for _ in $(seq 120); do b=$(busy); [ "$b" -lt 25 ] && break; done
        echo "$b"
}
