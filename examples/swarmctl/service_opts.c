/* swarmctl — service flags and the ServiceSpec docker builds from them. */
#include "service_opts.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- validators for list flags ---- */

static char *validate_env(char **value)
{
    char *v = *value;
    char *eq = strchr(v, '=');
    if (eq == v || v[0] == '\0') {
        strbuf b = {0};
        sb_addf(&b, "invalid environment variable: %s", v);
        return sb_take(&b);
    }
    if (eq == NULL) {
        const char *env = getenv(v);
        if (env != NULL) {
            strbuf b = {0};
            sb_addf(&b, "%s=%s", v, env);
            free(*value);
            *value = sb_take(&b);
        }
    }
    return NULL;
}

static char *validate_label(char **value)
{
    const char *v = *value;
    size_t keylen = strcspn(v, "=");
    size_t start = 0, end = keylen;
    while (start < end && isspace((unsigned char)v[start]))
        start++;
    while (end > start && isspace((unsigned char)v[end - 1]))
        end--;
    strbuf b = {0};
    if (start == end) {
        sb_addf(&b, "invalid label '%s': empty name", v);
        return sb_take(&b);
    }
    for (size_t i = start; i < end; i++)
        if (isspace((unsigned char)v[i])) {
            sb_addf(&b, "label '%.*s' contains whitespaces", (int)(end - start), v + start);
            return sb_take(&b);
        }
    return NULL;
}

static char *validate_publish(char **value)
{
    json *ports = json_new(JSON_ARRAY);
    char *err = parse_publish(ports, *value);
    json_free(ports);
    return err;
}

static char *validate_placement_pref(char **value)
{
    const char *eq = strchr(*value, '=');
    if (eq == NULL)
        return xstrdup("placement preference must be of the format \"<strategy>=<arg>\"");
    if (strncmp(*value, "spread", (size_t)(eq - *value)) != 0 || eq - *value != 6) {
        strbuf b = {0};
        sb_addf(&b, "unsupported placement preference %.*s (only spread is supported)", (int)(eq - *value), *value);
        return sb_take(&b);
    }
    return NULL;
}

/* ---- flag tables ---- */

static const flag_def common_flags[] = {
    {.name = "detach", .shorthand = 'd', .type = FLAG_BOOL,
     .usage = "Exit immediately instead of waiting for the service to converge"},
    {.name = "quiet", .shorthand = 'q', .type = FLAG_BOOL, .usage = "Suppress progress output"},
    {.name = "workdir", .shorthand = 'w', .type = FLAG_STRING, .usage = "Working directory inside the container"},
    {.name = "user", .shorthand = 'u', .type = FLAG_STRING, .usage = "Username or UID (format: <name|uid>[:<group|gid>])"},
    {.name = "hostname", .type = FLAG_STRING, .usage = "Container hostname"},
    {.name = "limit-cpu", .type = FLAG_CPUS, .usage = "Limit CPUs"},
    {.name = "limit-memory", .type = FLAG_BYTES, .usage = "Limit Memory"},
    {.name = "reserve-cpu", .type = FLAG_CPUS, .usage = "Reserve CPUs"},
    {.name = "reserve-memory", .type = FLAG_BYTES, .usage = "Reserve Memory"},
    {.name = "stop-grace-period", .type = FLAG_DURATION,
     .usage = "Time to wait before force killing a container (ns|us|ms|s|m|h)", .default_text = "10s"},
    {.name = "stop-signal", .type = FLAG_STRING, .usage = "Signal to stop the container"},
    {.name = "replicas", .type = FLAG_UINT, .usage = "Number of tasks"},
    {.name = "replicas-max-per-node", .type = FLAG_UINT, .usage = "Maximum number of tasks per node (default 0 = unlimited)"},
    {.name = "restart-condition", .type = FLAG_STRING,
     .usage = "Restart when condition is met (\"none\", \"on-failure\", \"any\")", .default_text = "\"any\""},
    {.name = "restart-delay", .type = FLAG_DURATION, .usage = "Delay between restart attempts (ns|us|ms|s|m|h)",
     .default_text = "5s"},
    {.name = "restart-max-attempts", .type = FLAG_UINT, .usage = "Maximum number of restarts before giving up"},
    {.name = "restart-window", .type = FLAG_DURATION, .usage = "Window used to evaluate the restart policy (ns|us|ms|s|m|h)"},
    {.name = "no-resolve-image", .type = FLAG_BOOL,
     .usage = "Do not query the registry to resolve image digest and supported platforms"},
    {.name = "init", .type = FLAG_BOOL,
     .usage = "Use an init inside each service container to forward signals and reap processes"},
    {.name = "tty", .shorthand = 't', .type = FLAG_BOOL, .usage = "Allocate a pseudo-TTY"},
    {.name = "read-only", .type = FLAG_BOOL, .usage = "Mount the container's root filesystem as read only"},
    {.name = "endpoint-mode", .type = FLAG_STRING, .usage = "Endpoint mode (vip or dnsrr)", .default_text = "\"vip\""},
};

