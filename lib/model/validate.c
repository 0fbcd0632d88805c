/*
 * Spec validation: every value checked with an error that names the field,
 * duration and size strings normalised to integers, Swarm's defaults filled
 * in, field names spelled and ordered as Docker prints them.
 */
#include "model/model.h"

#include "core/units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECOND 1000000000LL

/* ================================================================ helpers */

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

/* Full dotted path of prefix + key. */
static const char *join(char *buf, size_t n, const char *prefix, const char *key)
{
    size_t len = 0;
    buf[0] = '\0';
    if (prefix != NULL && prefix[0] != '\0') {
        append(buf, n, &len, prefix);
        append(buf, n, &len, ".");
    }
    append(buf, n, &len, key);
    return buf;
}

#define PATHBUF 256

static int fail(swarm__err *e, const char *prefix, const char *key, const char *what)
{
    char p[PATHBUF];
    return swarm__err_set(e, SWARM_EINVALID, "%s: %s", join(p, sizeof p, prefix, key), what);
}

static int nomem(swarm__err *e)
{
    return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
}

static int set_new(json_t *obj, const char *key, json_t *v, swarm__err *e)
{
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        return nomem(e);
    return 0;
}

/*
 * Go matches JSON field names case-insensitively (docker-py sends
 * "Mode": {"replicated": ...}). Renames such keys to Docker's spelling and
 * puts the known keys first, in Docker's order; the rest keep their order.
 */
static int canon(json_t *obj, const char *const *keys, swarm__err *e)
{
    json_t *out = json_object();
    if (out == NULL)
        return nomem(e);
    const char *key;
    json_t *v;
    for (size_t i = 0; keys[i] != NULL; i++) {
        /* An exact spelling wins over a case variant; among variants the last wins, as in Go. */
        json_t *found = json_object_get(obj, keys[i]);
        if (found == NULL) {
            json_object_foreach(obj, key, v)
            {
                if (strcasecmp(key, keys[i]) == 0)
                    found = v;
            }
        }
        if (found != NULL && json_object_set(out, keys[i], found) != 0)
            goto oom;
    }
    json_object_foreach(obj, key, v)
    {
        int known = 0;
        for (size_t i = 0; keys[i] != NULL && !known; i++)
            known = strcasecmp(key, keys[i]) == 0;
        if (!known && json_object_set(out, key, v) != 0)
            goto oom;
    }
    json_object_clear(obj);
    if (json_object_update(obj, out) != 0)
        goto oom;
    json_decref(out);
    return 0;
oom:
    json_decref(out);
    return nomem(e);
}

/* The value of key with null meaning absent. */
static json_t *get(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

/* An object field; absent/null becomes {} when create is set, else *out = NULL. */
static int v_object(json_t *parent, const char *prefix, const char *key, int create, json_t **out, swarm__err *e)
{
    json_t *v = get(parent, key);
    *out = NULL;
    if (v == NULL) {
        if (!create)
            return 0;
        v = json_object();
        if (v == NULL || json_object_set_new(parent, key, v) != 0)
            return nomem(e);
    } else if (!json_is_object(v)) {
        return fail(e, prefix, key, "must be an object");
    }
    *out = v;
    return 0;
}

static int v_string(json_t *parent, const char *prefix, const char *key, const char **out, swarm__err *e)
{
    json_t *v = get(parent, key);
    if (out != NULL)
        *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return fail(e, prefix, key, "must be a string");
    if (out != NULL)
        *out = json_string_value(v);
    return 0;
}

static int v_bool(json_t *parent, const char *prefix, const char *key, swarm__err *e)
{
    json_t *v = get(parent, key);
    if (v != NULL && !json_is_boolean(v))
        return fail(e, prefix, key, "must be true or false");
    return 0;
}

/* Integer in [min, max]; absent is filled with dflt when fill is set. */
static int v_int(json_t *parent, const char *prefix, const char *key, int fill, int64_t dflt, int64_t min, int64_t max,
                 swarm__err *e)
{
    json_t *v = get(parent, key);
    if (v == NULL)
        return fill ? set_new(parent, key, json_integer(dflt), e) : 0;
    if (!json_is_integer(v))
        return fail(e, prefix, key, "must be an integer");
    int64_t n = (int64_t)json_integer_value(v);
    char what[96];
    if (n < min) {
        snprintf(what, sizeof what, "must be >= %lld", (long long)min);
        return fail(e, prefix, key, what);
    }
    if (n > max) {
        snprintf(what, sizeof what, "must be <= %lld", (long long)max);
        return fail(e, prefix, key, what);
    }
    return 0;
}

static int v_uint(json_t *parent, const char *prefix, const char *key, int fill, int64_t dflt, swarm__err *e)
{
    return v_int(parent, prefix, key, fill, dflt, 0, INT64_MAX, e);
}

/* A duration: integer nanoseconds, or a Go duration string that becomes one. Never negative. */
static int v_duration(json_t *parent, const char *prefix, const char *key, int fill, int64_t dflt, swarm__err *e)
{
    json_t *v = get(parent, key);
    if (v == NULL)
        return fill ? set_new(parent, key, json_integer(dflt), e) : 0;
    int64_t ns;
    char what[160];
    if (json_is_integer(v)) {
        ns = (int64_t)json_integer_value(v);
    } else if (json_is_string(v)) {
        if (swarm__parse_duration(&ns, json_string_value(v)) != 0) {
            snprintf(what, sizeof what, "invalid duration \"%.100s\"", json_string_value(v));
            return fail(e, prefix, key, what);
        }
        int rc = set_new(parent, key, json_integer(ns), e);
        if (rc != 0)
            return rc;
    } else {
        return fail(e, prefix, key, "must be a duration (integer nanoseconds or a string such as \"5s\")");
    }
    if (ns < 0)
        return fail(e, prefix, key, "duration must not be negative");
    return 0;
}

/* A size in bytes: an integer, or a docker size string ("512M") that becomes one. Never negative. */
static int v_size(json_t *parent, const char *prefix, const char *key, swarm__err *e)
{
    json_t *v = get(parent, key);
    if (v == NULL)
        return 0;
    char what[160];
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return fail(e, prefix, key, "must be >= 0");
        return 0;
    }
    if (json_is_string(v)) {
        int64_t n;
        if (swarm__parse_bytes(&n, json_string_value(v)) != 0) {
            snprintf(what, sizeof what, "invalid size: '%.100s'", json_string_value(v));
            return fail(e, prefix, key, what);
        }
        return set_new(parent, key, json_integer(n), e);
    }
    return fail(e, prefix, key, "must be a size (integer bytes or a string such as \"512M\")");
}

