/*
 * Docker-shaped JSON <-> model structs.
 *
 * Decoding reads typed fields out of the JSON (an absent or null field takes
 * Swarm's default). Encoding starts from a copy of the JSON the struct was
 * decoded from, decodes that copy again, and writes back only the fields
 * whose struct value differs from what the copy already says. So an
 * unchanged struct encodes to exactly its input (unknown fields, key order
 * and spelling of times and durations included), and nothing is added that
 * was absent unless the caller changed it.
 */
#include "model/model.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_STOP_GRACE_NS (10 * 1000000000LL)
#define DEFAULT_RESTART_DELAY_NS (5 * 1000000000LL)
#define DEFAULT_MONITOR_NS (5 * 1000000000LL)
#define DEFAULT_HEARTBEAT_NS (5 * 1000000000LL)
#define DEFAULT_CERT_EXPIRY_NS (90LL * 24 * 3600 * 1000000000LL)
#define DEFAULT_SNAPSHOT_INTERVAL 10000
#define DEFAULT_HISTORY_LIMIT 5

/* ================================================================ decoding helpers */

/* Where decoded fields are, for error messages: prefix + "." + relative path. */
typedef struct dec {
    const char *prefix;
    swarm__err *e;
} dec;

/* Appends s to buf (size n, length *len), truncating. */
static void append(char *buf, size_t n, size_t *len, const char *s)
{
    size_t k = strlen(s);
    if (*len + k >= n)
        k = n - 1 - *len;
    memcpy(buf + *len, s, k);
    *len += k;
    buf[*len] = '\0';
}

static const char *full_path(char *buf, size_t n, const dec *d, const char *path)
{
    size_t len = 0;
    buf[0] = '\0';
    if (d->prefix != NULL && d->prefix[0] != '\0') {
        append(buf, n, &len, d->prefix);
        append(buf, n, &len, ".");
    }
    append(buf, n, &len, path);
    return buf;
}

static int bad(const dec *d, const char *path, const char *what)
{
    char p[256];
    return swarm__err_set(d->e, SWARM_EINVALID, "%s: %s", full_path(p, sizeof p, d, path), what);
}

static int nomem(const dec *d)
{
    return swarm__err_set(d->e, SWARM_ENOMEM, "out of memory");
}

/* Value at path, with JSON null meaning absent. */
static json_t *field(const json_t *root, const char *path)
{
    json_t *v = root != NULL ? swarm__json_get(root, path) : NULL;
    return json_is_null(v) ? NULL : v;
}

static int d_obj(const dec *d, const json_t *root, const char *path, json_t **out)
{
    json_t *v = field(root, path);
    if (v != NULL && !json_is_object(v))
        return bad(d, path, "must be an object");
    if (out != NULL)
        *out = v;
    return 0;
}

static int d_str(const dec *d, const json_t *root, const char *path, char **out)
{
    json_t *v = field(root, path);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return bad(d, path, "must be a string");
    *out = strdup(json_string_value(v));
    return *out != NULL ? 0 : nomem(d);
}

static int d_id(const dec *d, const json_t *root, const char *path, char out[SWARM__IDBUF])
{
    json_t *v = field(root, path);
    out[0] = '\0';
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return bad(d, path, "must be a string");
    if (json_string_length(v) >= SWARM__IDBUF)
        return bad(d, path, "too long for an ID");
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int d_int(const dec *d, const json_t *root, const char *path, int64_t dflt, int64_t *out)
{
    json_t *v = field(root, path);
    *out = dflt;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v))
        return bad(d, path, "must be an integer");
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int d_uint(const dec *d, const json_t *root, const char *path, uint64_t dflt, uint64_t *out)
{
    json_t *v = field(root, path);
    *out = dflt;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v))
        return bad(d, path, "must be an integer");
    if (json_integer_value(v) < 0)
        return bad(d, path, "must be >= 0");
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int d_u32(const dec *d, const json_t *root, const char *path, uint32_t *out)
{
    uint64_t v;
    int rc = d_uint(d, root, path, 0, &v);
    if (rc != 0)
        return rc;
    if (v > UINT32_MAX)
        return bad(d, path, "out of range");
    *out = (uint32_t)v;
    return 0;
}

/* Nanoseconds, as Docker sends them, or a Go duration string (specs not yet normalised). */
static int d_dur(const dec *d, const json_t *root, const char *path, int64_t dflt, int64_t *out)
{
    json_t *v = field(root, path);
    *out = dflt;
    if (v == NULL)
        return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && swarm__parse_duration(out, json_string_value(v)) == 0)
        return 0;
    return bad(d, path, "must be a duration in nanoseconds");
}

static int d_size(const dec *d, const json_t *root, const char *path, int64_t *out)
{
    json_t *v = field(root, path);
    *out = 0;
    if (v == NULL)
        return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && swarm__parse_bytes(out, json_string_value(v)) == 0)
        return 0;
    return bad(d, path, "must be a size in bytes");
}

static int d_bool(const dec *d, const json_t *root, const char *path, int *out)
{
    json_t *v = field(root, path);
    *out = 0;
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return bad(d, path, "must be a boolean");
    *out = json_is_true(v);
    return 0;
}

static int d_real(const dec *d, const json_t *root, const char *path, double *out)
{
    json_t *v = field(root, path);
    *out = 0;
    if (v == NULL)
        return 0;
    if (!json_is_number(v))
        return bad(d, path, "must be a number");
    *out = json_number_value(v);
    return 0;
}

static int d_strv(const dec *d, const json_t *root, const char *path, swarm__strv *out)
{
    json_t *v = field(root, path);
    out->v = NULL;
    out->n = 0;
    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return bad(d, path, "must be an array of strings");
    size_t n = json_array_size(v);
    out->v = calloc(n + 1, sizeof *out->v);
    if (out->v == NULL)
        return nomem(d);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) {
            swarm__strv_free(out);
            return bad(d, path, "must be an array of strings");
        }
        out->v[i] = strdup(json_string_value(s));
        if (out->v[i] == NULL) {
            swarm__strv_free(out);
            return nomem(d);
        }
        out->n = i + 1;
    }
    return 0;
}

/* Index of the string in the NULL-terminated names; absent (or "" when empty_ok) gives dflt. */
static int d_enum(const dec *d, const json_t *root, const char *path, const char *const *names, int dflt,
                  int empty_ok, int *out)
{
    json_t *v = field(root, path);
    *out = dflt;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return bad(d, path, "must be a string");
    const char *s = json_string_value(v);
    if (empty_ok && s[0] == '\0')
        return 0;
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(names[i], s) == 0) {
            *out = i;
            return 0;
        }
    }
    char what[160];
    snprintf(what, sizeof what, "unknown value \"%.100s\"", s);
    return bad(d, path, what);
}

/* Years whose nanosecond timestamps fit in an int64 (with room for a zone offset). */
static int time_in_range(const char *s)
{
    if (strlen(s) < 4)
        return 1; /* let the parser reject it */
    int year = 0;
    for (int i = 0; i < 4; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 1;
        year = year * 10 + (s[i] - '0');
    }
    return year >= 1678 && year <= 2261;
}

