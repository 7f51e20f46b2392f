#!/bin/sh
# A stand-in OCI runtime for unit tests (no root): enough of runc's command line for sf-shim
# and the runtime driver, with plain processes instead of containers. The file "mode" in the
# bundle picks the behaviour of "run": "" (sleep 100), "exit7" (exits 7 soon), "fail" (an
# error in the JSON log), "hang" (never finishes). The file "hook", when there, is a command
# line run before the process starts, as runc runs a createRuntime hook: its failure fails the
# run.
root=
log=
while [ $# -gt 0 ]; do
        case "$1" in
        --root) root=$2; shift 2 ;;
        --log=*) log=${1#--log=}; shift ;;
        --log-format=*) shift ;;
        *) break ;;
        esac
done
cmd=$1
shift
case "$cmd" in
run)
        pidfile=
        bundle=
        while [ $# -gt 1 ]; do
                case "$1" in
                --detach) shift ;;
                --pid-file) pidfile=$2; shift 2 ;;
                --bundle) bundle=$2; shift 2 ;;
                *) break ;;
                esac
        done
        id=$1
        mode=$(cat "$bundle/mode" 2>/dev/null)
        if [ -f "$bundle/hook" ] && ! sh -c "$(cat "$bundle/hook")" </dev/null 2>>"$log.hook"; then
                echo '{"level":"error","msg":"fake: error running hook #0","time":"t"}' >>"$log"
                exit 1
        fi
        case "$mode" in
        fail)
                echo '{"level":"warning","msg":"fake: just a warning","time":"t"}' >>"$log"
                echo '{"level":"error","msg":"fake: cannot start '"$id"': no such thing","time":"t"}' >>"$log"
                echo "fake: failed" >&2
                exit 1 ;;
        hang) exec sleep 30 ;;
        exit7) sh -c 'sleep 0.2; exit 7' & ;;
        *) sleep 100 & ;;
        esac
        echo $! >"$pidfile"
        mkdir -p "$root/$id"
        echo $! >"$root/$id/pid"
        echo "fake container $id started"
        exit 0 ;;
delete)
        [ "$1" = --force ] && shift
        rm -rf "${root:?}/$1"
        exit 0 ;;
state)
        if [ -f "$root/$1/pid" ]; then
                printf '{"id":"%s","status":"running","pid":%s}\n' "$1" "$(cat "$root/$1/pid")"
        else
                echo "container does not exist" >&2
                exit 1
        fi ;;
kill)
        kill -"$2" "$(cat "$root/$1/pid")" ;;
exec)
        pidfile=
        while :; do
                case "$1" in
                --pid-file) pidfile=$2; shift 2 ;;
                --env) export "${2?}"; shift 2 ;;
                *) break ;;
                esac
        done
        shift # the id
        echo $$ >"$pidfile"
        exec "$@" ;;
*)
        echo "fake runtime: unknown command '$cmd'" >&2
        exit 2 ;;
esac