static const flag_def create_only[] = {
    {.name = "mode", .type = FLAG_STRING,
     .usage = "Service mode (\"replicated\", \"global\", \"replicated-job\", \"global-job\")",
     .default_text = "\"replicated\""},
    {.name = "name", .type = FLAG_STRING, .usage = "Service name"},
    {.name = "label", .shorthand = 'l', .type = FLAG_LIST, .usage = "Service labels", .validate = validate_label},
    {.name = "container-label", .type = FLAG_LIST, .usage = "Container labels", .validate = validate_label},
    {.name = "env", .shorthand = 'e', .type = FLAG_LIST, .usage = "Set environment variables", .validate = validate_env},
    {.name = "constraint", .type = FLAG_LIST, .usage = "Placement constraints"},
    {.name = "placement-pref", .type = FLAG_LIST, .usage = "Add a placement preference",
     .validate = validate_placement_pref},
    {.name = "publish", .shorthand = 'p', .type = FLAG_LIST, .usage = "Publish a port as a node port",
     .validate = validate_publish},
    {.name = "max-concurrent", .type = FLAG_UINT,
     .usage = "Number of job tasks to run concurrently (default equal to --replicas)"},
};

static const flag_def update_only[] = {
    {.name = "image", .type = FLAG_STRING, .usage = "Service image tag"},
    {.name = "args", .type = FLAG_STRING, .usage = "Service command args"},
    {.name = "force", .type = FLAG_BOOL, .usage = "Force update even if no changes require it"},
    {.name = "env-add", .type = FLAG_LIST, .usage = "Add or update an environment variable", .validate = validate_env},
    {.name = "env-rm", .type = FLAG_LIST, .usage = "Remove an environment variable"},
    {.name = "label-add", .type = FLAG_LIST, .usage = "Add or update a service label", .validate = validate_label},
    {.name = "label-rm", .type = FLAG_LIST, .usage = "Remove a label by its key"},
    {.name = "container-label-add", .type = FLAG_LIST, .usage = "Add or update a container label",
     .validate = validate_label},
    {.name = "container-label-rm", .type = FLAG_LIST, .usage = "Remove a container label by its key"},
    {.name = "constraint-add", .type = FLAG_LIST, .usage = "Add or update a placement constraint"},
    {.name = "constraint-rm", .type = FLAG_LIST, .usage = "Remove a constraint"},
    {.name = "publish-add", .type = FLAG_LIST, .usage = "Add or update a published port", .validate = validate_publish},
    {.name = "publish-rm", .type = FLAG_LIST, .usage = "Remove a published port by its target port"},
};

static flag_def *combine(const flag_def *extra, size_t nextra)
{
    size_t ncommon = sizeof common_flags / sizeof common_flags[0];
    flag_def *defs = xcalloc(ncommon + nextra + 1, sizeof *defs);
    memcpy(defs, common_flags, sizeof common_flags);
    memcpy(defs + ncommon, extra, nextra * sizeof *extra);
    return defs;
}

