/* swarmctl — libswarm objects as JSON trees, and errors as docker words them. */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *daemon_error_text(void)
{
    const swarm_error *e = swarm_error_last();
    strbuf b = {0};
    /* Like docker's "Cannot connect to the Docker daemon...", connection failures are printed as they are. */
    if (strncmp(e->message, "Cannot connect", 14) == 0)
        sb_add(&b, e->message);
    else
        sb_addf(&b, "Error response from daemon: %s", e->message);
    return sb_take(&b);
}

int report_daemon_error(void)
{
    char *text = daemon_error_text();
    fprintf(stderr, "%s\n", text);
    free(text);
    return 1;
}

static json *parse_owned(char *text)
{
    if (text == NULL)
        return NULL;
    json *v = json_parse(text);
    swarm_free(text);
    return v;
}

json *fetch_service(swarm_cluster_t *c, const char *ref)
{
    swarm_service_t *s = NULL;
    if (swarm_service_get(c, ref, &s) != 0)
        return NULL;
    json *v = parse_owned(swarm_service_json(s));
    swarm_service_free(s);
    return v;
}

json *fetch_node(swarm_cluster_t *c, const char *ref)
{
    swarm_node_t *n = NULL;
    if (swarm_node_get(c, ref, &n) != 0)
        return NULL;
    json *v = parse_owned(swarm_node_json(n));
    swarm_node_free(n);
    return v;
}

json *fetch_services(swarm_cluster_t *c, const char *filters)
{
    swarm_service_t **list = NULL;
    size_t count = 0;
    if (swarm_service_list(c, filters, &list, &count) != 0)
        return NULL;
    json *arr = json_new(JSON_ARRAY);
    for (size_t i = 0; i < count; i++) {
        json *v = parse_owned(swarm_service_json(list[i]));
        if (v)
            json_append(arr, v);
    }
    swarm_service_list_free(list, count);
    return arr;
}

json *fetch_tasks(swarm_cluster_t *c, const char *filters)
{
    swarm_task_t **list = NULL;
    size_t count = 0;
    if (swarm_task_list(c, filters, &list, &count) != 0)
        return NULL;
    json *arr = json_new(JSON_ARRAY);
    for (size_t i = 0; i < count; i++) {
        json *v = parse_owned(swarm_task_json(list[i]));
        if (v)
            json_append(arr, v);
    }
    swarm_task_list_free(list, count);
    return arr;
}

json *fetch_nodes(swarm_cluster_t *c, const char *filters)
{
    swarm_node_t **list = NULL;
    size_t count = 0;
    if (swarm_node_list(c, filters, &list, &count) != 0)
        return NULL;
    json *arr = json_new(JSON_ARRAY);
    for (size_t i = 0; i < count; i++) {
        json *v = parse_owned(swarm_node_json(list[i]));
        if (v)
            json_append(arr, v);
    }
    swarm_node_list_free(list, count);
    return arr;
}

json *fetch_info(swarm_cluster_t *c)
{
    char *text = NULL;
    if (swarm_cluster_info(c, &text) != 0)
        return NULL;
    return parse_owned(text);
}

json *fetch_swarm(swarm_cluster_t *c)
{
    char *text = NULL;
    if (swarm_cluster_inspect(c, &text) != 0)
        return NULL;
    return parse_owned(text);
}

char *filters_json(const strlist *items, char **err)
{
    if (items->count == 0)
        return NULL;
    json *obj = json_new(JSON_OBJECT);
    for (size_t i = 0; i < items->count; i++) {
        const char *item = items->items[i];
        const char *eq = strchr(item, '=');
        if (eq == NULL) {
            strbuf b = {0};
            sb_add(&b, "bad format of filter (expected name=value)");
            *err = sb_take(&b);
            json_free(obj);
            return NULL;
        }
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - item), item);
        /* docker lower-cases and trims the key */
        for (char *p = key; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        json *values = json_get(obj, key);
        if (values == NULL)
            values = json_set(obj, key, json_new(JSON_ARRAY));
        json_append(values, json_string(eq + 1));
    }
    char *text = json_dump(obj, 0);
    json_free(obj);
    return text;
}

int natural_compare(const char *a, const char *b)
{
    /* Digit runs compare by value, everything else byte by byte (fvbommel/sortorder). */
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            const char *sa = a, *sb = b;
            while (*sa == '0')
                sa++;
            while (*sb == '0')
                sb++;
            const char *ea = sa, *eb = sb;
            while (isdigit((unsigned char)*ea))
                ea++;
            while (isdigit((unsigned char)*eb))
                eb++;
            if (ea - sa != eb - sb)
                return ea - sa < eb - sb ? -1 : 1;
            int cmp = strncmp(sa, sb, (size_t)(ea - sa));
            if (cmp)
                return cmp;
            /* equal value: fewer leading zeros first */
            if ((sa - a) != (sb - b))
                return (sa - a) < (sb - b) ? -1 : 1;
            a = ea;
            b = eb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

char *display_image(const char *image)
{
    const char *at = strchr(image, '@');
    const char *start = image;
    static const char *const prefixes[] = {"docker.io/library/", "index.docker.io/library/", "docker.io/"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(image, prefixes[i], n) == 0) {
            start = image + n;
            break;
        }
    }
    size_t len = at ? (size_t)(at - start) : strlen(start);
    /* A tag is a ':' after the last '/'. Without one the reference is kept whole. */
    const char *slash = NULL;
    for (const char *p = start; p < start + len; p++)
        if (*p == '/')
            slash = p;
    const char *colon = memchr(slash ? slash : start, ':', (size_t)(start + len - (slash ? slash : start)));
    if (at && colon == NULL)
        return xstrdup(image);
    strbuf b = {0};
    sb_addn(&b, start, len);
    return sb_take(&b);
}
