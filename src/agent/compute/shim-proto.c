/* The shim's state and exit-record files: JSON formats shared by sf-shim (writer) and the
 * runtime driver (reader). */
#include <inttypes.h>
#include <sys/wait.h>

#include "agent/compute/shim-proto.h"
#include "lib/json.h"
#include "lib/util.h"

#define STATE_FILE_MAX (64 * 1024)

void sf_shim_state_done(sf_shim_state *s)
{
        if (!s)
                return;
        free(s->id);
        free(s->runtime);
        *s = (sf_shim_state) { 0 };
}

char *sf_shim_state_format(const sf_shim_state *s)
{
        _cleanup_json_ json_t *j = json_object();
        _cleanup_free_ char *started = s->started_usec ? sf_timestamp(s->started_usec) : NULL;

        sf_json_set_str(j, "id", s->id);
        sf_json_set_str(j, "runtime", s->runtime);
        json_object_set_new(j, "shim_pid", json_integer(s->shim_pid));
        json_object_set_new(j, "shim_starttime", json_integer((json_int_t) s->shim_starttime));
        json_object_set_new(j, "pid", json_integer(s->pid));
        json_object_set_new(j, "pid_starttime", json_integer((json_int_t) s->pid_starttime));
        json_object_set_new(j, "started_usec", json_integer((json_int_t) s->started_usec));
        sf_json_set_str(j, "started_at", started);
        return sf_json_dumps(j);
}

static int parse_object(const char *buf, size_t len, const char *what, json_t **ret, sf_err *e)
{
        json_t *j = NULL;
        int r = sf_json_parse(buf, len, &j, e);
        if (r < 0)
                return sf_err_prefix(e, "%s", what);
        if (!json_is_object(j)) {
                json_decref(j);
                return sf_err_set(e, -EINVAL, NULL, "%s: not a JSON object", what);
        }
        *ret = j;
        return 0;
}

int sf_shim_state_parse(const char *buf, size_t len, sf_shim_state *ret, sf_err *e)
{
        _cleanup_json_ json_t *j = NULL;
        const char *id = NULL, *runtime = NULL;
        int64_t shim_pid = 0, shim_st = 0, pid = 0, pid_st = 0, started = 0;
        int r;

        r = parse_object(buf, len, SF_SHIM_STATE_FILE, &j, e);
        if (r < 0)
                return r;
        if ((r = sf_json_str(j, "id", true, &id, e)) < 0 ||
            (r = sf_json_str(j, "runtime", false, &runtime, e)) < 0 ||
            (r = sf_json_int(j, "shim_pid", true, 1, INT32_MAX, &shim_pid, e)) < 0 ||
            (r = sf_json_int(j, "shim_starttime", true, 0, INT64_MAX, &shim_st, e)) < 0 ||
            (r = sf_json_int(j, "pid", true, 0, INT32_MAX, &pid, e)) < 0 ||
            (r = sf_json_int(j, "pid_starttime", false, 0, INT64_MAX, &pid_st, e)) < 0 ||
            (r = sf_json_int(j, "started_usec", false, 0, INT64_MAX, &started, e)) < 0)
                return sf_err_prefix(e, SF_SHIM_STATE_FILE);
        *ret = (sf_shim_state) {
                .id = xstrdup(id),
                .runtime = xstrdup(runtime),
                .shim_pid = (pid_t) shim_pid,
                .shim_starttime = (uint64_t) shim_st,
                .pid = (pid_t) pid,
                .pid_starttime = (uint64_t) pid_st,
                .started_usec = (uint64_t) started,
        };
        return 0;
}

static int read_state_file(const char *state_dir, const char *name, char **ret, size_t *ret_len,
                           sf_err *e)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", state_dir, name);
        int r = sf_read_file(path, STATE_FILE_MAX, ret, ret_len, e);
        if (r == -ENOENT)
                return sf_err_set(e, -ENOENT, NULL, "no %s in '%s'", name, state_dir);
        return r;
}