/*
 * One of the NULL-terminated values (matched case-insensitively, stored in
 * the canonical spelling). Absent, null or "" (when empty_ok) becomes dflt if
 * dflt is not NULL.
 */
static int v_enum(json_t *parent, const char *prefix, const char *key, const char *const *values, const char *dflt,
                  int empty_ok, swarm__err *e)
{
    json_t *v = get(parent, key);
    const char *s = json_string_value(v);
    if (v == NULL || (empty_ok && s != NULL && s[0] == '\0'))
        return dflt != NULL ? set_new(parent, key, json_string(dflt), e) : 0;
    char what[256];
    size_t n = (size_t)snprintf(what, sizeof what, "must be one of ");
    for (size_t i = 0; values[i] != NULL && n < sizeof what; i++)
        n += (size_t)snprintf(what + n, sizeof what - n, "%s%s", i ? ", " : "", values[i]);
    if (s != NULL) {
        for (size_t i = 0; values[i] != NULL; i++)
            if (strcasecmp(values[i], s) == 0)
                return strcmp(values[i], s) == 0 ? 0 : set_new(parent, key, json_string(values[i]), e);
        if (n < sizeof what)
            snprintf(what + n, sizeof what - n, " (got \"%.60s\")", s);
    }
    return fail(e, prefix, key, what);
}

static int v_strings(json_t *parent, const char *prefix, const char *key, swarm__err *e)
{
    json_t *v = get(parent, key);
    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return fail(e, prefix, key, "must be an array of strings");
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (!json_is_string(json_array_get(v, i))) {
            char k[96];
            snprintf(k, sizeof k, "%s[%zu]", key, i);
            return fail(e, prefix, k, "must be a string");
        }
    }
    return 0;
}

/* An object of string values (labels, sysctls); absent becomes {} when fill is set. */
static int v_labels(json_t *parent, const char *prefix, const char *key, int fill, swarm__err *e)
{
    json_t *obj;
    int rc = v_object(parent, prefix, key, fill, &obj, e);
    if (rc != 0 || obj == NULL)
        return rc;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (!json_is_string(v)) {
            char p[PATHBUF];
            snprintf(p, sizeof p, "%s[\"%.60s\"]", key, k);
            return fail(e, prefix, p, "must be a string");
        }
    }
    return 0;
}

/* An array whose elements are objects; each is handed to check (which may be NULL). */
typedef int (*elem_check)(json_t *elem, const char *path, swarm__err *e);