static int d_time(const dec *d, const json_t *root, const char *path, int64_t *out)
{
    json_t *v = field(root, path);
    *out = 0;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return bad(d, path, "must be an RFC 3339 time string");
    const char *s = json_string_value(v);
    /* Go's zero time, which Docker prints for "never". */
    if (strncmp(s, "0001-01-01T00:00:00", 19) == 0 && (s[19] == 'Z' || s[19] == '\0'))
        return 0;
    if (!time_in_range(s) || swarm__time_parse(out, s) != 0) {
        char what[160];
        snprintf(what, sizeof what, "invalid time \"%.100s\"", s);
        return bad(d, path, what);
    }
    return 0;
}

/* ================================================================ encoding helpers */

static int p_set(json_t *root, const char *path, json_t *value)
{
    return swarm__json_set(root, path, value) == 0 ? 0 : SWARM_ENOMEM;
}

static int same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* NULL (or "") removes the field. */
static int p_str(json_t *root, const char *path, const char *want, const char *cur)
{
    if (want != NULL && want[0] == '\0' && cur == NULL)
        return 0;
    if (same_str(want, cur))
        return 0;
    if (want == NULL) {
        swarm__json_del(root, path);
        return 0;
    }
    return p_set(root, path, json_string(want));
}

static int p_id(json_t *root, const char *path, const char *want, const char *cur)
{
    return p_str(root, path, want[0] != '\0' ? want : NULL, cur[0] != '\0' ? cur : NULL);
}

static int p_int(json_t *root, const char *path, int64_t want, int64_t cur)
{
    return want == cur ? 0 : p_set(root, path, json_integer((json_int_t)want));
}

static int p_bool(json_t *root, const char *path, int want, int cur)
{
    return !want == !cur ? 0 : p_set(root, path, json_boolean(want));
}

static int p_real(json_t *root, const char *path, double want, double cur)
{
    if (want == cur)
        return 0;
    if (want == (double)(int64_t)want)
        return p_set(root, path, json_integer((json_int_t)want));
    return p_set(root, path, json_real(want));
}

static int strv_equal(const swarm__strv *a, const swarm__strv *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (!same_str(a->v[i], b->v[i]))
            return 0;
    return 1;
}

static int p_strv(json_t *root, const char *path, const swarm__strv *want, const swarm__strv *cur)
{
    if (strv_equal(want, cur))
        return 0;
    if (want->n == 0) {
        swarm__json_del(root, path);
        return 0;
    }
    json_t *a = json_array();
    if (a == NULL)
        return SWARM_ENOMEM;
    for (size_t i = 0; i < want->n; i++) {
        if (json_array_append_new(a, json_string(want->v[i] ? want->v[i] : "")) != 0) {
            json_decref(a);
            return SWARM_ENOMEM;
        }
    }
    return p_set(root, path, a);
}

static int p_time(json_t *root, const char *path, int64_t want, int64_t cur)
{
    if (want == cur)
        return 0;
    char buf[SWARM__TIME_LEN];
    swarm__time_format(buf, want);
    return p_set(root, path, json_string(buf));
}

/* A fresh copy of raw to encode into; an empty object when there is none. */
static json_t *copy_raw(const json_t *raw)
{
    return json_is_object(raw) ? json_deep_copy(raw) : json_object();
}

/* ================================================================ meta */

static int meta_decode(swarm__meta *m, const json_t *obj, const dec *d)
{
    int rc;
    memset(m, 0, sizeof *m);
    if ((rc = d_id(d, obj, "ID", m->id)) || (rc = d_obj(d, obj, "Version", NULL)) ||
        (rc = d_uint(d, obj, "Version.Index", 0, &m->version)) ||
        (rc = d_time(d, obj, "CreatedAt", &m->created_ns)) || (rc = d_time(d, obj, "UpdatedAt", &m->updated_ns)))
        return rc;
    return 0;
}

static int meta_encode(json_t *obj, const swarm__meta *want, const swarm__meta *cur)
{
    int rc;
    if ((rc = p_id(obj, "ID", want->id, cur->id)) ||
        (rc = p_int(obj, "Version.Index", (int64_t)want->version, (int64_t)cur->version)) ||
        (rc = p_time(obj, "CreatedAt", want->created_ns, cur->created_ns)) ||
        (rc = p_time(obj, "UpdatedAt", want->updated_ns, cur->updated_ns)))
        return rc;
    return 0;
}

/* ================================================================ task spec */

static const char *const restart_names[] = {"any", "on-failure", "none", NULL};

static int spread_decode(const dec *d, const json_t *tt, swarm__strv *out)
{
    out->v = NULL;
    out->n = 0;
    json_t *prefs = field(tt, "Placement.Preferences");
    if (prefs == NULL)
        return 0;
    if (!json_is_array(prefs))
        return bad(d, "Placement.Preferences", "must be an array");
    size_t n = json_array_size(prefs);
    out->v = calloc(n + 1, sizeof *out->v);
    if (out->v == NULL)
        return nomem(d);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(prefs, i);
        char path[64];
        snprintf(path, sizeof path, "Placement.Preferences[%zu]", i);
        int rc;
        char *desc = NULL;
        json_t *spread;
        if (!json_is_object(p))
            rc = bad(d, path, "must be an object");
        else if ((rc = d_obj(d, p, "Spread", &spread)) == 0 && spread != NULL) {
            dec sub = {NULL, d->e};
            char subprefix[96];
            sub.prefix = full_path(subprefix, sizeof subprefix, d, path);
            rc = d_str(&sub, p, "Spread.SpreadDescriptor", &desc);
        }
        if (rc != 0) {
            swarm__strv_free(out);
            return rc;
        }
        if (desc != NULL)
            out->v[out->n++] = desc;
    }
    return 0;
}

