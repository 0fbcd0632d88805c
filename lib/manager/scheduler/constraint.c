#include "manager/scheduler/constraint.h"

#include "core/json.h"
#include "swarm/errors.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NODE_LABELS "node.labels."
#define ENGINE_LABELS "engine.labels."

typedef enum key_kind {
    KEY_ID,
    KEY_HOSTNAME,
    KEY_IP,
    KEY_ROLE,
    KEY_OS,
    KEY_ARCH,
    KEY_NODE_LABEL,
    KEY_ENGINE_LABEL,
    KEY_UNKNOWN /* well-formed but not a key Swarm knows: never satisfied */
} key_kind;

typedef struct constraint {
    key_kind kind;
    int equal;         /* 1 for ==, 0 for != */
    const char *label; /* for label keys: points into key (label names keep their case) */
    char *key;
    char *value;
} constraint;

struct swarm__constraints {
    size_t n;
    constraint items[];
};

void swarm__node_facts_init(swarm__node_facts *f, const json_t *node)
{
    f->id = swarm__json_str(node, "ID");
    f->hostname = swarm__json_str(node, "Description.Hostname");
    f->role = swarm__json_str(node, "Spec.Role");
    if (f->role == NULL) {
        const json_t *ms = swarm__json_get(node, "ManagerStatus");
        f->role = ms != NULL && !json_is_null(ms) ? "manager" : "worker";
    }
    f->os = swarm__json_str(node, "Description.Platform.OS");
    f->arch = swarm__json_str(node, "Description.Platform.Architecture");
    f->addr = swarm__json_str(node, "Status.Addr");
    f->labels = swarm__json_get(node, "Spec.Labels");
    f->engine_labels = swarm__json_get(node, "Description.Engine.Labels");
}

static int has_prefix_fold(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Key grammar of Swarm: a letter or '_', then at least one of [A-Za-z0-9-_.]. */
static int key_valid(const char *k)
{
    if (!(isalpha((unsigned char)k[0]) || k[0] == '_') || k[1] == '\0')
        return 0;
    for (const char *p = k + 1; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

/* Values may not contain anything that could be read as a (future) operator such as < > ~ = !. */
static int value_valid(const char *v)
{
    if (v[0] == '\0')
        return 0;
    for (const char *p = v; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr(":-_.*()?+[]\\^$|/ \t\n\r\f\v", *p) != NULL))
            return 0;
    return 1;
}

static char *trimmed_copy(const char *start, size_t len)
{
    while (len > 0 && isspace((unsigned char)start[0])) {
        start++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)start[len - 1]))
        len--;
    char *s = malloc(len + 1);
    if (s != NULL) {
        memcpy(s, start, len);
        s[len] = '\0';
    }
    return s;
}

static key_kind classify(const char *key, const char **label)
{
    static const struct {
        const char *name;
        key_kind kind;
    } fixed[] = {{"node.id", KEY_ID},           {"node.hostname", KEY_HOSTNAME},  {"node.ip", KEY_IP},
                 {"node.role", KEY_ROLE},       {"node.platform.os", KEY_OS},     {"node.platform.arch", KEY_ARCH}};
    *label = NULL;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcasecmp(key, fixed[i].name) == 0)
            return fixed[i].kind;
    if (strlen(key) > strlen(NODE_LABELS) && has_prefix_fold(key, NODE_LABELS)) {
        *label = key + strlen(NODE_LABELS);
        return KEY_NODE_LABEL;
    }
    if (strlen(key) > strlen(ENGINE_LABELS) && has_prefix_fold(key, ENGINE_LABELS)) {
        *label = key + strlen(ENGINE_LABELS);
        return KEY_ENGINE_LABEL;
    }
    return KEY_UNKNOWN;
}

void swarm__constraints_free(swarm__constraints *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].key);
        free(c->items[i].value);
    }
    free(c);
}

int swarm__constraints_parse(swarm__constraints **out, const json_t *list, char *why, size_t why_len)
{
    *out = NULL;
    if (list == NULL || json_is_null(list))
        return 0;
    if (!json_is_array(list)) {
        snprintf(why, why_len, "Placement.Constraints: not a list");
        return SWARM_EINVALID;
    }
    size_t n = json_array_size(list);
    if (n == 0)
        return 0;
    swarm__constraints *c = calloc(1, sizeof *c + n * sizeof c->items[0]);
    if (c == NULL)
        return SWARM_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *expr = json_string_value(json_array_get(list, i));
        if (expr == NULL) {
            snprintf(why, why_len, "Placement.Constraints: not a string");
            swarm__constraints_free(c);
            return SWARM_EINVALID;
        }
        /* Like Swarm, "==" is looked for first, and the expression splits at its first occurrence. */
        const char *op = strstr(expr, "==");
        int equal = 1;
        if (op == NULL) {
            op = strstr(expr, "!=");
            equal = 0;
        }
        if (op == NULL) {
            snprintf(why, why_len, "constraint expected one operator from ==, !=");
            swarm__constraints_free(c);
            return SWARM_EINVALID;
        }
        constraint *item = &c->items[c->n++];
        item->equal = equal;
        item->key = trimmed_copy(expr, (size_t)(op - expr));
        item->value = trimmed_copy(op + 2, strlen(op + 2));
        if (item->key == NULL || item->value == NULL) {
            swarm__constraints_free(c);
            return SWARM_ENOMEM;
        }
        if (!key_valid(item->key)) {
            snprintf(why, why_len, "key '%s' is invalid", item->key);
            swarm__constraints_free(c);
            return SWARM_EINVALID;
        }
        if (!value_valid(item->value)) {
            snprintf(why, why_len, "value '%s' is invalid", item->value);
            swarm__constraints_free(c);
            return SWARM_EINVALID;
        }
        item->kind = classify(item->key, &item->label);
    }
    *out = c;
    return 0;
}