flag_def *service_create_flags(void)
{
    return combine(create_only, sizeof create_only / sizeof create_only[0]);
}

flag_def *service_update_flags(void)
{
    return combine(update_only, sizeof update_only / sizeof update_only[0]);
}

void service_flags_free(flag_def *defs)
{
    flags_reset(defs);
    free(defs);
}

/* ---- ports ---- */

static int parse_port_number(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 5)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *out = v;
    return 0;
}

/* "80" or "80-81" */
static int parse_range(const char *s, uint64_t *start, uint64_t *end)
{
    const char *dash = strchr(s, '-');
    if (dash == NULL) {
        if (parse_port_number(s, strlen(s), start) != 0)
            return -1;
        *end = *start;
        return 0;
    }
    if (parse_port_number(s, (size_t)(dash - s), start) != 0 || parse_port_number(dash + 1, strlen(dash + 1), end) != 0 ||
        *end < *start)
        return -1;
    return 0;
}

static json *port_config(const char *protocol, uint64_t target, uint64_t published, const char *mode)
{
    json *p = json_new(JSON_OBJECT);
    json_set(p, "Protocol", json_string(protocol));
    if (target)
        json_set(p, "TargetPort", json_uint(target));
    if (published)
        json_set(p, "PublishedPort", json_uint(published));
    json_set(p, "PublishMode", json_string(mode));
    return p;
}

static char *errorf(const char *fmt, const char *a)
{
    strbuf b = {0};
    sb_addf(&b, fmt, a);
    return sb_take(&b);
}

static char *parse_long_publish(json *ports_out, const char *value)
{
    char *copy = xstrdup(value);
    char *protocol = NULL, *mode = NULL;
    uint64_t target = 0, published = 0;
    char *err = NULL;
    char *save = NULL;
    for (char *field = strtok_r(copy, ",", &save); field && !err; field = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(field, '=');
        if (eq == NULL || eq == field) {
            err = errorf("invalid field: %s", field);
            break;
        }
        *eq = '\0';
        char *val = eq + 1;
        for (char *k = field; *k; k++)
            *k = (char)tolower((unsigned char)*k);
        if (strcmp(field, "protocol") == 0) {
            if (strcmp(val, "tcp") && strcmp(val, "udp") && strcmp(val, "sctp"))
                err = errorf("invalid protocol value '%s'", val);
            protocol = val;
        } else if (strcmp(field, "mode") == 0) {
            if (strcmp(val, "ingress") && strcmp(val, "host"))
                err = errorf("invalid publish mode value (%s): must be either 'ingress' or 'host'", val);
            mode = val;
        } else if (strcmp(field, "target") == 0) {
            if (parse_port_number(val, strlen(val), &target) != 0)
                err = errorf("strconv.ParseUint: parsing \"%s\": invalid syntax", val);
        } else if (strcmp(field, "published") == 0) {
            if (parse_port_number(val, strlen(val), &published) != 0)
                err = errorf("strconv.ParseUint: parsing \"%s\": invalid syntax", val);
        } else {
            err = errorf("invalid field key: %s", field);
        }
    }
    if (!err && target == 0)
        err = xstrdup("missing mandatory field 'target'");
    if (!err)
        json_append(ports_out, port_config(protocol ? protocol : "tcp", target, published, mode ? mode : "ingress"));
    free(copy);
    return err;
}