static int task_spec_decode(swarm__task_spec *t, const json_t *tt, const dec *d)
{
    int rc, cond = 0;
    memset(t, 0, sizeof *t);
    if (tt != NULL && !json_is_object(tt))
        return swarm__err_set(d->e, SWARM_EINVALID, "%s: must be an object",
                              d->prefix && d->prefix[0] ? d->prefix : "TaskTemplate");
    if ((rc = d_obj(d, tt, "ContainerSpec", NULL)) || (rc = d_obj(d, tt, "Resources", NULL)) ||
        (rc = d_obj(d, tt, "Resources.Limits", NULL)) || (rc = d_obj(d, tt, "Resources.Reservations", NULL)) ||
        (rc = d_obj(d, tt, "RestartPolicy", NULL)) || (rc = d_obj(d, tt, "Placement", NULL)) ||
        (rc = d_str(d, tt, "ContainerSpec.Image", &t->image)) ||
        (rc = d_strv(d, tt, "ContainerSpec.Command", &t->command)) ||
        (rc = d_strv(d, tt, "ContainerSpec.Args", &t->args)) || (rc = d_strv(d, tt, "ContainerSpec.Env", &t->env)) ||
        (rc = d_str(d, tt, "ContainerSpec.Dir", &t->dir)) || (rc = d_str(d, tt, "ContainerSpec.User", &t->user)) ||
        (rc = d_str(d, tt, "ContainerSpec.Hostname", &t->hostname)) ||
        (rc = d_str(d, tt, "ContainerSpec.StopSignal", &t->stop_signal)) ||
        (rc = d_dur(d, tt, "ContainerSpec.StopGracePeriod", DEFAULT_STOP_GRACE_NS, &t->stop_grace_period_ns)) ||
        (rc = d_int(d, tt, "Resources.Limits.NanoCPUs", 0, &t->limits.nano_cpus)) ||
        (rc = d_size(d, tt, "Resources.Limits.MemoryBytes", &t->limits.memory_bytes)) ||
        (rc = d_int(d, tt, "Resources.Reservations.NanoCPUs", 0, &t->reservations.nano_cpus)) ||
        (rc = d_size(d, tt, "Resources.Reservations.MemoryBytes", &t->reservations.memory_bytes)) ||
        (rc = d_enum(d, tt, "RestartPolicy.Condition", restart_names, 0, 0, &cond)) ||
        (rc = d_dur(d, tt, "RestartPolicy.Delay", DEFAULT_RESTART_DELAY_NS, &t->restart.delay_ns)) ||
        (rc = d_uint(d, tt, "RestartPolicy.MaxAttempts", 0, &t->restart.max_attempts)) ||
        (rc = d_dur(d, tt, "RestartPolicy.Window", 0, &t->restart.window_ns)) ||
        (rc = d_strv(d, tt, "Placement.Constraints", &t->constraints)) || (rc = spread_decode(d, tt, &t->spread_prefs)) ||
        (rc = d_uint(d, tt, "Placement.MaxReplicas", 0, &t->max_replicas)) ||
        (rc = d_uint(d, tt, "ForceUpdate", 0, &t->force_update))) {
        swarm__task_spec_free(t);
        return rc;
    }
    t->restart.condition = (swarm__restart_condition)cond;
    return 0;
}

int swarm__task_spec_decode(swarm__task_spec *out, const json_t *spec, const char *field_prefix, swarm__err *e)
{
    dec d = {field_prefix, e};
    return task_spec_decode(out, spec, &d);
}

static int spread_encode(json_t *tt, const swarm__strv *want, const swarm__strv *cur)
{
    if (strv_equal(want, cur))
        return 0;
    if (want->n == 0) {
        swarm__json_del(tt, "Placement.Preferences");
        return 0;
    }
    json_t *a = json_array();
    if (a == NULL)
        return SWARM_ENOMEM;
    for (size_t i = 0; i < want->n; i++) {
        json_t *p = json_pack("{s:{s:s}}", "Spread", "SpreadDescriptor", want->v[i] ? want->v[i] : "");
        if (p == NULL || json_array_append_new(a, p) != 0) {
            json_decref(a);
            return SWARM_ENOMEM;
        }
    }
    return p_set(tt, "Placement.Preferences", a);
}

static int task_spec_put(json_t *tt, const swarm__task_spec *w, const swarm__task_spec *c)
{
    int rc;
    if ((rc = p_str(tt, "ContainerSpec.Image", w->image, c->image)) ||
        (rc = p_strv(tt, "ContainerSpec.Command", &w->command, &c->command)) ||
        (rc = p_strv(tt, "ContainerSpec.Args", &w->args, &c->args)) ||
        (rc = p_strv(tt, "ContainerSpec.Env", &w->env, &c->env)) ||
        (rc = p_str(tt, "ContainerSpec.Dir", w->dir, c->dir)) ||
        (rc = p_str(tt, "ContainerSpec.User", w->user, c->user)) ||
        (rc = p_str(tt, "ContainerSpec.Hostname", w->hostname, c->hostname)) ||
        (rc = p_str(tt, "ContainerSpec.StopSignal", w->stop_signal, c->stop_signal)) ||
        (rc = p_int(tt, "ContainerSpec.StopGracePeriod", w->stop_grace_period_ns, c->stop_grace_period_ns)) ||
        (rc = p_int(tt, "Resources.Limits.NanoCPUs", w->limits.nano_cpus, c->limits.nano_cpus)) ||
        (rc = p_int(tt, "Resources.Limits.MemoryBytes", w->limits.memory_bytes, c->limits.memory_bytes)) ||
        (rc = p_int(tt, "Resources.Reservations.NanoCPUs", w->reservations.nano_cpus, c->reservations.nano_cpus)) ||
        (rc = p_int(tt, "Resources.Reservations.MemoryBytes", w->reservations.memory_bytes,
                    c->reservations.memory_bytes)))
        return rc;
    if (w->restart.condition != c->restart.condition &&
        (rc = p_set(tt, "RestartPolicy.Condition", json_string(swarm__restart_condition_name(w->restart.condition)))))
        return rc;
    if ((rc = p_int(tt, "RestartPolicy.Delay", w->restart.delay_ns, c->restart.delay_ns)) ||
        (rc = p_int(tt, "RestartPolicy.MaxAttempts", (int64_t)w->restart.max_attempts,
                    (int64_t)c->restart.max_attempts)) ||
        (rc = p_int(tt, "RestartPolicy.Window", w->restart.window_ns, c->restart.window_ns)) ||
        (rc = p_strv(tt, "Placement.Constraints", &w->constraints, &c->constraints)) ||
        (rc = spread_encode(tt, &w->spread_prefs, &c->spread_prefs)) ||
        (rc = p_int(tt, "Placement.MaxReplicas", (int64_t)w->max_replicas, (int64_t)c->max_replicas)) ||
        (rc = p_int(tt, "ForceUpdate", (int64_t)w->force_update, (int64_t)c->force_update)))
        return rc;
    return 0;
}

int swarm__task_spec_encode_into(json_t *spec, const swarm__task_spec *t)
{
    if (!json_is_object(spec) || t == NULL)
        return SWARM_EINVALID;
    swarm__task_spec cur;
    dec d = {NULL, NULL};
    /* A template that does not decode is treated as empty: every set field is written. */
    if (task_spec_decode(&cur, spec, &d) != 0 && task_spec_decode(&cur, NULL, &d) != 0)
        return SWARM_ENOMEM;
    int rc = task_spec_put(spec, t, &cur);
    swarm__task_spec_free(&cur);
    return rc;
}

void swarm__task_spec_free(swarm__task_spec *t)
{
    if (t == NULL)
        return;
    free(t->image);
    swarm__strv_free(&t->command);
    swarm__strv_free(&t->args);
    swarm__strv_free(&t->env);
    free(t->dir);
    free(t->user);
    free(t->hostname);
    free(t->stop_signal);
    swarm__strv_free(&t->constraints);
    swarm__strv_free(&t->spread_prefs);
    memset(t, 0, sizeof *t);
}

/* ================================================================ service spec */

static const char *const mode_keys[] = {"Replicated", "Global", "ReplicatedJob", "GlobalJob", NULL};
static const char *const failure_action_names[] = {"pause", "continue", "rollback", NULL};
static const char *const order_names[] = {"stop-first", "start-first", NULL};
static const char *const endpoint_mode_names[] = {"vip", "dnsrr", NULL};
static const char *const protocol_names[] = {"tcp", "udp", "sctp", NULL};
static const char *const publish_mode_names[] = {"ingress", "host", NULL};

