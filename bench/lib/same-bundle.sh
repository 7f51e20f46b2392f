# bench/lib/same-bundle.sh: the bare OCI runtime starting Superfluid's own bundle, without
# network: the baseline "the same bundle without network" (bench/boot, bench/spike). Sourced.
#
# same_bundle_init "SFCTL..." NETWORK RUN ST: starts one container through Superfluid, keeps a
#   copy of the config.json the agent generated for it (process, mounts with the /etc bind
#   mounts, capabilities, masked paths, cgroup, sysctl, rlimits) and the overlay's lower layers,
#   then removes it.
# same_bundle_run N: N concurrent `runc run -d` of N copies of that bundle, each with its own
#   overlay root filesystem (the image's layers, an empty upper), the network namespace a new
#   empty one instead of the prepared one, and no createRuntime hook. Prints the wall time in
#   microseconds until every `runc run -d` returned (its process runs). Preparing the copies
#   (mounting the overlays: 0.3 ms each on Superfluid's path) is not timed; removing them after
#   is not either.
# same_bundle_cleanup: removes what is left (called from the caller's cleanup).
SAME_DIR=""
SAME_ROOT=""
SAME_CG=sfbench-same-$$

same_bundle_init() { # "SFCTL..." NETWORK RUN ST
        local sf=$1 net=$2 run=$3 st=$4 id rootfs lower
        SAME_DIR=$st/same
        SAME_ROOT=$run/same
        mkdir -p "$SAME_DIR"
        # on a tmpfs, as the agent's run directory (upper layers, /etc files) is
        mount -t tmpfs -o mode=0700 sfbench-same "$SAME_DIR" || return 1
        $sf run --name sfbench-template --network "$net" -q busybox -- sleep 3600 >/dev/null || return 1
        for _ in $(seq 100); do
                [ "$($sf container show sfbench-template -o json | jq -r .status.phase)" = Running ] && break
                sleep 0.1
        done
        id=$($sf container show sfbench-template -o json | jq -r .id)
        rootfs=$run/containers/$id/rootfs
        lower=$(awk -v m="$rootfs" '$5 == m' /proc/self/mountinfo | grep -o 'lowerdir=[^,]*' | head -1 | sed 's/^lowerdir=//')
        cp "$run/containers/$id/bundle/config.json" "$SAME_DIR/config.template.json"
        cp -a "$run/containers/$id/bundle/etc" "$SAME_DIR/etc.template"
        echo "$lower" > "$SAME_DIR/lower"
        $sf rm --force sfbench-template >/dev/null
        for _ in $(seq 100); do [ -e "$run/containers/$id" ] || break; sleep 0.1; done
        [ -n "$lower" ] && [ -s "$SAME_DIR/config.template.json" ] || {
                echo "same_bundle_init: no bundle or overlay found for the template container" >&2
                return 1
        }
}

same_bundle_prepare() { # I: the bundle of copy I
        local d=$SAME_DIR/c$1
        mkdir -p "$d/rootfs" "$d/upper" "$d/work"
        cp -a "$SAME_DIR/etc.template" "$d/etc"
        mount -t overlay overlay -o "lowerdir=$(cat "$SAME_DIR/lower"),upperdir=$d/upper,workdir=$d/work" "$d/rootfs" || return 1
        jq --arg d "$d" --arg cg "/$SAME_CG/c$1" '
                .root.path = ($d + "/rootfs")
                | .mounts |= map(if (.destination | startswith("/etc/")) and .type == "bind"
                                 then .source = ($d + "/etc/" + (.destination | ltrimstr("/etc/"))) else . end)
                | .linux.cgroupsPath = $cg
                | .linux.namespaces |= map(if .type == "network" then del(.path) else . end)
                | del(.hooks)' "$SAME_DIR/config.template.json" > "$d/config.json"
}

same_bundle_remove() { # I
        local d=$SAME_DIR/c$1
        runc --root "$SAME_ROOT" delete -f "same-$1" >/dev/null 2>&1
        umount "$d/rootfs" 2>/dev/null
        rm -rf "$d"
}

same_bundle_run() { # N -> wall us
        local n=$1 t0 t1 pids=() i
        for i in $(seq 1 "$n"); do same_bundle_prepare "$i" || return 1; done
        t0=$(date +%s%N)
        for i in $(seq 1 "$n"); do
                runc --root "$SAME_ROOT" run -d --bundle "$SAME_DIR/c$i" "same-$i" >/dev/null 2>&1 </dev/null &
                pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p"; done
        t1=$(date +%s%N)
        for i in $(seq 1 "$n"); do same_bundle_remove "$i"; done
        echo $(( (t1 - t0) / 1000 ))
}

same_bundle_cleanup() {
        local d
        [ -n "$SAME_DIR" ] || return 0
        for id in $(runc --root "$SAME_ROOT" list -q 2>/dev/null); do runc --root "$SAME_ROOT" delete -f "$id" >/dev/null 2>&1; done
        for d in "$SAME_DIR"/c*; do [ -d "$d" ] && umount "$d/rootfs" 2>/dev/null; done
        umount "$SAME_DIR" 2>/dev/null
        for d in /sys/fs/cgroup/*/"$SAME_CG" /sys/fs/cgroup/unified/"$SAME_CG"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
        return 0
}