char *parse_publish(json *ports_out, const char *value)
{
    if (strchr(value, '=') != NULL)
        return parse_long_publish(ports_out, value);
    char *copy = xstrdup(value);
    char *err = NULL;
    const char *protocol = "tcp";
    char *slash = strchr(copy, '/');
    if (slash) {
        *slash = '\0';
        protocol = slash + 1;
        if (strcmp(protocol, "tcp") && strcmp(protocol, "udp") && strcmp(protocol, "sctp")) {
            err = errorf("invalid proto: %s", protocol);
            goto done;
        }
    }
    char *parts[3] = {0};
    int n = 0;
    for (char *p = copy; n < 3;) {
        parts[n++] = p;
        char *colon = strchr(p, ':');
        if (colon == NULL)
            break;
        *colon = '\0';
        p = colon + 1;
    }
    const char *host = NULL, *container = parts[n - 1];
    if (n == 3) {
        if (*parts[0]) {
            err = xstrdup("hostip is not supported");
            goto done;
        }
        host = parts[1];
    } else if (n == 2) {
        host = parts[0];
    }
    uint64_t cstart, cend, hstart = 0, hend = 0;
    if (parse_range(container, &cstart, &cend) != 0 || cstart == 0) {
        err = errorf("invalid containerPort: %s", container);
        goto done;
    }
    if (host && *host && parse_range(host, &hstart, &hend) != 0) {
        err = errorf("invalid hostPort: %s", host);
        goto done;
    }
    if (host && *host && hend - hstart != cend - cstart) {
        strbuf b = {0};
        sb_addf(&b, "invalid ranges specified for container and host Ports: %s and %s", container, host);
        err = sb_take(&b);
        goto done;
    }
    for (uint64_t port = cstart; port <= cend; port++)
        json_append(ports_out, port_config(protocol, port, host && *host ? hstart + (port - cstart) : 0, "ingress"));
done:
    free(copy);
    return err;
}

/* ---- shell words ---- */