/* The one mode key present (nulls ignored), or -1 for none. */
static int mode_decode(const dec *d, const json_t *spec, int *which)
{
    json_t *mode;
    int rc = d_obj(d, spec, "Mode", &mode);
    *which = -1;
    if (rc != 0 || mode == NULL)
        return rc;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)mode, key, v)
    {
        if (json_is_null(v))
            continue;
        int k = -1;
        for (int i = 0; mode_keys[i] != NULL; i++)
            if (strcmp(mode_keys[i], key) == 0)
                k = i;
        char what[160];
        if (k < 0) {
            snprintf(what, sizeof what, "unknown mode \"%.100s\"", key);
            return bad(d, "Mode", what);
        }
        if (*which >= 0)
            return bad(d, "Mode", "more than one mode given");
        if (!json_is_object(v)) {
            char p[64];
            snprintf(p, sizeof p, "Mode.%s", key);
            return bad(d, p, "must be an object");
        }
        *which = k;
    }
    return 0;
}

static int update_decode(const dec *d, const json_t *spec, const char *key, swarm__update_config *u)
{
    char p[6][64];
    const char *names[] = {"Parallelism", "Delay", "FailureAction", "Monitor", "MaxFailureRatio", "Order"};
    for (int i = 0; i < 6; i++)
        snprintf(p[i], sizeof p[i], "%s.%s", key, names[i]);
    json_t *obj;
    int rc, fa = 0, order = 0;
    if ((rc = d_obj(d, spec, key, &obj)))
        return rc;
    if ((rc = d_uint(d, spec, p[0], 1, &u->parallelism)) || (rc = d_dur(d, spec, p[1], 0, &u->delay_ns)) ||
        (rc = d_enum(d, spec, p[2], failure_action_names, 0, 1, &fa)) ||
        (rc = d_dur(d, spec, p[3], DEFAULT_MONITOR_NS, &u->monitor_ns)) ||
        (rc = d_real(d, spec, p[4], &u->max_failure_ratio)) || (rc = d_enum(d, spec, p[5], order_names, 0, 1, &order)))
        return rc;
    snprintf(u->failure_action, sizeof u->failure_action, "%s", failure_action_names[fa]);
    snprintf(u->order, sizeof u->order, "%s", order_names[order]);
    return 0;
}

static int ports_decode(const dec *d, const json_t *spec, swarm__service_spec *s)
{
    json_t *ports = field(spec, "EndpointSpec.Ports");
    if (ports == NULL)
        return 0;
    if (!json_is_array(ports))
        return bad(d, "EndpointSpec.Ports", "must be an array");
    size_t n = json_array_size(ports);
    if (n == 0)
        return 0;
    s->ports = calloc(n, sizeof *s->ports);
    if (s->ports == NULL)
        return nomem(d);
    s->n_ports = n;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(ports, i);
        char prefix[96], rel[48];
        snprintf(rel, sizeof rel, "EndpointSpec.Ports[%zu]", i);
        if (!json_is_object(p))
            return bad(d, rel, "must be an object");
        dec sub = {full_path(prefix, sizeof prefix, d, rel), d->e};
        int rc, proto, pmode;
        swarm__port *port = &s->ports[i];
        if ((rc = d_enum(&sub, p, "Protocol", protocol_names, 0, 1, &proto)) ||
            (rc = d_u32(&sub, p, "TargetPort", &port->target_port)) ||
            (rc = d_u32(&sub, p, "PublishedPort", &port->published_port)) ||
            (rc = d_enum(&sub, p, "PublishMode", publish_mode_names, 0, 1, &pmode)))
            return rc;
        snprintf(port->protocol, sizeof port->protocol, "%s", protocol_names[proto]);
        snprintf(port->publish_mode, sizeof port->publish_mode, "%s", publish_mode_names[pmode]);
    }
    return 0;
}

/* spec may be NULL (decodes to all defaults); raw is not set here. */
static int service_spec_fields(swarm__service_spec *s, const json_t *spec, const dec *d)
{
    int rc, which, emode = 0;
    json_t *tt;
    if ((rc = d_str(d, spec, "Name", &s->name)) || (rc = d_obj(d, spec, "TaskTemplate", &tt)))
        return rc;
    dec sub = {NULL, d->e};
    char prefix[96];
    sub.prefix = full_path(prefix, sizeof prefix, d, "TaskTemplate");
    if ((rc = task_spec_decode(&s->task, tt, &sub)) || (rc = mode_decode(d, spec, &which)))
        return rc;
    s->mode = SWARM__MODE_REPLICATED;
    s->replicas = 1;
    switch (which) {
    case 1:
        s->mode = SWARM__MODE_GLOBAL;
        s->replicas = 0;
        break;
    case 2:
        s->mode = SWARM__MODE_REPLICATED_JOB;
        if ((rc = d_uint(d, spec, "Mode.ReplicatedJob.MaxConcurrent", 1, &s->max_concurrent)) ||
            (rc = d_uint(d, spec, "Mode.ReplicatedJob.TotalCompletions", s->max_concurrent, &s->replicas)))
            return rc;
        break;
    case 3:
        s->mode = SWARM__MODE_GLOBAL_JOB;
        s->replicas = 0;
        break;
    default:
        if ((rc = d_uint(d, spec, "Mode.Replicated.Replicas", 1, &s->replicas)))
            return rc;
    }
    if ((rc = update_decode(d, spec, "UpdateConfig", &s->update)) ||
        (rc = update_decode(d, spec, "RollbackConfig", &s->rollback)) ||
        (rc = d_obj(d, spec, "EndpointSpec", NULL)) ||
        (rc = d_enum(d, spec, "EndpointSpec.Mode", endpoint_mode_names, 0, 1, &emode)) ||
        (rc = ports_decode(d, spec, s)))
        return rc;
    snprintf(s->endpoint_mode, sizeof s->endpoint_mode, "%s", endpoint_mode_names[emode]);
    return 0;
}

static int service_spec_decode(swarm__service_spec *out, const json_t *spec, const dec *d)
{
    memset(out, 0, sizeof *out);
    if (spec != NULL && !json_is_object(spec))
        return swarm__err_set(d->e, SWARM_EINVALID, "%s: must be an object",
                              d->prefix && d->prefix[0] ? d->prefix : "spec");
    int rc = service_spec_fields(out, spec, d);
    if (rc != 0) {
        swarm__service_spec_free(out);
        return rc;
    }
    return 0;
}

int swarm__service_spec_decode(swarm__service_spec *out, const json_t *spec, swarm__err *e)
{
    dec d = {NULL, e};
    if (out == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "spec: no output");
    if (spec == NULL || !json_is_object(spec)) {
        memset(out, 0, sizeof *out);
        return swarm__err_set(e, SWARM_EINVALID, "spec: must be a JSON object");
    }
    json_t *copy = json_deep_copy(spec);
    if (copy == NULL) {
        memset(out, 0, sizeof *out);
        return nomem(&d);
    }
    int rc = service_spec_decode(out, copy, &d);
    if (rc != 0) {
        json_decref(copy);
        return rc;
    }
    out->raw = copy;
    return 0;
}

