/* Scaling plans: the VDU instance counts after scaling a VNF by steps of one of its VNFD's
 * scaling aspects (SOL006 aspect-delta-details), checked against max-scale-level and the
 * vdu-profile bounds. Pure: no store, no VIM. */
#include <inttypes.h>

#include "lib/util.h"
#include "vnfm/vnfm.h"

static json_t *find_by_id(const json_t *list, const char *id)
{
        json_t *x;
        size_t i;
        json_array_foreach(list, i, x)
                if (STREQ(json_string_value(json_object_get(x, "id")) ?: "", id))
                        return x;
        return NULL;
}

static char *ids_of(const json_t *list)
{
        char *s = xstrdup("");
        json_t *x;
        size_t i;
        json_array_foreach(list, i, x) {
                char *n = xasprintf("%s%s'%s'", s, i ? ", " : "", json_string_value(json_object_get(x, "id")));
                free(s);
                s = n;
        }
        return s;
}

/* The delta applied by the step from level to level + 1: step-deltas lists one delta per step;
 * when it lists fewer, the last one repeats (a uniform delta is listed once). */
static json_t *step_delta(const json_t *aspect, int64_t level)
{
        json_t *steps = json_object_get(aspect, "step_deltas"), *deltas = json_object_get(aspect, "deltas");
        size_t n = json_array_size(steps);
        if (n == 0)
                return json_array_size(deltas) == 1 ? json_array_get(deltas, 0) : NULL;
        return find_by_id(deltas, json_string_value(json_array_get(steps, (size_t) level < n ? (size_t) level : n - 1)));
}

int sf_vnfm_scale_plan(const json_t *aspects, const json_t *vdus, const char *aspect_id, int64_t level,
                       int64_t steps, json_t **ret, int64_t *ret_level, sf_err *e)
{
        json_auto_t *counts = json_object();
        json_t *aspect = find_by_id(aspects, aspect_id), *v;
        int64_t max_level, to = level + steps;
        size_t i;

        if (!aspect) {
                _cleanup_free_ char *known = ids_of(aspects);
                return sf_err_set(e, -EINVAL, "aspect", "no scaling aspect '%s' in this VNF (%s%s)", aspect_id,
                                  *known ? "aspects: " : "its VNFD has no scaling-aspect", known);
        }
        if (steps == 0)
                return sf_err_set(e, -EINVAL, "steps", "must not be 0");
        max_level = json_integer_value(json_object_get(aspect, "max_scale_level"));
        if (to > max_level)
                return sf_err_set(e, -EINVAL, "steps",
                                  "aspect '%s' is at level %" PRId64 " of %" PRId64 " (max-scale-level): "
                                  "cannot scale out by %" PRId64,
                                  aspect_id, level, max_level, steps);
        if (to < 0)
                return sf_err_set(e, -EINVAL, "steps",
                                  "aspect '%s' is at level %" PRId64 ": cannot scale in by %" PRId64, aspect_id,
                                  level, -steps);
        json_array_foreach(vdus, i, v)
                json_object_set(counts, json_string_value(json_object_get(v, "id")), json_object_get(v, "count"));
        /* Apply each step's delta, out (level -> level+1) or in (level -> level-1, undoing the
         * delta that brought it there). */
        for (int64_t l = level; l != to; l += steps > 0 ? 1 : -1) {
                json_t *delta = step_delta(aspect, steps > 0 ? l : l - 1), *d;
                size_t j;
                if (!delta)
                        return sf_err_set(e, -EINVAL, "aspect", "aspect '%s' has no delta for step %" PRId64,
                                          aspect_id, steps > 0 ? l + 1 : l);
                json_array_foreach(json_object_get(delta, "vdus"), j, d) {
                        const char *vid = json_string_value(json_object_get(d, "id"));
                        json_t *cur = json_object_get(counts, vid);
                        int64_t n = json_integer_value(json_object_get(d, "number_of_instances"));
                        if (!cur)
                                return sf_err_set(e, -EINVAL, "aspect", "aspect '%s' changes vdu '%s', which this VNF does not have",
                                                  aspect_id, vid);
                        json_object_set_new(counts, vid, json_integer(json_integer_value(cur) + (steps > 0 ? n : -n)));
                }
        }
        /* Only the VDUs that change, each within its vdu-profile. */
        json_array_foreach(vdus, i, v) {
                const char *vid = json_string_value(json_object_get(v, "id"));
                int64_t now = json_integer_value(json_object_get(v, "count"));
                int64_t n = json_integer_value(json_object_get(counts, vid));
                int64_t min = json_integer_value(json_object_get(v, "min"));
                int64_t max = json_integer_value(json_object_get(v, "max"));
                if (n == now) {
                        json_object_del(counts, vid);
                        continue;
                }
                if (n > max)
                        return sf_err_set(e, -EINVAL, "steps",
                                          "vdu '%s' would have %" PRId64 " instances, more than its "
                                          "max-number-of-instances (%" PRId64 ")",
                                          vid, n, max);
                if (n < min)
                        return sf_err_set(e, -EINVAL, "steps",
                                          "vdu '%s' would have %" PRId64 " instances, fewer than its "
                                          "min-number-of-instances (%" PRId64 ")",
                                          vid, n, min);
        }
        *ret = TAKE_PTR(counts);
        *ret_level = to;
        return 0;
}