int shell_split(const char *text, strlist *out)
{
    const char *p = text;
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p)
            return 0;
        strbuf w = {0};
        sb_add(&w, "");
        while (*p && !isspace((unsigned char)*p)) {
            if (*p == '\'') {
                const char *end = strchr(p + 1, '\'');
                if (end == NULL) {
                    sb_free(&w);
                    return -1;
                }
                sb_addn(&w, p + 1, (size_t)(end - p - 1));
                p = end + 1;
            } else if (*p == '"') {
                p++;
                while (*p && *p != '"') {
                    if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`'))
                        p++;
                    sb_addc(&w, *p++);
                }
                if (*p != '"') {
                    sb_free(&w);
                    return -1;
                }
                p++;
            } else if (*p == '\\' && p[1]) {
                sb_addc(&w, p[1]);
                p += 2;
            } else {
                sb_addc(&w, *p++);
            }
        }
        sl_add(out, w.s);
        sb_free(&w);
    }
}

/* ---- create ---- */

#define F(name) flag_find(defs, name)

static json *string_array(const strlist *l)
{
    json *a = json_new(JSON_ARRAY);
    for (size_t i = 0; i < l->count; i++)
        json_append(a, json_string(l->items[i]));
    return a;
}

/* ConvertKVStringsToMap: "k=v" → k:v, "k" → k:"". */
static void kv_into(json *obj, const strlist *items)
{
    for (size_t i = 0; i < items->count; i++) {
        const char *eq = strchr(items->items[i], '=');
        char key[512];
        snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - items->items[i]) : (int)strlen(items->items[i]),
                 items->items[i]);
        json_set(obj, key, json_string(eq ? eq + 1 : ""));
    }
}

/* docker's makeEnv: later values of a key replace earlier ones, order kept. */
static json *make_env(const strlist *items)
{
    strlist env = {0};
    for (size_t i = 0; i < items->count; i++) {
        const char *v = items->items[i];
        if (sl_contains(&env, v))
            continue;
        size_t klen = strcspn(v, "=");
        strlist kept = {0};
        for (size_t k = 0; k < env.count; k++)
            if (!(strncmp(env.items[k], v, klen) == 0 && env.items[k][klen] == '='))
                sl_add(&kept, env.items[k]);
        sl_add(&kept, v);
        sl_free(&env);
        env = kept;
    }
    json *a = string_array(&env);
    sl_free(&env);
    return a;
}

static json *restart_policy(flag_def *defs, json *existing)
{
    json *rp = existing;
    if (rp == NULL) {
        rp = json_new(JSON_OBJECT);
        json_set(rp, "Condition", json_string("any"));
        json_set(rp, "Delay", json_int(5000000000LL));
        json_set(rp, "MaxAttempts", json_uint(0));
    }
    if (F("restart-condition")->changed)
        json_set(rp, "Condition", json_string(F("restart-condition")->s));
    if (F("restart-delay")->changed)
        json_set(rp, "Delay", json_int(F("restart-delay")->i));
    if (F("restart-max-attempts")->changed)
        json_set(rp, "MaxAttempts", json_uint(F("restart-max-attempts")->u));
    if (F("restart-window")->changed)
        json_set(rp, "Window", json_int(F("restart-window")->i));
    return rp;
}

static int any_restart(flag_def *defs)
{
    return F("restart-condition")->changed || F("restart-delay")->changed || F("restart-max-attempts")->changed ||
           F("restart-window")->changed;
}

static json *placement_prefs(const strlist *items)
{
    json *a = json_new(JSON_ARRAY);
    for (size_t i = 0; i < items->count; i++) {
        json *pref = json_new(JSON_OBJECT);
        json *spread = json_set(pref, "Spread", json_new(JSON_OBJECT));
        json_set(spread, "SpreadDescriptor", json_string(strchr(items->items[i], '=') + 1));
        json_append(a, pref);
    }
    return a;
}

json *service_spec_from_flags(flag_def *defs, const char *image, const strlist *args, char **err)
{
    const char *mode = F("mode")->changed ? F("mode")->s : "replicated";
    int has_replicas = F("replicas")->changed, has_max = F("replicas-max-per-node")->u > 0,
        has_conc = F("max-concurrent")->changed;
    json *mode_obj = json_new(JSON_OBJECT);
    const char *problem = NULL;
    if (strcmp(mode, "global") == 0) {
        if (has_replicas)
            problem = "replicas can only be used with replicated or replicated-job mode";
        else if (has_max)
            problem = "replicas-max-per-node can only be used with replicated or replicated-job mode";
        else if (has_conc)
            problem = "max-concurrent can only be used with replicated-job mode";
        json_set(mode_obj, "Global", json_new(JSON_OBJECT));
    } else if (strcmp(mode, "replicated") == 0) {
        if (has_conc)
            problem = "max-concurrent can only be used with replicated-job mode";
        json *r = json_set(mode_obj, "Replicated", json_new(JSON_OBJECT));
        if (has_replicas)
            json_set(r, "Replicas", json_uint(F("replicas")->u));
    } else if (strcmp(mode, "replicated-job") == 0) {
        json *r = json_set(mode_obj, "ReplicatedJob", json_new(JSON_OBJECT));
        if (has_conc)
            json_set(r, "MaxConcurrent", json_uint(F("max-concurrent")->u));
        else if (has_replicas)
            json_set(r, "MaxConcurrent", json_uint(F("replicas")->u));
        if (has_replicas)
            json_set(r, "TotalCompletions", json_uint(F("replicas")->u));
    } else if (strcmp(mode, "global-job") == 0) {
        if (has_max)
            problem = "replicas-max-per-node can only be used with replicated or replicated-job mode";
        else if (has_conc)
            problem = "max-concurrent can only be used with replicated-job mode";
        else if (has_replicas)
            problem = "replicas can only be used with replicated or replicated-job mode";
        json_set(mode_obj, "GlobalJob", json_new(JSON_OBJECT));
    } else {
        json_free(mode_obj);
        strbuf b = {0};
        sb_addf(&b, "unknown mode: %s, only replicated and global supported", mode);
        *err = sb_take(&b);
        return NULL;
    }
    if (problem) {
        json_free(mode_obj);
        *err = xstrdup(problem);
        return NULL;
    }

    json *spec = json_new(JSON_OBJECT);
    if (F("name")->changed && *F("name")->s)
        json_set(spec, "Name", json_string(F("name")->s));
    kv_into(json_set(spec, "Labels", json_new(JSON_OBJECT)), &F("label")->list);
    json *tt = json_set(spec, "TaskTemplate", json_new(JSON_OBJECT));
    json *cs = json_set(tt, "ContainerSpec", json_new(JSON_OBJECT));
    json_set(cs, "Image", json_string(image));
    if (F("container-label")->list.count)
        kv_into(json_set(cs, "Labels", json_new(JSON_OBJECT)), &F("container-label")->list);
    if (args->count)
        json_set(cs, "Args", string_array(args));
    if (F("hostname")->s && *F("hostname")->s)
        json_set(cs, "Hostname", json_string(F("hostname")->s));
    if (F("env")->list.count)
        json_set(cs, "Env", make_env(&F("env")->list));
    if (F("workdir")->s && *F("workdir")->s)
        json_set(cs, "Dir", json_string(F("workdir")->s));
    if (F("user")->s && *F("user")->s)
        json_set(cs, "User", json_string(F("user")->s));
    json_set(cs, "Init", json_bool(F("init")->b));
    if (F("stop-signal")->s && *F("stop-signal")->s)
        json_set(cs, "StopSignal", json_string(F("stop-signal")->s));
    if (F("tty")->b)
        json_set(cs, "TTY", json_bool(1));
    if (F("read-only")->b)
        json_set(cs, "ReadOnly", json_bool(1));
    if (F("stop-grace-period")->changed)
        json_set(cs, "StopGracePeriod", json_int(F("stop-grace-period")->i));
    json_set(cs, "DNSConfig", json_new(JSON_OBJECT));

    json *res = json_set(tt, "Resources", json_new(JSON_OBJECT));
    json *lim = json_set(res, "Limits", json_new(JSON_OBJECT));
    if (F("limit-cpu")->i)
        json_set(lim, "NanoCPUs", json_int(F("limit-cpu")->i));
    if (F("limit-memory")->i)
        json_set(lim, "MemoryBytes", json_int(F("limit-memory")->i));
    json *rsv = json_set(res, "Reservations", json_new(JSON_OBJECT));
    if (F("reserve-cpu")->i)
        json_set(rsv, "NanoCPUs", json_int(F("reserve-cpu")->i));
    if (F("reserve-memory")->i)
        json_set(rsv, "MemoryBytes", json_int(F("reserve-memory")->i));
    if (any_restart(defs))
        json_set(tt, "RestartPolicy", restart_policy(defs, NULL));
    json *pl = json_set(tt, "Placement", json_new(JSON_OBJECT));
    if (F("constraint")->list.count)
        json_set(pl, "Constraints", string_array(&F("constraint")->list));
    if (F("placement-pref")->list.count)
        json_set(pl, "Preferences", placement_prefs(&F("placement-pref")->list));
    if (F("replicas-max-per-node")->u)
        json_set(pl, "MaxReplicas", json_uint(F("replicas-max-per-node")->u));
    json_set(tt, "ForceUpdate", json_uint(0));
    json_set(spec, "Mode", mode_obj);

    json *ep = json_set(spec, "EndpointSpec", json_new(JSON_OBJECT));
    char mode_lower[32];
    snprintf(mode_lower, sizeof mode_lower, "%s", F("endpoint-mode")->changed ? F("endpoint-mode")->s : "vip");
    for (char *p = mode_lower; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    json_set(ep, "Mode", json_string(mode_lower));
    if (F("publish")->list.count) {
        json *ports = json_new(JSON_ARRAY);
        for (size_t i = 0; i < F("publish")->list.count; i++) {
            char *e = parse_publish(ports, F("publish")->list.items[i]);
            free(e);
        }
        json_set(ep, "Ports", ports);
    }
    return spec;
}

/* ---- update ---- */

static void remove_keys(json *obj, const strlist *keys)
{
    for (size_t i = 0; i < keys->count; i++)
        json_remove(obj, keys->items[i]);
}

static void update_env(json *cs, flag_def *defs)
{
    const strlist *rm = &F("env-rm")->list, *add = &F("env-add")->list;
    if (rm->count == 0 && add->count == 0)
        return;
    json *env = json_get(cs, "Env");
    strlist kept = {0};
    for (json *e = env ? env->child : NULL; e; e = e->next) {
        const char *v = json_str(e);
        char key[512];
        snprintf(key, sizeof key, "%.*s", (int)strcspn(v, "="), v);
        if (!sl_contains(rm, key))
            sl_add(&kept, v);
    }
    /* Added variables replace the ones with the same name, in place; new ones go last. */
    for (size_t i = 0; i < add->count; i++) {
        const char *v = add->items[i];
        size_t klen = strcspn(v, "=");
        int replaced = 0;
        for (size_t k = 0; k < kept.count; k++) {
            if (strncmp(kept.items[k], v, klen) == 0 && (kept.items[k][klen] == '=' || kept.items[k][klen] == '\0')) {
                free(kept.items[k]);
                kept.items[k] = xstrdup(v);
                replaced = 1;
            }
        }
        if (!replaced)
            sl_add(&kept, v);
    }
    if (kept.count)
        json_set(cs, "Env", string_array(&kept));
    else
        json_remove(cs, "Env");
    sl_free(&kept);
}

static void update_labels(json *parent, const char *key, const strlist *rm, const strlist *add)
{
    json *labels = json_get(parent, key);
    if (labels && labels->type == JSON_OBJECT)
        remove_keys(labels, rm);
    if (add->count) {
        if (labels == NULL || labels->type != JSON_OBJECT)
            labels = json_set(parent, key, json_new(JSON_OBJECT));
        kv_into(labels, add);
    }
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void update_constraints(json *tt, flag_def *defs)
{
    const strlist *rm = &F("constraint-rm")->list, *add = &F("constraint-add")->list;
    if (!F("constraint-rm")->changed && !F("constraint-add")->changed)
        return;
    json *pl = json_object_at(tt, "Placement");
    strlist all = {0};
    json *cur = json_get(pl, "Constraints");
    for (json *c = cur ? cur->child : NULL; c; c = c->next)
        sl_add(&all, json_str(c));
    for (size_t i = 0; i < add->count; i++)
        sl_add(&all, add->items[i]);
    strlist kept = {0};
    for (size_t i = 0; i < all.count; i++)
        if (!sl_contains(rm, all.items[i]))
            sl_add(&kept, all.items[i]);
    qsort(kept.items, kept.count, sizeof *kept.items, str_cmp);
    json_set(pl, "Constraints", string_array(&kept));
    sl_free(&all);
    sl_free(&kept);
}

static char *update_ports(json *spec, flag_def *defs)
{
    if (!F("publish-add")->changed && !F("publish-rm")->changed)
        return NULL;
    json *ep = json_object_at(spec, "EndpointSpec");
    json *cur = json_get(ep, "Ports");
    json *result = json_new(JSON_ARRAY);
    json *added = json_new(JSON_ARRAY);
    for (size_t i = 0; i < F("publish-add")->list.count; i++) {
        char *e = parse_publish(added, F("publish-add")->list.items[i]);
        free(e);
    }
    /* Existing ports stay unless removed by target ("80" or "80/tcp") or replaced by an added one. */
    for (json *p = cur ? cur->child : NULL; p; p = p->next) {
        int drop = 0;
        char target[32], with_proto[64];
        snprintf(target, sizeof target, "%" PRIu64, json_unum(json_get(p, "TargetPort")));
        snprintf(with_proto, sizeof with_proto, "%s/%s", target, json_path_str(p, "Protocol"));
        const strlist *rm = &F("publish-rm")->list;
        if (sl_contains(rm, target) || sl_contains(rm, with_proto))
            drop = 1;
        for (json *a = added->child; a && !drop; a = a->next)
            if (json_unum(json_get(a, "PublishedPort")) != 0 &&
                json_unum(json_get(a, "PublishedPort")) == json_unum(json_get(p, "PublishedPort")) &&
                strcmp(json_path_str(a, "Protocol"), json_path_str(p, "Protocol")) == 0)
                drop = 1;
        if (!drop)
            json_append(result, json_copy(p));
    }
    while (added->child) {
        json *a = added->child;
        added->child = a->next;
        json_append(result, a);
    }
    json_free(added);
    json_set(ep, "Ports", result);
    return NULL;
}

int service_spec_update(json *spec, flag_def *defs, char **err)
{
    json *tt = json_object_at(spec, "TaskTemplate");
    json *cs = json_object_at(tt, "ContainerSpec");
    update_labels(spec, "Labels", &F("label-rm")->list, &F("label-add")->list);
    update_labels(cs, "Labels", &F("container-label-rm")->list, &F("container-label-add")->list);
    if (F("image")->changed)
        json_set(cs, "Image", json_string(F("image")->s));
    if (F("args")->changed) {
        strlist words = {0};
        if (shell_split(F("args")->s, &words) != 0) {
            *err = xstrdup("invalid argument for --args: unbalanced quotes");
            sl_free(&words);
            return -1;
        }
        if (words.count)
            json_set(cs, "Args", string_array(&words));
        else
            json_remove(cs, "Args");
        sl_free(&words);
    }
    update_env(cs, defs);
    if (F("workdir")->changed)
        json_set(cs, "Dir", json_string(F("workdir")->s));
    if (F("user")->changed)
        json_set(cs, "User", json_string(F("user")->s));
    if (F("hostname")->changed)
        json_set(cs, "Hostname", json_string(F("hostname")->s));
    if (F("init")->changed)
        json_set(cs, "Init", json_bool(F("init")->b));
    if (F("limit-cpu")->changed || F("limit-memory")->changed) {
        json *lim = json_object_at(json_object_at(tt, "Resources"), "Limits");
        if (F("limit-cpu")->changed)
            json_set(lim, "NanoCPUs", json_int(F("limit-cpu")->i));
        if (F("limit-memory")->changed)
            json_set(lim, "MemoryBytes", json_int(F("limit-memory")->i));
    }
    if (F("reserve-cpu")->changed || F("reserve-memory")->changed) {
        json *rsv = json_object_at(json_object_at(tt, "Resources"), "Reservations");
        if (F("reserve-cpu")->changed)
            json_set(rsv, "NanoCPUs", json_int(F("reserve-cpu")->i));
        if (F("reserve-memory")->changed)
            json_set(rsv, "MemoryBytes", json_int(F("reserve-memory")->i));
    }
    if (F("stop-grace-period")->changed)
        json_set(cs, "StopGracePeriod", json_int(F("stop-grace-period")->i));
    if (any_restart(defs)) {
        json *rp = json_get(tt, "RestartPolicy");
        if (rp && rp->type == JSON_OBJECT)
            restart_policy(defs, rp);
        else
            json_set(tt, "RestartPolicy", restart_policy(defs, NULL));
    }
    update_constraints(tt, defs);
    if (F("replicas")->changed) {
        json *rep = json_path(spec, "Mode.Replicated");
        if (rep == NULL || rep->type != JSON_OBJECT) {
            *err = xstrdup("replicas can only be used with replicated mode");
            return -1;
        }
        json_set(rep, "Replicas", json_uint(F("replicas")->u));
    }
    if (F("replicas-max-per-node")->changed)
        json_set(json_object_at(tt, "Placement"), "MaxReplicas", json_uint(F("replicas-max-per-node")->u));
    if (F("endpoint-mode")->changed)
        json_set(json_object_at(spec, "EndpointSpec"), "Mode", json_string(F("endpoint-mode")->s));
    char *perr = update_ports(spec, defs);
    if (perr) {
        *err = perr;
        return -1;
    }
    if (F("force")->b)
        json_set(tt, "ForceUpdate", json_uint(json_unum(json_get(tt, "ForceUpdate")) + 1));
    if (F("tty")->changed)
        json_set(cs, "TTY", json_bool(F("tty")->b));
    if (F("read-only")->changed)
        json_set(cs, "ReadOnly", json_bool(F("read-only")->b));
    if (F("stop-signal")->changed)
        json_set(cs, "StopSignal", json_string(F("stop-signal")->s));
    return 0;
}