static json_t *mode_object(const swarm__service_spec *s)
{
    switch (s->mode) {
    case SWARM__MODE_GLOBAL: return json_pack("{s:{}}", "Global");
    case SWARM__MODE_GLOBAL_JOB: return json_pack("{s:{}}", "GlobalJob");
    case SWARM__MODE_REPLICATED_JOB:
        return json_pack("{s:{s:I,s:I}}", "ReplicatedJob", "MaxConcurrent", (json_int_t)s->max_concurrent,
                         "TotalCompletions", (json_int_t)s->replicas);
    case SWARM__MODE_REPLICATED: break;
    }
    return json_pack("{s:{s:I}}", "Replicated", "Replicas", (json_int_t)s->replicas);
}

static int mode_encode(json_t *spec, const swarm__service_spec *w, const swarm__service_spec *c)
{
    if (w->mode != c->mode)
        return p_set(spec, "Mode", mode_object(w));
    int rc = 0;
    if (w->mode == SWARM__MODE_REPLICATED)
        rc = p_int(spec, "Mode.Replicated.Replicas", (int64_t)w->replicas, (int64_t)c->replicas);
    else if (w->mode == SWARM__MODE_REPLICATED_JOB &&
             (rc = p_int(spec, "Mode.ReplicatedJob.MaxConcurrent", (int64_t)w->max_concurrent,
                         (int64_t)c->max_concurrent)) == 0)
        rc = p_int(spec, "Mode.ReplicatedJob.TotalCompletions", (int64_t)w->replicas, (int64_t)c->replicas);
    return rc;
}

static int update_encode(json_t *spec, const char *key, const swarm__update_config *w, const swarm__update_config *c)
{
    char p[6][64];
    const char *names[] = {"Parallelism", "Delay", "FailureAction", "Monitor", "MaxFailureRatio", "Order"};
    for (int i = 0; i < 6; i++)
        snprintf(p[i], sizeof p[i], "%s.%s", key, names[i]);
    int rc;
    if ((rc = p_int(spec, p[0], (int64_t)w->parallelism, (int64_t)c->parallelism)) ||
        (rc = p_int(spec, p[1], w->delay_ns, c->delay_ns)) ||
        (rc = p_str(spec, p[2], w->failure_action, c->failure_action)) ||
        (rc = p_int(spec, p[3], w->monitor_ns, c->monitor_ns)) ||
        (rc = p_real(spec, p[4], w->max_failure_ratio, c->max_failure_ratio)) ||
        (rc = p_str(spec, p[5], w->order, c->order)))
        return rc;
    return 0;
}

static int port_equal(const swarm__port *a, const swarm__port *b)
{
    return strcmp(a->protocol, b->protocol) == 0 && a->target_port == b->target_port &&
           a->published_port == b->published_port && strcmp(a->publish_mode, b->publish_mode) == 0;
}

static int ports_encode(json_t *spec, const swarm__service_spec *w, const swarm__service_spec *c)
{
    int same = w->n_ports == c->n_ports;
    for (size_t i = 0; same && i < w->n_ports; i++)
        same = port_equal(&w->ports[i], &c->ports[i]);
    if (same)
        return 0;
    if (w->n_ports == 0) {
        swarm__json_del(spec, "EndpointSpec.Ports");
        return 0;
    }
    json_t *arr = field(spec, "EndpointSpec.Ports");
    int rc;
    if (!json_is_array(arr)) {
        arr = json_array();
        if (arr == NULL || (rc = p_set(spec, "EndpointSpec.Ports", json_incref(arr))) != 0) {
            json_decref(arr);
            return SWARM_ENOMEM;
        }
        json_decref(arr); /* now owned by spec */
    }
    while (json_array_size(arr) > w->n_ports)
        json_array_remove(arr, w->n_ports);
    static const swarm__port dflt = {"tcp", 0, 0, "ingress"};
    for (size_t i = 0; i < w->n_ports; i++) {
        json_t *p = json_array_get(arr, i);
        const swarm__port *cur = i < c->n_ports ? &c->ports[i] : &dflt;
        if (!json_is_object(p)) {
            p = json_object();
            if (p == NULL)
                return SWARM_ENOMEM;
            rc = i < json_array_size(arr) ? json_array_set_new(arr, i, p) : json_array_append_new(arr, p);
            if (rc != 0)
                return SWARM_ENOMEM;
            cur = &dflt;
        }
        const swarm__port *want = &w->ports[i];
        if ((rc = p_str(p, "Protocol", want->protocol, cur->protocol)) ||
            (rc = p_int(p, "TargetPort", want->target_port, cur->target_port)) ||
            (rc = p_int(p, "PublishedPort", want->published_port, cur->published_port)) ||
            (rc = p_str(p, "PublishMode", want->publish_mode, cur->publish_mode)))
            return rc;
    }
    return 0;
}

/* Writes the task template under key, creating it only when something is to be written. */
static int put_task_spec(json_t *obj, const char *key, const swarm__task_spec *want, const swarm__task_spec *cur)
{
    json_t *tt = field(obj, key);
    if (json_is_object(tt))
        return task_spec_put(tt, want, cur);
    if ((tt = json_object()) == NULL)
        return SWARM_ENOMEM;
    int rc = task_spec_put(tt, want, cur);
    if (rc == 0 && json_object_size(tt) > 0)
        rc = json_object_set(obj, key, tt) == 0 ? 0 : SWARM_ENOMEM;
    json_decref(tt);
    return rc;
}

/* Writes into spec (an object) what differs between s and what spec says now. */
static int service_spec_put(json_t *spec, const swarm__service_spec *s)
{
    swarm__service_spec cur;
    dec d = {NULL, NULL};
    if (service_spec_decode(&cur, spec, &d) != 0 && service_spec_decode(&cur, NULL, &d) != 0)
        return SWARM_ENOMEM;
    int rc = p_str(spec, "Name", s->name, cur.name);
    if (rc == 0)
        rc = put_task_spec(spec, "TaskTemplate", &s->task, &cur.task);
    if (rc == 0)
        rc = mode_encode(spec, s, &cur);
    if (rc == 0)
        rc = update_encode(spec, "UpdateConfig", &s->update, &cur.update);
    if (rc == 0)
        rc = update_encode(spec, "RollbackConfig", &s->rollback, &cur.rollback);
    if (rc == 0)
        rc = p_str(spec, "EndpointSpec.Mode", s->endpoint_mode, cur.endpoint_mode);
    if (rc == 0)
        rc = ports_encode(spec, s, &cur);
    swarm__service_spec_free(&cur);
    return rc;
}