static const char *label_value(const json_t *labels, const char *name)
{
    const char *v = json_is_object(labels) ? json_string_value(json_object_get(labels, name)) : NULL;
    return v != NULL ? v : "";
}

/* An address, or a network in CIDR notation, parsed into 16 bytes (IPv4 mapped) and a prefix length in bits. */
static int parse_addr(const char *text, unsigned char out[16], int *bits)
{
    char buf[64];
    const char *slash = strchr(text, '/');
    size_t len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    int v4 = 0;
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        v4 = 1;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
    } else if (inet_pton(AF_INET6, buf, out) != 1) {
        return -1;
    }
    *bits = 128;
    if (slash != NULL) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || b < 0 || b > (v4 ? 32 : 128))
            return -1;
        *bits = (int)(v4 ? b + 96 : b);
    }
    return 0;
}

static int prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

static int ip_matches(const constraint *c, const char *node_addr)
{
    unsigned char want[16], have[16];
    int bits, node_bits;
    if (parse_addr(c->value, want, &bits) != 0)
        return 0; /* a malformed address or network never matches, whatever the operator */
    int in = node_addr != NULL && strchr(node_addr, '/') == NULL && parse_addr(node_addr, have, &node_bits) == 0 &&
             prefix_equal(want, have, bits);
    return c->equal ? in : !in;
}

static int value_matches(const constraint *c, const char *what)
{
    int same = strcasecmp(c->value, what != NULL ? what : "") == 0;
    return c->equal ? same : !same;
}

int swarm__constraints_match(const swarm__constraints *c, const swarm__node_facts *node)
{
    if (c == NULL)
        return 1;
    for (size_t i = 0; i < c->n; i++) {
        const constraint *item = &c->items[i];
        int ok = 0;
        switch (item->kind) {
        case KEY_ID:
            ok = value_matches(item, node->id);
            break;
        case KEY_HOSTNAME:
            ok = value_matches(item, node->hostname);
            break;
        case KEY_IP:
            ok = ip_matches(item, node->addr);
            break;
        case KEY_ROLE:
            ok = value_matches(item, node->role);
            break;
        case KEY_OS:
            ok = value_matches(item, node->os);
            break;
        case KEY_ARCH:
            ok = value_matches(item, node->arch);
            break;
        case KEY_NODE_LABEL:
            ok = value_matches(item, label_value(node->labels, item->label));
            break;
        case KEY_ENGINE_LABEL:
            ok = value_matches(item, label_value(node->engine_labels, item->label));
            break;
        case KEY_UNKNOWN:
            ok = 0;
            break;
        }
        if (!ok)
            return 0;
    }
    return 1;
}

static const char *normal_arch(const char *arch)
{
    if (arch == NULL)
        return "";
    if (strcmp(arch, "x86_64") == 0)
        return "amd64";
    if (strcmp(arch, "aarch64") == 0)
        return "arm64";
    return arch;
}

int swarm__platforms_match(const json_t *platforms, const swarm__node_facts *node)
{
    if (!json_is_array(platforms) || json_array_size(platforms) == 0)
        return 1;
    if (node->os == NULL && node->arch == NULL)
        return 0; /* a node that does not report its platform supports none */
    const char *node_arch = normal_arch(node->arch);
    const char *node_os = node->os != NULL ? node->os : "";
    size_t i;
    const json_t *p;
    json_array_foreach(platforms, i, p) {
        const char *arch = swarm__json_str(p, "Architecture");
        const char *os = swarm__json_str(p, "OS");
        int arch_ok = arch == NULL || arch[0] == '\0' || strcmp(normal_arch(arch), node_arch) == 0;
        int os_ok = os == NULL || os[0] == '\0' || strcmp(os, node_os) == 0;
        if (arch_ok && os_ok)
            return 1;
    }
    return 0;
}

int swarm__spread_value(const char **out, const char *descriptor, const swarm__node_facts *node)
{
    *out = "";
    if (descriptor == NULL)
        return -1;
    if (strlen(descriptor) > strlen(NODE_LABELS) && has_prefix_fold(descriptor, NODE_LABELS)) {
        *out = label_value(node->labels, descriptor + strlen(NODE_LABELS));
        return 0;
    }
    if (strlen(descriptor) > strlen(ENGINE_LABELS) && has_prefix_fold(descriptor, ENGINE_LABELS)) {
        *out = label_value(node->engine_labels, descriptor + strlen(ENGINE_LABELS));
        return 0;
    }
    return -1;
}