static int v_object_array(json_t *parent, const char *prefix, const char *key, elem_check check, swarm__err *e)
{
    json_t *v = get(parent, key);
    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return fail(e, prefix, key, "must be an array");
    for (size_t i = 0; i < json_array_size(v); i++) {
        char k[96], p[PATHBUF];
        snprintf(k, sizeof k, "%s[%zu]", key, i);
        json_t *elem = json_array_get(v, i);
        if (!json_is_object(elem))
            return fail(e, prefix, k, "must be an object");
        int rc = check != NULL ? check(elem, join(p, sizeof p, prefix, k), e) : 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ================================================================ task template */

static const char *const container_keys[] = {
    "Image", "Labels", "Command", "Args", "Hostname", "Env", "Dir", "User", "Groups", "Privileges", "Init",
    "StopSignal", "TTY", "OpenStdin", "ReadOnly", "Mounts", "StopGracePeriod", "Healthcheck", "Hosts", "DNSConfig",
    "Secrets", "Configs", "Isolation", "Sysctls", "CapabilityAdd", "CapabilityDrop", "Ulimits", "OomScoreAdj", NULL};

static int check_healthcheck(json_t *cs, const char *p, swarm__err *e)
{
    static const char *const keys[] = {"Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries", NULL};
    json_t *hc;
    char hp[PATHBUF];
    int rc = v_object(cs, p, "Healthcheck", 0, &hc, e);
    if (rc != 0 || hc == NULL)
        return rc;
    join(hp, sizeof hp, p, "Healthcheck");
    if ((rc = canon(hc, keys, e)) || (rc = v_strings(hc, hp, "Test", e)) ||
        (rc = v_duration(hc, hp, "Interval", 0, 0, e)) || (rc = v_duration(hc, hp, "Timeout", 0, 0, e)) ||
        (rc = v_duration(hc, hp, "StartPeriod", 0, 0, e)) || (rc = v_duration(hc, hp, "StartInterval", 0, 0, e)) ||
        (rc = v_uint(hc, hp, "Retries", 0, 0, e)))
        return rc;
    return 0;
}

static int check_dns(json_t *cs, const char *p, swarm__err *e)
{
    static const char *const keys[] = {"Nameservers", "Search", "Options", NULL};
    json_t *dns;
    char dp[PATHBUF];
    int rc = v_object(cs, p, "DNSConfig", 1, &dns, e);
    if (rc != 0)
        return rc;
    join(dp, sizeof dp, p, "DNSConfig");
    if ((rc = canon(dns, keys, e)) || (rc = v_strings(dns, dp, "Nameservers", e)) ||
        (rc = v_strings(dns, dp, "Search", e)) || (rc = v_strings(dns, dp, "Options", e)))
        return rc;
    return 0;
}

static int check_container(json_t *tt, const char *prefix, swarm__err *e)
{
    json_t *cs;
    char p[PATHBUF];
    const char *image;
    int rc = v_object(tt, prefix, "ContainerSpec", 1, &cs, e);
    if (rc != 0)
        return rc;
    join(p, sizeof p, prefix, "ContainerSpec");
    if ((rc = canon(cs, container_keys, e)) || (rc = v_string(cs, p, "Image", &image, e)))
        return rc;
    if (image == NULL || image[0] == '\0')
        return fail(e, p, "Image", "required");
    static const char *const string_fields[] = {"Hostname", "Dir", "User", "StopSignal", NULL};
    static const char *const list_fields[] = {"Command", "Args", "Env", "Groups", "Hosts", "CapabilityAdd",
                                              "CapabilityDrop", NULL};
    static const char *const bool_fields[] = {"Init", "TTY", "OpenStdin", "ReadOnly", NULL};
    for (size_t i = 0; string_fields[i] != NULL; i++)
        if ((rc = v_string(cs, p, string_fields[i], NULL, e)))
            return rc;
    for (size_t i = 0; list_fields[i] != NULL; i++)
        if ((rc = v_strings(cs, p, list_fields[i], e)))
            return rc;
    for (size_t i = 0; bool_fields[i] != NULL; i++)
        if ((rc = v_bool(cs, p, bool_fields[i], e)))
            return rc;
    json_t *ignored;
    if ((rc = v_labels(cs, p, "Labels", 0, e)) || (rc = v_labels(cs, p, "Sysctls", 0, e)) ||
        (rc = v_object(cs, p, "Privileges", 0, &ignored, e)) || (rc = v_object_array(cs, p, "Mounts", NULL, e)) ||
        (rc = v_object_array(cs, p, "Secrets", NULL, e)) || (rc = v_object_array(cs, p, "Configs", NULL, e)) ||
        (rc = v_object_array(cs, p, "Ulimits", NULL, e)) ||
        (rc = v_int(cs, p, "OomScoreAdj", 0, 0, -1000, 1000, e)) ||
        (rc = v_duration(cs, p, "StopGracePeriod", 1, 10 * SECOND, e)) || (rc = check_healthcheck(cs, p, e)) ||
        (rc = check_dns(cs, p, e)))
        return rc;
    const char *isolation;
    if ((rc = v_string(cs, p, "Isolation", &isolation, e)))
        return rc;
    if ((isolation == NULL || isolation[0] == '\0') && (rc = set_new(cs, "Isolation", json_string("default"), e)))
        return rc;
    return canon(cs, container_keys, e);
}

/* CPU and memory as swarmkit checks them: not negative, and not absurdly small when set. */
static int check_resource_values(json_t *res, const char *p, int limits, swarm__err *e)
{
    static const char *const limit_keys[] = {"NanoCPUs", "MemoryBytes", "Pids", NULL};
    static const char *const reservation_keys[] = {"NanoCPUs", "MemoryBytes", "GenericResources", NULL};
    int rc;
    if ((rc = canon(res, limits ? limit_keys : reservation_keys, e)) || (rc = v_uint(res, p, "NanoCPUs", 0, 0, e)) ||
        (rc = v_size(res, p, "MemoryBytes", e)))
        return rc;
    int64_t cpus = json_integer_value(get(res, "NanoCPUs"));
    int64_t mem = json_integer_value(get(res, "MemoryBytes"));
    if (cpus != 0 && cpus < 1000000)
        return fail(e, p, "NanoCPUs", "must be at least 1000000 (0.001 CPU)");
    if (mem != 0 && mem < 4 * 1024 * 1024)
        return fail(e, p, "MemoryBytes", "must be at least 4MiB");
    if (limits)
        return v_uint(res, p, "Pids", 0, 0, e);
    return v_object_array(res, p, "GenericResources", NULL, e);
}

static int check_resources(json_t *tt, const char *prefix, swarm__err *e)
{
    static const char *const keys[] = {"Limits", "Reservations", NULL};
    json_t *res, *lim, *resv;
    char p[PATHBUF], lp[PATHBUF], rp[PATHBUF];
    int rc = v_object(tt, prefix, "Resources", 1, &res, e);
    if (rc != 0)
        return rc;
    join(p, sizeof p, prefix, "Resources");
    if ((rc = canon(res, keys, e)) || (rc = v_object(res, p, "Limits", 1, &lim, e)) ||
        (rc = v_object(res, p, "Reservations", 1, &resv, e)) ||
        (rc = check_resource_values(lim, join(lp, sizeof lp, p, "Limits"), 1, e)) ||
        (rc = check_resource_values(resv, join(rp, sizeof rp, p, "Reservations"), 0, e)))
        return rc;
    return canon(res, keys, e);
}

static const char *const restart_conditions[] = {"any", "on-failure", "none", NULL};

static int check_restart(json_t *tt, const char *prefix, swarm__err *e)
{
    static const char *const keys[] = {"Condition", "Delay", "MaxAttempts", "Window", NULL};
    json_t *rp;
    char p[PATHBUF];
    int rc = v_object(tt, prefix, "RestartPolicy", 1, &rp, e);
    if (rc != 0)
        return rc;
    join(p, sizeof p, prefix, "RestartPolicy");
    if ((rc = canon(rp, keys, e)) || (rc = v_enum(rp, p, "Condition", restart_conditions, "any", 0, e)) ||
        (rc = v_duration(rp, p, "Delay", 1, 5 * SECOND, e)) || (rc = v_uint(rp, p, "MaxAttempts", 1, 0, e)) ||
        (rc = v_duration(rp, p, "Window", 0, 0, e)))
        return rc;
    return canon(rp, keys, e);
}

static int constraint_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

/* "key==value" or "key!=value", blanks allowed around the operator. */
static int constraint_valid(const char *s)
{
    const char *eq = strstr(s, "==");
    const char *ne = strstr(s, "!=");
    const char *op = eq == NULL ? ne : ne == NULL ? eq : eq < ne ? eq : ne;
    if (op == NULL)
        return 0;
    const char *k = s, *kend = op;
    while (*k == ' ' || *k == '\t')
        k++;
    while (kend > k && (kend[-1] == ' ' || kend[-1] == '\t'))
        kend--;
    if (kend == k)
        return 0;
    for (const char *c = k; c < kend; c++)
        if (!constraint_key_char(*c))
            return 0;
    const char *v = op + 2;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v == '\0')
        return 0;
    /* A second operator in the value is a typo such as "a==b==c". */
    return strstr(v, "==") == NULL && strstr(v, "!=") == NULL;
}

static int check_preference(json_t *pref, const char *path, swarm__err *e)
{
    static const char *const keys[] = {"Spread", NULL};
    static const char *const spread_keys[] = {"SpreadDescriptor", NULL};
    json_t *spread;
    char sp[PATHBUF];
    const char *desc;
    int rc;
    if ((rc = canon(pref, keys, e)) || (rc = v_object(pref, path, "Spread", 0, &spread, e)))
        return rc;
    if (spread == NULL)
        return 0;
    join(sp, sizeof sp, path, "Spread");
    if ((rc = canon(spread, spread_keys, e)) || (rc = v_string(spread, sp, "SpreadDescriptor", &desc, e)))
        return rc;
    if (desc == NULL || desc[0] == '\0')
        return fail(e, sp, "SpreadDescriptor", "required");
    return 0;
}

static int check_placement(json_t *tt, const char *prefix, swarm__err *e)
{
    static const char *const keys[] = {"Constraints", "Preferences", "MaxReplicas", "Platforms", NULL};
    json_t *pl;
    char p[PATHBUF];
    int rc = v_object(tt, prefix, "Placement", 1, &pl, e);
    if (rc != 0)
        return rc;
    join(p, sizeof p, prefix, "Placement");
    if ((rc = canon(pl, keys, e)) || (rc = v_strings(pl, p, "Constraints", e)))
        return rc;
    json_t *cons = get(pl, "Constraints");
    for (size_t i = 0; i < json_array_size(cons); i++) {
        const char *c = json_string_value(json_array_get(cons, i));
        if (!constraint_valid(c)) {
            char k[64], what[200];
            snprintf(k, sizeof k, "Constraints[%zu]", i);
            snprintf(what, sizeof what, "invalid constraint \"%.100s\": must be key==value or key!=value", c);
            return fail(e, p, k, what);
        }
    }
    if ((rc = v_object_array(pl, p, "Preferences", check_preference, e)) ||
        (rc = v_uint(pl, p, "MaxReplicas", 0, 0, e)) || (rc = v_object_array(pl, p, "Platforms", NULL, e)))
        return rc;
    return 0;
}

static int check_network(json_t *net, const char *path, swarm__err *e)
{
    static const char *const keys[] = {"Target", "Aliases", "DriverOpts", NULL};
    const char *target;
    int rc;
    if ((rc = canon(net, keys, e)) || (rc = v_string(net, path, "Target", &target, e)) ||
        (rc = v_strings(net, path, "Aliases", e)) || (rc = v_labels(net, path, "DriverOpts", 0, e)))
        return rc;
    if (target == NULL || target[0] == '\0')
        return fail(e, path, "Target", "required");
    return 0;
}

static int check_log_driver(json_t *tt, const char *prefix, swarm__err *e)
{
    static const char *const keys[] = {"Name", "Options", NULL};
    json_t *ld;
    char p[PATHBUF];
    int rc = v_object(tt, prefix, "LogDriver", 0, &ld, e);
    if (rc != 0 || ld == NULL)
        return rc;
    join(p, sizeof p, prefix, "LogDriver");
    if ((rc = canon(ld, keys, e)) || (rc = v_string(ld, p, "Name", NULL, e)) ||
        (rc = v_labels(ld, p, "Options", 0, e)))
        return rc;
    return 0;
}

static const char *const task_keys[] = {"ContainerSpec", "PluginSpec", "NetworkAttachmentSpec", "Resources",
                                        "RestartPolicy", "Placement", "Networks", "LogDriver", "ForceUpdate",
                                        "Runtime", NULL};

/* TaskTemplate at prefix (its own path, "TaskTemplate"). */
static int check_task_template(json_t *tt, const char *prefix, swarm__err *e)
{
    int rc;
    const char *runtime;
    if ((rc = canon(tt, task_keys, e)) || (rc = v_string(tt, prefix, "Runtime", &runtime, e)))
        return rc;
    if (runtime != NULL && runtime[0] != '\0' && strcasecmp(runtime, "container") != 0) {
        char what[160];
        snprintf(what, sizeof what, "unsupported runtime \"%.60s\": only \"container\" is supported", runtime);
        return fail(e, prefix, "Runtime", what);
    }
    if (get(tt, "PluginSpec") != NULL)
        return fail(e, prefix, "PluginSpec", "plugin services are not supported");
    if ((rc = check_container(tt, prefix, e)) || (rc = check_resources(tt, prefix, e)) ||
        (rc = check_restart(tt, prefix, e)) || (rc = check_placement(tt, prefix, e)) ||
        (rc = v_object_array(tt, prefix, "Networks", check_network, e)) || (rc = check_log_driver(tt, prefix, e)) ||
        (rc = v_uint(tt, prefix, "ForceUpdate", 1, 0, e)) ||
        (rc = set_new(tt, "Runtime", json_string("container"), e)))
        return rc;
    return canon(tt, task_keys, e);
}

/* ================================================================ service spec */

static const char *const mode_keys[] = {"Replicated", "Global", "ReplicatedJob", "GlobalJob", NULL};

static int check_mode(json_t *spec, swarm__err *e)
{
    json_t *mode;
    int rc = v_object(spec, NULL, "Mode", 1, &mode, e);
    if (rc != 0 || (rc = canon(mode, mode_keys, e)) != 0)
        return rc;
    /* A null mode is an absent one, as in Go. */
    for (size_t i = 0; mode_keys[i] != NULL; i++)
        if (json_is_null(json_object_get(mode, mode_keys[i])))
            json_object_del(mode, mode_keys[i]);
    const char *key;
    json_t *v;
    int n = 0;
    json_object_foreach(mode, key, v)
    {
        int known = 0;
        for (size_t i = 0; mode_keys[i] != NULL; i++)
            known |= strcmp(key, mode_keys[i]) == 0;
        if (!known) {
            char what[160];
            snprintf(what, sizeof what, "unknown mode \"%.60s\": must be Replicated, Global, ReplicatedJob or GlobalJob",
                     key);
            return fail(e, NULL, "Mode", what);
        }
        if (!json_is_object(v))
            return fail(e, "Mode", key, "must be an object");
        n++;
    }
    json_t *global = json_object_get(mode, "Global");
    if (global != NULL) {
        int replicas = json_object_get(mode, "Replicated") != NULL;
        json_object_foreach(global, key, v) replicas |= strcasecmp(key, "Replicas") == 0;
        if (replicas)
            return fail(e, NULL, "Mode", "replicas are not allowed in global mode");
    }
    if (n > 1)
        return fail(e, NULL, "Mode", "unknown mode: more than one of Replicated, Global, ReplicatedJob, GlobalJob given");
    if (n == 0 && (rc = set_new(mode, "Replicated", json_object(), e)))
        return rc;
    json_t *m;
    if ((m = json_object_get(mode, "Replicated")) != NULL) {
        static const char *const keys[] = {"Replicas", NULL};
        if ((rc = canon(m, keys, e)) || (rc = v_int(m, "Mode.Replicated", "Replicas", 1, 1, 0, INT64_MAX, e)))
            return rc;
    } else if ((m = json_object_get(mode, "ReplicatedJob")) != NULL) {
        static const char *const keys[] = {"MaxConcurrent", "TotalCompletions", NULL};
        if ((rc = canon(m, keys, e)) || (rc = v_uint(m, "Mode.ReplicatedJob", "MaxConcurrent", 1, 1, e)))
            return rc;
        /* TotalCompletions defaults to MaxConcurrent (moby's rule). */
        int64_t max_concurrent = json_integer_value(json_object_get(m, "MaxConcurrent"));
        if ((rc = v_uint(m, "Mode.ReplicatedJob", "TotalCompletions", 1, max_concurrent, e)) ||
            (rc = canon(m, keys, e)))
            return rc;
    }
    return 0;
}

static int check_update_config(json_t *spec, const char *key, swarm__err *e)
{
    static const char *const keys[] = {"Parallelism", "Delay", "FailureAction", "Monitor", "MaxFailureRatio",
                                       "Order", NULL};
    static const char *const update_actions[] = {"pause", "continue", "rollback", NULL};
    static const char *const rollback_actions[] = {"pause", "continue", NULL};
    static const char *const orders[] = {"stop-first", "start-first", NULL};
    json_t *uc;
    int rc = v_object(spec, NULL, key, 1, &uc, e);
    if (rc != 0)
        return rc;
    int rollback = strcmp(key, "RollbackConfig") == 0;
    if ((rc = canon(uc, keys, e)) || (rc = v_uint(uc, key, "Parallelism", 1, 1, e)) ||
        (rc = v_duration(uc, key, "Delay", 0, 0, e)) ||
        (rc = v_enum(uc, key, "FailureAction", rollback ? rollback_actions : update_actions, "pause", 1, e)) ||
        (rc = v_duration(uc, key, "Monitor", 1, 5 * SECOND, e)))
        return rc;
    json_t *ratio = get(uc, "MaxFailureRatio");
    if (ratio == NULL) {
        if ((rc = set_new(uc, "MaxFailureRatio", json_integer(0), e)))
            return rc;
    } else if (!json_is_number(ratio)) {
        return fail(e, key, "MaxFailureRatio", "must be a number between 0 and 1");
    } else if (!(json_number_value(ratio) >= 0 && json_number_value(ratio) <= 1)) {
        return fail(e, key, "MaxFailureRatio", "must be between 0 and 1");
    }
    if ((rc = v_enum(uc, key, "Order", orders, "stop-first", 1, e)))
        return rc;
    return canon(uc, keys, e);
}

static const char *const port_keys[] = {"Name", "Protocol", "TargetPort", "PublishedPort", "PublishMode", NULL};
static const char *const protocols[] = {"tcp", "udp", "sctp", NULL};
static const char *const publish_modes[] = {"ingress", "host", NULL};

static int check_port(json_t *port, const char *path, swarm__err *e)
{
    int rc;
    if ((rc = canon(port, port_keys, e)) || (rc = v_string(port, path, "Name", NULL, e)) ||
        (rc = v_enum(port, path, "Protocol", protocols, "tcp", 1, e)))
        return rc;
    json_t *target = get(port, "TargetPort");
    if (target == NULL)
        return fail(e, path, "TargetPort", "required (between 1 and 65535)");
    if (!json_is_integer(target))
        return fail(e, path, "TargetPort", "must be an integer between 1 and 65535");
    if (json_integer_value(target) < 1 || json_integer_value(target) > 65535)
        return fail(e, path, "TargetPort", "must be between 1 and 65535");
    json_t *published = get(port, "PublishedPort");
    if (published != NULL && !json_is_integer(published))
        return fail(e, path, "PublishedPort", "must be an integer between 0 and 65535");
    if (published != NULL && (json_integer_value(published) < 0 || json_integer_value(published) > 65535))
        return fail(e, path, "PublishedPort", "must be between 0 and 65535");
    if ((rc = v_enum(port, path, "PublishMode", publish_modes, "ingress", 1, e)))
        return rc;
    return canon(port, port_keys, e);
}

static int check_endpoint(json_t *spec, swarm__err *e)
{
    static const char *const keys[] = {"Mode", "Ports", NULL};
    static const char *const modes[] = {"vip", "dnsrr", NULL};
    json_t *ep;
    int rc = v_object(spec, NULL, "EndpointSpec", 1, &ep, e);
    if (rc != 0)
        return rc;
    if ((rc = canon(ep, keys, e)) || (rc = v_enum(ep, "EndpointSpec", "Mode", modes, "vip", 1, e)) ||
        (rc = v_object_array(ep, "EndpointSpec", "Ports", check_port, e)))
        return rc;
    int dnsrr = strcmp(json_string_value(json_object_get(ep, "Mode")), "dnsrr") == 0;
    json_t *ports = get(ep, "Ports");
    for (size_t i = 0; i < json_array_size(ports); i++) {
        json_t *p = json_array_get(ports, i);
        const char *mode = json_string_value(json_object_get(p, "PublishMode"));
        const char *proto = json_string_value(json_object_get(p, "Protocol"));
        int64_t published = json_integer_value(get(p, "PublishedPort"));
        char k[64];
        snprintf(k, sizeof k, "Ports[%zu]", i);
        if (dnsrr && strcmp(mode, "ingress") == 0)
            return fail(e, "EndpointSpec", k, "port published with ingress mode can't be used with dnsrr mode");
        for (size_t j = 0; published != 0 && j < i; j++) {
            json_t *q = json_array_get(ports, j);
            if (json_integer_value(get(q, "PublishedPort")) == published &&
                strcmp(json_string_value(json_object_get(q, "Protocol")), proto) == 0 &&
                strcmp(json_string_value(json_object_get(q, "PublishMode")), mode) == 0) {
                char what[96];
                snprintf(what, sizeof what, "published port %lld/%s is given twice", (long long)published, proto);
                return fail(e, "EndpointSpec", k, what);
            }
        }
    }
    return canon(ep, keys, e);
}

static int check_name(json_t *spec, swarm__err *e)
{
    const char *name;
    int rc = v_string(spec, NULL, "Name", &name, e);
    if (rc != 0 || name == NULL || name[0] == '\0')
        return rc; /* the control API names unnamed services */
    if (strlen(name) > 63)
        return swarm__err_set(e, SWARM_EINVALID, "Name: invalid name \"%.63s...\": must be at most 63 characters",
                              name);
    if (!swarm__name_valid(name))
        return swarm__err_set(e, SWARM_EINVALID,
                              "Name: invalid name \"%.63s\": must be valid as a DNS name component "
                              "(letters, digits, '-', '_' and '.', starting with a letter or digit)",
                              name);
    return 0;
}

static const char *const service_keys[] = {"Name", "Labels", "TaskTemplate", "Mode", "UpdateConfig",
                                           "RollbackConfig", "Networks", "EndpointSpec", NULL};

int swarm__service_spec_validate(json_t *spec, swarm__err *e)
{
    if (!json_is_object(spec))
        return swarm__err_set(e, SWARM_EINVALID, "spec: must be a JSON object");
    json_t *tt;
    int rc;
    if ((rc = canon(spec, service_keys, e)) || (rc = check_name(spec, e)) ||
        (rc = v_labels(spec, NULL, "Labels", 1, e)) || (rc = v_object(spec, NULL, "TaskTemplate", 1, &tt, e)) ||
        (rc = check_task_template(tt, "TaskTemplate", e)) || (rc = check_mode(spec, e)) ||
        (rc = check_update_config(spec, "UpdateConfig", e)) || (rc = check_update_config(spec, "RollbackConfig", e)) ||
        (rc = v_object_array(spec, NULL, "Networks", check_network, e)) || (rc = check_endpoint(spec, e)))
        return rc;
    return canon(spec, service_keys, e);
}

/* ================================================================ cluster spec */

/* An integer field where absent, null or 0 means the default. */
static int v_default_int(json_t *obj, const char *prefix, const char *key, int64_t dflt, swarm__err *e)
{
    int rc = v_uint(obj, prefix, key, 1, dflt, e);
    if (rc == 0 && json_integer_value(json_object_get(obj, key)) == 0)
        rc = set_new(obj, key, json_integer(dflt), e);
    return rc;
}

static int v_default_duration(json_t *obj, const char *prefix, const char *key, int64_t dflt, swarm__err *e)
{
    int rc = v_duration(obj, prefix, key, 1, dflt, e);
    if (rc == 0 && json_integer_value(json_object_get(obj, key)) == 0)
        rc = set_new(obj, key, json_integer(dflt), e);
    return rc;
}

int swarm__cluster_spec_validate(json_t *spec, swarm__err *e)
{
    static const char *const keys[] = {"Name", "Labels", "Orchestration", "Raft", "Dispatcher", "CAConfig",
                                       "TaskDefaults", "EncryptionConfig", NULL};
    static const char *const raft_keys[] = {"SnapshotInterval", "KeepOldSnapshots", "LogEntriesForSlowFollowers",
                                            "ElectionTick", "HeartbeatTick", NULL};
    static const char *const ca_keys[] = {"NodeCertExpiry", "ExternalCAs", "SigningCACert", "SigningCAKey",
                                          "ForceRotate", NULL};
    if (!json_is_object(spec))
        return swarm__err_set(e, SWARM_EINVALID, "spec: must be a JSON object");
    json_t *orch, *raft, *disp, *ca, *td, *enc;
    const char *name;
    int rc;
    if ((rc = canon(spec, keys, e)) || (rc = v_string(spec, NULL, "Name", &name, e)))
        return rc;
    if ((name == NULL || name[0] == '\0') && (rc = set_new(spec, "Name", json_string("default"), e)))
        return rc;
    if ((rc = v_labels(spec, NULL, "Labels", 1, e)) || (rc = v_object(spec, NULL, "Orchestration", 1, &orch, e)) ||
        (rc = v_int(orch, "Orchestration", "TaskHistoryRetentionLimit", 1, 5, INT64_MIN, INT64_MAX, e)))
        return rc;
    if (json_integer_value(json_object_get(orch, "TaskHistoryRetentionLimit")) == 0 &&
        (rc = set_new(orch, "TaskHistoryRetentionLimit", json_integer(5), e)))
        return rc;
    if ((rc = v_object(spec, NULL, "Raft", 1, &raft, e)) || (rc = canon(raft, raft_keys, e)) ||
        (rc = v_default_int(raft, "Raft", "SnapshotInterval", 10000, e)) ||
        (rc = v_uint(raft, "Raft", "KeepOldSnapshots", 1, 0, e)) ||
        (rc = v_default_int(raft, "Raft", "LogEntriesForSlowFollowers", 500, e)) ||
        (rc = v_default_int(raft, "Raft", "ElectionTick", 10, e)) ||
        (rc = v_default_int(raft, "Raft", "HeartbeatTick", 1, e)) || (rc = canon(raft, raft_keys, e)))
        return rc;
    if (json_integer_value(json_object_get(raft, "ElectionTick")) <=
        json_integer_value(json_object_get(raft, "HeartbeatTick")))
        return fail(e, "Raft", "ElectionTick", "must be greater than Raft.HeartbeatTick");
    if ((rc = v_object(spec, NULL, "Dispatcher", 1, &disp, e)) ||
        (rc = v_default_duration(disp, "Dispatcher", "HeartbeatPeriod", 5 * SECOND, e)) ||
        (rc = v_object(spec, NULL, "CAConfig", 1, &ca, e)) || (rc = canon(ca, ca_keys, e)) ||
        (rc = v_default_duration(ca, "CAConfig", "NodeCertExpiry", 90LL * 24 * 3600 * SECOND, e)))
        return rc;
    if (json_integer_value(json_object_get(ca, "NodeCertExpiry")) < 3600 * SECOND)
        return fail(e, "CAConfig", "NodeCertExpiry", "must be at least 1h0m0s");
    if ((rc = v_object_array(ca, "CAConfig", "ExternalCAs", NULL, e)) ||
        (rc = v_uint(ca, "CAConfig", "ForceRotate", 0, 0, e)) ||
        (rc = v_object(spec, NULL, "TaskDefaults", 1, &td, e)) ||
        (rc = v_object(spec, NULL, "EncryptionConfig", 1, &enc, e)) ||
        (rc = v_bool(enc, "EncryptionConfig", "AutoLockManagers", e)))
        return rc;
    if (get(enc, "AutoLockManagers") == NULL && (rc = set_new(enc, "AutoLockManagers", json_false(), e)))
        return rc;
    return canon(spec, keys, e);
}