json_t *swarm__service_spec_encode(const swarm__service_spec *s)
{
    if (s == NULL)
        return NULL;
    json_t *out = copy_raw(s->raw);
    if (out != NULL && service_spec_put(out, s) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

void swarm__service_spec_free(swarm__service_spec *s)
{
    if (s == NULL)
        return;
    free(s->name);
    swarm__task_spec_free(&s->task);
    free(s->ports);
    json_decref(s->raw);
    memset(s, 0, sizeof *s);
}

/* ================================================================ service */

static int service_fields(swarm__service *out, json_t *obj, const dec *d)
{
    int rc;
    json_t *spec, *prev;
    if ((rc = meta_decode(&out->meta, obj, d)) || (rc = d_obj(d, obj, "Spec", &spec)) ||
        (rc = d_obj(d, obj, "PreviousSpec", &prev)))
        return rc;
    dec sd = {"Spec", d->e};
    if ((rc = service_spec_decode(&out->spec, spec, &sd)))
        return rc;
    out->spec.raw = json_incref(spec);
    if (prev != NULL) {
        dec pd = {"PreviousSpec", d->e};
        if ((rc = service_spec_decode(&out->previous, prev, &pd)))
            return rc;
        out->previous.raw = json_incref(prev);
        out->has_previous = 1;
    }
    return 0;
}

int swarm__service_decode(swarm__service *out, const json_t *obj, swarm__err *e)
{
    dec d = {NULL, e};
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj))
        return swarm__err_set(e, SWARM_EINVALID, "service: must be a JSON object");
    json_t *copy = json_deep_copy(obj);
    if (copy == NULL)
        return nomem(&d);
    out->raw = copy;
    int rc = service_fields(out, copy, &d);
    if (rc != 0)
        swarm__service_free(out);
    return rc;
}

/* Sets key to the encoding of spec, unless it would add an empty object that was absent. */
static int put_spec(json_t *obj, const char *key, const swarm__service_spec *spec)
{
    json_t *enc = swarm__service_spec_encode(spec);
    if (enc == NULL)
        return SWARM_ENOMEM;
    json_t *cur = json_object_get(obj, key);
    if (json_object_size(enc) == 0 && (cur == NULL || json_is_null(cur))) {
        json_decref(enc);
        return 0;
    }
    if (json_equal(enc, cur)) {
        json_decref(enc);
        return 0;
    }
    return json_object_set_new(obj, key, enc) == 0 ? 0 : SWARM_ENOMEM;
}

json_t *swarm__service_encode(const swarm__service *s)
{
    if (s == NULL)
        return NULL;
    json_t *out = copy_raw(s->raw);
    if (out == NULL)
        return NULL;
    swarm__meta cur;
    dec d = {NULL, NULL};
    if (meta_decode(&cur, out, &d) != 0)
        memset(&cur, 0, sizeof cur);
    int rc = meta_encode(out, &s->meta, &cur);
    if (rc == 0)
        rc = put_spec(out, "Spec", &s->spec);
    if (rc == 0 && s->has_previous)
        rc = put_spec(out, "PreviousSpec", &s->previous);
    else if (rc == 0 && json_is_object(json_object_get(out, "PreviousSpec")))
        json_object_del(out, "PreviousSpec");
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

void swarm__service_free(swarm__service *s)
{
    if (s == NULL)
        return;
    swarm__service_spec_free(&s->spec);
    swarm__service_spec_free(&s->previous);
    json_decref(s->raw);
    memset(s, 0, sizeof *s);
}

/* ================================================================ task */

static int d_task_state(const dec *d, const json_t *obj, const char *path, swarm__task_state *out)
{
    json_t *v = field(obj, path);
    *out = SWARM__TASK_NEW;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return bad(d, path, "must be a string");
    if (swarm__task_state_parse(out, json_string_value(v)) != 0) {
        char what[160];
        snprintf(what, sizeof what, "unknown task state \"%.100s\"", json_string_value(v));
        return bad(d, path, what);
    }
    return 0;
}

static int task_fields(swarm__task *t, json_t *obj, const dec *d)
{
    int rc;
    json_t *spec;
    swarm__task_status *st = &t->status;
    memset(t, 0, sizeof *t);
    if ((rc = meta_decode(&t->meta, obj, d)) || (rc = d_str(d, obj, "Name", &t->name)) ||
        (rc = d_obj(d, obj, "Labels", NULL)) || (rc = d_obj(d, obj, "Spec", &spec)))
        return rc;
    dec sd = {"Spec", d->e};
    if ((rc = task_spec_decode(&t->spec, spec, &sd)))
        return rc;
    if ((rc = d_id(d, obj, "ServiceID", t->service_id)) || (rc = d_uint(d, obj, "Slot", 0, &t->slot)) ||
        (rc = d_id(d, obj, "NodeID", t->node_id)) || (rc = d_obj(d, obj, "ServiceAnnotations", NULL)) ||
        (rc = d_str(d, obj, "ServiceAnnotations.Name", &t->service_name)) ||
        (rc = d_obj(d, obj, "SpecVersion", NULL)) || (rc = d_uint(d, obj, "SpecVersion.Index", 0, &t->spec_version)) ||
        (rc = d_task_state(d, obj, "DesiredState", &t->desired_state)) || (rc = d_obj(d, obj, "Status", NULL)) ||
        (rc = d_time(d, obj, "Status.Timestamp", &st->timestamp_ns)) ||
        (rc = d_task_state(d, obj, "Status.State", &st->state)) ||
        (rc = d_str(d, obj, "Status.Message", &st->message)) || (rc = d_str(d, obj, "Status.Err", &st->err)) ||
        (rc = d_obj(d, obj, "Status.ContainerStatus", NULL)) ||
        (rc = d_str(d, obj, "Status.ContainerStatus.ContainerID", &st->container_id)) ||
        (rc = d_int(d, obj, "Status.ContainerStatus.PID", 0, &st->pid)) ||
        (rc = d_int(d, obj, "Status.ContainerStatus.ExitCode", 0, &st->exit_code)) ||
        (rc = d_obj(d, obj, "JobIteration", NULL)) ||
        (rc = d_uint(d, obj, "JobIteration.Index", 0, &t->job_iteration)))
        return rc;
    st->has_exit_code = field(obj, "Status.ContainerStatus.ExitCode") != NULL;
    return 0;
}

int swarm__task_decode(swarm__task *out, const json_t *obj, swarm__err *e)
{
    dec d = {NULL, e};
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj))
        return swarm__err_set(e, SWARM_EINVALID, "task: must be a JSON object");
    json_t *copy = json_deep_copy(obj);
    if (copy == NULL)
        return nomem(&d);
    int rc = task_fields(out, copy, &d);
    out->raw = copy;
    if (rc != 0)
        swarm__task_free(out);
    return rc;
}

static int p_task_state(json_t *obj, const char *path, swarm__task_state want, swarm__task_state cur)
{
    if (want == cur)
        return 0;
    return p_set(obj, path, json_string(swarm__task_state_name(want)));
}