int sf_shim_state_read(const char *state_dir, sf_shim_state *ret, sf_err *e)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_state_file(state_dir, SF_SHIM_STATE_FILE, &buf, &len, e);
        if (r < 0)
                return r;
        return sf_shim_state_parse(buf, len, ret, e);
}

int sf_shim_state_write(const char *state_dir, const sf_shim_state *s, sf_err *e)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", state_dir, SF_SHIM_STATE_FILE);
        _cleanup_free_ char *text = sf_shim_state_format(s);
        return sf_write_file_volatile(path, text, strlen(text), 0644, e);
}

void sf_exit_record_from_status(pid_t pid, int status, uint64_t finished_usec,
                                sf_exit_record *ret)
{
        *ret = (sf_exit_record) { .pid = pid, .finished_usec = finished_usec };
        if (WIFEXITED(status))
                ret->exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status)) {
                ret->signal = WTERMSIG(status);
                ret->exit_code = 128 + ret->signal;
                ret->core_dumped = WCOREDUMP(status);
        } else
                ret->exit_code = 255;
}

char *sf_exit_record_format(const sf_exit_record *r)
{
        _cleanup_json_ json_t *j = json_object();
        _cleanup_free_ char *finished = sf_timestamp(r->finished_usec);

        json_object_set_new(j, "pid", json_integer(r->pid));
        json_object_set_new(j, "exit_code", json_integer(r->exit_code));
        json_object_set_new(j, "signal", r->signal ? json_integer(r->signal) : json_null());
        json_object_set_new(j, "core_dumped", json_boolean(r->core_dumped));
        json_object_set_new(j, "finished_usec", json_integer((json_int_t) r->finished_usec));
        sf_json_set_str(j, "finished_at", finished);
        return sf_json_dumps(j);
}

int sf_exit_record_parse(const char *buf, size_t len, sf_exit_record *ret, sf_err *e)
{
        _cleanup_json_ json_t *j = NULL;
        int64_t pid = 0, code = 0, sig = 0, finished = 0;
        bool core = false;
        int r;

        r = parse_object(buf, len, SF_SHIM_EXIT_FILE, &j, e);
        if (r < 0)
                return r;
        if ((r = sf_json_int(j, "pid", true, 1, INT32_MAX, &pid, e)) < 0 ||
            (r = sf_json_int(j, "exit_code", true, 0, 255, &code, e)) < 0 ||
            (r = sf_json_int(j, "signal", false, 1, 64, &sig, e)) < 0 ||
            (r = sf_json_bool(j, "core_dumped", false, &core, e)) < 0 ||
            (r = sf_json_int(j, "finished_usec", true, 0, INT64_MAX, &finished, e)) < 0)
                return sf_err_prefix(e, SF_SHIM_EXIT_FILE);
        if (sig && code != 128 + sig)
                return sf_err_set(e, -EINVAL, "exit_code", "%s: must be 128 + signal (%" PRId64
                                  ") when a signal is given", SF_SHIM_EXIT_FILE, 128 + sig);
        *ret = (sf_exit_record) {
                .pid = (pid_t) pid,
                .exit_code = (int) code,
                .signal = (int) sig,
                .core_dumped = core,
                .finished_usec = (uint64_t) finished,
        };
        return 0;
}

int sf_exit_record_read(const char *state_dir, sf_exit_record *ret, sf_err *e)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_state_file(state_dir, SF_SHIM_EXIT_FILE, &buf, &len, e);
        if (r < 0)
                return r;
        return sf_exit_record_parse(buf, len, ret, e);
}

int sf_exit_record_write(const char *state_dir, const sf_exit_record *r, sf_err *e)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", state_dir, SF_SHIM_EXIT_FILE);
        _cleanup_free_ char *text = sf_exit_record_format(r);
        return sf_write_file_volatile(path, text, strlen(text), 0644, e);
}