static int task_put(json_t *out, const swarm__task *t, const swarm__task *c)
{
    int rc;
    const swarm__task_status *w = &t->status, *cs = &c->status;
    if ((rc = meta_encode(out, &t->meta, &c->meta)) || (rc = p_str(out, "Name", t->name, c->name)))
        return rc;
    if ((rc = put_task_spec(out, "Spec", &t->spec, &c->spec)))
        return rc;
    if ((rc = p_id(out, "ServiceID", t->service_id, c->service_id)) ||
        (rc = p_int(out, "Slot", (int64_t)t->slot, (int64_t)c->slot)) ||
        (rc = p_id(out, "NodeID", t->node_id, c->node_id)) ||
        (rc = p_str(out, "ServiceAnnotations.Name", t->service_name, c->service_name)) ||
        (rc = p_int(out, "SpecVersion.Index", (int64_t)t->spec_version, (int64_t)c->spec_version)) ||
        (rc = p_task_state(out, "DesiredState", t->desired_state, c->desired_state)) ||
        (rc = p_time(out, "Status.Timestamp", w->timestamp_ns, cs->timestamp_ns)) ||
        (rc = p_task_state(out, "Status.State", w->state, cs->state)) ||
        (rc = p_str(out, "Status.Message", w->message, cs->message)) ||
        (rc = p_str(out, "Status.Err", w->err, cs->err)) ||
        (rc = p_str(out, "Status.ContainerStatus.ContainerID", w->container_id, cs->container_id)) ||
        (rc = p_int(out, "Status.ContainerStatus.PID", w->pid, cs->pid)) ||
        (rc = p_int(out, "JobIteration.Index", (int64_t)t->job_iteration, (int64_t)c->job_iteration)))
        return rc;
    if (!w->has_exit_code && cs->has_exit_code)
        swarm__json_del(out, "Status.ContainerStatus.ExitCode");
    else if (w->has_exit_code && (!cs->has_exit_code || w->exit_code != cs->exit_code))
        rc = p_set(out, "Status.ContainerStatus.ExitCode", json_integer((json_int_t)w->exit_code));
    return rc;
}

json_t *swarm__task_encode(const swarm__task *t)
{
    if (t == NULL)
        return NULL;
    json_t *out = copy_raw(t->raw);
    if (out == NULL)
        return NULL;
    swarm__task cur;
    dec d = {NULL, NULL};
    int rc = task_fields(&cur, out, &d) == 0 ? 0 : SWARM_EINVALID;
    if (rc != 0) {
        /* raw does not decode (hand-built struct): compare against an empty task. */
        cur.raw = NULL;
        swarm__task_free(&cur);
        json_t *empty = json_object();
        rc = empty == NULL || task_fields(&cur, empty, &d) != 0 ? SWARM_ENOMEM : 0;
        json_decref(empty);
    }
    if (rc == 0)
        rc = task_put(out, t, &cur);
    cur.raw = NULL;
    swarm__task_free(&cur);
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

void swarm__task_free(swarm__task *t)
{
    if (t == NULL)
        return;
    free(t->name);
    swarm__task_spec_free(&t->spec);
    free(t->service_name);
    free(t->status.message);
    free(t->status.err);
    free(t->status.container_id);
    json_decref(t->raw);
    memset(t, 0, sizeof *t);
}

/* ================================================================ node */

static const char *const role_names[] = {"worker", "manager", NULL};
static const char *const availability_names[] = {"active", "pause", "drain", NULL};
static const char *const node_state_names[] = {"unknown", "down", "ready", "disconnected", NULL};

static int node_fields(swarm__node *n, json_t *obj, const dec *d)
{
    int rc, role = 0, avail = 0, state = 0;
    json_t *ms;
    memset(n, 0, sizeof *n);
    if ((rc = meta_decode(&n->meta, obj, d)) || (rc = d_obj(d, obj, "Spec", NULL)) ||
        (rc = d_str(d, obj, "Spec.Name", &n->name)) || (rc = d_enum(d, obj, "Spec.Role", role_names, 0, 0, &role)) ||
        (rc = d_enum(d, obj, "Spec.Availability", availability_names, 0, 1, &avail)) ||
        (rc = d_obj(d, obj, "Spec.Labels", &n->labels)) || (rc = d_obj(d, obj, "Description", NULL)) ||
        (rc = d_str(d, obj, "Description.Hostname", &n->hostname)) ||
        (rc = d_obj(d, obj, "Description.Platform", NULL)) ||
        (rc = d_str(d, obj, "Description.Platform.OS", &n->os)) ||
        (rc = d_str(d, obj, "Description.Platform.Architecture", &n->arch)) ||
        (rc = d_obj(d, obj, "Description.Resources", NULL)) ||
        (rc = d_int(d, obj, "Description.Resources.NanoCPUs", 0, &n->resources.nano_cpus)) ||
        (rc = d_int(d, obj, "Description.Resources.MemoryBytes", 0, &n->resources.memory_bytes)) ||
        (rc = d_obj(d, obj, "Description.Engine", NULL)) ||
        (rc = d_str(d, obj, "Description.Engine.EngineVersion", &n->engine_version)) ||
        (rc = d_obj(d, obj, "Description.Engine.Labels", &n->engine_labels)) ||
        (rc = d_obj(d, obj, "Status", NULL)) ||
        (rc = d_enum(d, obj, "Status.State", node_state_names, 0, 1, &state)) ||
        (rc = d_str(d, obj, "Status.Message", &n->message)) || (rc = d_str(d, obj, "Status.Addr", &n->addr)) ||
        (rc = d_obj(d, obj, "ManagerStatus", &ms)) || (rc = d_bool(d, obj, "ManagerStatus.Leader", &n->leader)) ||
        (rc = d_str(d, obj, "ManagerStatus.Reachability", &n->reachability)) ||
        (rc = d_str(d, obj, "ManagerStatus.Addr", &n->manager_addr)))
        return rc;
    n->role = (swarm__node_role)role;
    n->availability = (swarm__availability)avail;
    n->state = (swarm__node_state)state;
    n->is_manager_status = ms != NULL;
    return 0;
}

int swarm__node_decode(swarm__node *out, const json_t *obj, swarm__err *e)
{
    dec d = {NULL, e};
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj))
        return swarm__err_set(e, SWARM_EINVALID, "node: must be a JSON object");
    json_t *copy = json_deep_copy(obj);
    if (copy == NULL)
        return nomem(&d);
    int rc = node_fields(out, copy, &d);
    out->raw = copy;
    if (rc != 0)
        swarm__node_free(out);
    return rc;
}

static int p_json(json_t *obj, const char *path, const json_t *want, const json_t *cur)
{
    if (want == cur || (want != NULL && cur != NULL && json_equal(want, cur)))
        return 0;
    if (want == NULL) {
        swarm__json_del(obj, path);
        return 0;
    }
    return p_set(obj, path, json_deep_copy(want));
}

static int p_enum(json_t *obj, const char *path, const char *const *names, int want, int cur)
{
    return want == cur ? 0 : p_set(obj, path, json_string(names[want]));
}

static int node_put(json_t *out, const swarm__node *n, const swarm__node *c)
{
    int rc;
    if ((rc = meta_encode(out, &n->meta, &c->meta)) || (rc = p_str(out, "Spec.Name", n->name, c->name)) ||
        (rc = p_enum(out, "Spec.Role", role_names, (int)n->role, (int)c->role)) ||
        (rc = p_enum(out, "Spec.Availability", availability_names, (int)n->availability, (int)c->availability)) ||
        (rc = p_json(out, "Spec.Labels", n->labels, c->labels)) ||
        (rc = p_str(out, "Description.Hostname", n->hostname, c->hostname)) ||
        (rc = p_str(out, "Description.Platform.OS", n->os, c->os)) ||
        (rc = p_str(out, "Description.Platform.Architecture", n->arch, c->arch)) ||
        (rc = p_int(out, "Description.Resources.NanoCPUs", n->resources.nano_cpus, c->resources.nano_cpus)) ||
        (rc = p_int(out, "Description.Resources.MemoryBytes", n->resources.memory_bytes,
                    c->resources.memory_bytes)) ||
        (rc = p_str(out, "Description.Engine.EngineVersion", n->engine_version, c->engine_version)) ||
        (rc = p_json(out, "Description.Engine.Labels", n->engine_labels, c->engine_labels)) ||
        (rc = p_enum(out, "Status.State", node_state_names, (int)n->state, (int)c->state)) ||
        (rc = p_str(out, "Status.Message", n->message, c->message)) ||
        (rc = p_str(out, "Status.Addr", n->addr, c->addr)))
        return rc;
    if (!n->is_manager_status) {
        if (c->is_manager_status)
            json_object_del(out, "ManagerStatus");
        return 0;
    }
    if (!c->is_manager_status) {
        /* Workers have no ManagerStatus at all; a new one always says who leads. */
        if ((rc = p_set(out, "ManagerStatus", json_pack("{s:b}", "Leader", n->leader ? 1 : 0))))
            return rc;
    } else if ((rc = p_bool(out, "ManagerStatus.Leader", n->leader, c->leader))) {
        return rc;
    }
    if ((rc = p_str(out, "ManagerStatus.Reachability", n->reachability, c->is_manager_status ? c->reachability : NULL)) ||
        (rc = p_str(out, "ManagerStatus.Addr", n->manager_addr, c->is_manager_status ? c->manager_addr : NULL)))
        return rc;
    return 0;
}

json_t *swarm__node_encode(const swarm__node *n)
{
    if (n == NULL)
        return NULL;
    json_t *out = copy_raw(n->raw);
    if (out == NULL)
        return NULL;
    swarm__node cur;
    dec d = {NULL, NULL};
    json_t *empty = NULL;
    int rc = 0;
    if (node_fields(&cur, out, &d) != 0) {
        cur.raw = NULL;
        swarm__node_free(&cur);
        empty = json_object();
        rc = empty == NULL || node_fields(&cur, empty, &d) != 0 ? SWARM_ENOMEM : 0;
    }
    if (rc == 0)
        rc = node_put(out, n, &cur);
    cur.raw = NULL;
    swarm__node_free(&cur);
    json_decref(empty);
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

void swarm__node_free(swarm__node *n)
{
    if (n == NULL)
        return;
    free(n->name);
    free(n->hostname);
    free(n->os);
    free(n->arch);
    free(n->engine_version);
    free(n->message);
    free(n->addr);
    free(n->reachability);
    free(n->manager_addr);
    json_decref(n->raw);
    memset(n, 0, sizeof *n);
}

/* ================================================================ cluster */

static int cluster_fields(swarm__cluster *c, json_t *obj, const dec *d)
{
    int rc;
    memset(c, 0, sizeof *c);
    if ((rc = meta_decode(&c->meta, obj, d)) || (rc = d_obj(d, obj, "Spec", NULL)) ||
        (rc = d_str(d, obj, "Spec.Name", &c->name)) || (rc = d_obj(d, obj, "Spec.Orchestration", NULL)) ||
        (rc = d_int(d, obj, "Spec.Orchestration.TaskHistoryRetentionLimit", DEFAULT_HISTORY_LIMIT,
                    &c->task_history_limit)) ||
        (rc = d_obj(d, obj, "Spec.Dispatcher", NULL)) ||
        (rc = d_dur(d, obj, "Spec.Dispatcher.HeartbeatPeriod", DEFAULT_HEARTBEAT_NS, &c->heartbeat_period_ns)) ||
        (rc = d_obj(d, obj, "Spec.CAConfig", NULL)) ||
        (rc = d_dur(d, obj, "Spec.CAConfig.NodeCertExpiry", DEFAULT_CERT_EXPIRY_NS, &c->node_cert_expiry_ns)) ||
        (rc = d_obj(d, obj, "Spec.Raft", NULL)) ||
        (rc = d_uint(d, obj, "Spec.Raft.SnapshotInterval", DEFAULT_SNAPSHOT_INTERVAL, &c->snapshot_interval)) ||
        (rc = d_obj(d, obj, "JoinTokens", NULL)) || (rc = d_str(d, obj, "JoinTokens.Worker", &c->worker_token)) ||
        (rc = d_str(d, obj, "JoinTokens.Manager", &c->manager_token)))
        return rc;
    if (c->name == NULL && (c->name = strdup("default")) == NULL)
        return nomem(d);
    return 0;
}

int swarm__cluster_decode(swarm__cluster *out, const json_t *obj, swarm__err *e)
{
    dec d = {NULL, e};
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj))
        return swarm__err_set(e, SWARM_EINVALID, "cluster: must be a JSON object");
    json_t *copy = json_deep_copy(obj);
    if (copy == NULL)
        return nomem(&d);
    int rc = cluster_fields(out, copy, &d);
    out->raw = copy;
    if (rc != 0)
        swarm__cluster_free(out);
    return rc;
}

static int cluster_put(json_t *out, const swarm__cluster *w, const swarm__cluster *c)
{
    int rc;
    if ((rc = meta_encode(out, &w->meta, &c->meta)) || (rc = p_str(out, "Spec.Name", w->name, c->name)) ||
        (rc = p_int(out, "Spec.Orchestration.TaskHistoryRetentionLimit", w->task_history_limit,
                    c->task_history_limit)) ||
        (rc = p_int(out, "Spec.Dispatcher.HeartbeatPeriod", w->heartbeat_period_ns, c->heartbeat_period_ns)) ||
        (rc = p_int(out, "Spec.CAConfig.NodeCertExpiry", w->node_cert_expiry_ns, c->node_cert_expiry_ns)) ||
        (rc = p_int(out, "Spec.Raft.SnapshotInterval", (int64_t)w->snapshot_interval,
                    (int64_t)c->snapshot_interval)) ||
        (rc = p_str(out, "JoinTokens.Worker", w->worker_token, c->worker_token)) ||
        (rc = p_str(out, "JoinTokens.Manager", w->manager_token, c->manager_token)))
        return rc;
    return 0;
}

json_t *swarm__cluster_encode(const swarm__cluster *c)
{
    if (c == NULL)
        return NULL;
    json_t *out = copy_raw(c->raw);
    if (out == NULL)
        return NULL;
    swarm__cluster cur;
    dec d = {NULL, NULL};
    json_t *empty = NULL;
    int rc = 0;
    if (cluster_fields(&cur, out, &d) != 0) {
        cur.raw = NULL;
        swarm__cluster_free(&cur);
        empty = json_object();
        rc = empty == NULL || cluster_fields(&cur, empty, &d) != 0 ? SWARM_ENOMEM : 0;
    }
    if (rc == 0)
        rc = cluster_put(out, c, &cur);
    cur.raw = NULL;
    swarm__cluster_free(&cur);
    json_decref(empty);
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

void swarm__cluster_free(swarm__cluster *c)
{
    if (c == NULL)
        return;
    free(c->name);
    free(c->worker_token);
    free(c->manager_token);
    json_decref(c->raw);
    memset(c, 0, sizeof *c);
}
