/* swarmctl — an ordered JSON tree, parsed from and printed to text. */
#include "json.h"
#include "strbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json *json_new(json_type type)
{
    json *v = xcalloc(1, sizeof *v);
    v->type = type;
    return v;
}

void json_free(json *v)
{
    while (v != NULL) {
        json *next = v->next;
        json_free(v->child);
        free(v->text);
        free(v->key);
        free(v);
        v = next;
    }
}

json *json_string(const char *s)
{
    json *v = json_new(JSON_STRING);
    v->text = xstrdup(s);
    return v;
}

json *json_int(int64_t n)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%" PRId64, n);
    json *v = json_new(JSON_NUMBER);
    v->text = xstrdup(tmp);
    return v;
}

json *json_uint(uint64_t n)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%" PRIu64, n);
    json *v = json_new(JSON_NUMBER);
    v->text = xstrdup(tmp);
    return v;
}

json *json_bool(int b)
{
    return json_new(b ? JSON_TRUE : JSON_FALSE);
}

json *json_copy(const json *v)
{
    if (v == NULL)
        return NULL;
    json *c = json_new(v->type);
    if (v->text)
        c->text = xstrdup(v->text);
    json **tail = &c->child;
    for (const json *m = v->child; m; m = m->next) {
        json *mc = json_copy(m);
        if (m->key)
            mc->key = xstrdup(m->key);
        *tail = mc;
        tail = &mc->next;
    }
    return c;
}

/* ---- parsing ---- */

typedef struct {
    const char *p;
    int depth;
} parser;

static void skip_space(parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
        ps->p++;
}

static void put_utf8(strbuf *b, unsigned cp)
{
    char out[4];
    if (cp < 0x80) {
        sb_addc(b, (char)cp);
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        sb_addn(b, out, 2);
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        sb_addn(b, out, 3);
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        sb_addn(b, out, 4);
    }
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static char *parse_string_text(parser *ps)
{
    if (*ps->p != '"')
        return NULL;
    ps->p++;
    strbuf b = {0};
    sb_add(&b, "");
    while (*ps->p && *ps->p != '"') {
        if (*ps->p != '\\') {
            sb_addc(&b, *ps->p++);
            continue;
        }
        ps->p++;
        char c = *ps->p++;
        switch (c) {
        case '"': sb_addc(&b, '"'); break;
        case '\\': sb_addc(&b, '\\'); break;
        case '/': sb_addc(&b, '/'); break;
        case 'b': sb_addc(&b, '\b'); break;
        case 'f': sb_addc(&b, '\f'); break;
        case 'n': sb_addc(&b, '\n'); break;
        case 'r': sb_addc(&b, '\r'); break;
        case 't': sb_addc(&b, '\t'); break;
        case 'u': {
            unsigned cp;
            if (hex4(ps->p, &cp) != 0)
                goto fail;
            ps->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                unsigned lo;
                if (hex4(ps->p + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    ps->p += 6;
                }
            }
            put_utf8(&b, cp);
            break;
        }
        default:
            goto fail;
        }
    }
    if (*ps->p != '"')
        goto fail;
    ps->p++;
    return sb_take(&b);
fail:
    sb_free(&b);
    return NULL;
}

static json *parse_value(parser *ps);

static json *parse_container(parser *ps, json_type type)
{
    char close = type == JSON_OBJECT ? '}' : ']';
    json *v = json_new(type);
    json **tail = &v->child;
    ps->p++;
    if (++ps->depth > 200)
        goto fail;
    skip_space(ps);
    if (*ps->p == close) {
        ps->p++;
        ps->depth--;
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_space(ps);
        if (type == JSON_OBJECT) {
            key = parse_string_text(ps);
            if (key == NULL)
                goto fail;
            skip_space(ps);
            if (*ps->p != ':') {
                free(key);
                goto fail;
            }
            ps->p++;
        }
        json *m = parse_value(ps);
        if (m == NULL) {
            free(key);
            goto fail;
        }
        m->key = key;
        *tail = m;
        tail = &m->next;
        skip_space(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            ps->depth--;
            return v;
        }
        goto fail;
    }
fail:
    json_free(v);
    return NULL;
}

static json *parse_value(parser *ps)
{
    skip_space(ps);
    const char *p = ps->p;
    if (*p == '{')
        return parse_container(ps, JSON_OBJECT);
    if (*p == '[')
        return parse_container(ps, JSON_ARRAY);
    if (*p == '"') {
        char *s = parse_string_text(ps);
        if (s == NULL)
            return NULL;
        json *v = json_new(JSON_STRING);
        v->text = s;
        return v;
    }
    if (strncmp(p, "true", 4) == 0) {
        ps->p += 4;
        return json_new(JSON_TRUE);
    }
    if (strncmp(p, "false", 5) == 0) {
        ps->p += 5;
        return json_new(JSON_FALSE);
    }
    if (strncmp(p, "null", 4) == 0) {
        ps->p += 4;
        return json_new(JSON_NULL);
    }
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        const char *q = p;
        if (*q == '-')
            q++;
        while ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-')
            q++;
        json *v = json_new(JSON_NUMBER);
        v->text = xmalloc((size_t)(q - p) + 1);
        memcpy(v->text, p, (size_t)(q - p));
        v->text[q - p] = '\0';
        ps->p = q;
        return v;
    }
    return NULL;
}

json *json_parse(const char *text)
{
    if (text == NULL)
        return NULL;
    parser ps = {text, 0};
    json *v = parse_value(&ps);
    if (v == NULL)
        return NULL;
    skip_space(&ps);
    if (*ps.p != '\0') {
        json_free(v);
        return NULL;
    }
    return v;
}

/* ---- access ---- */

json *json_get(const json *obj, const char *key)
{
    if (obj == NULL || obj->type != JSON_OBJECT)
        return NULL;
    for (json *m = obj->child; m; m = m->next)
        if (strcmp(m->key, key) == 0)
            return m;
    return NULL;
}

json *json_path(const json *obj, const char *path)
{
    const json *cur = obj;
    const char *p = path;
    while (cur != NULL && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char key[256];
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_get(cur, key);
        p += n;
        if (*p == '.')
            p++;
    }
    return (json *)cur;
}

json *json_set(json *obj, const char *key, json *value)
{
    json **link = &obj->child;
    while (*link != NULL) {
        if (strcmp((*link)->key, key) == 0) {
            json *old = *link;
            value->next = old->next;
            old->next = NULL;
            free(value->key);
            value->key = xstrdup(key);
            *link = value;
            json_free(old);
            return value;
        }
        link = &(*link)->next;
    }
    free(value->key);
    value->key = xstrdup(key);
    value->next = NULL;
    *link = value;
    return value;
}

json *json_object_at(json *obj, const char *key)
{
    json *m = json_get(obj, key);
    if (m != NULL && m->type == JSON_OBJECT)
        return m;
    return json_set(obj, key, json_new(JSON_OBJECT));
}

void json_remove(json *obj, const char *key)
{
    if (obj == NULL || obj->type != JSON_OBJECT)
        return;
    for (json **link = &obj->child; *link; link = &(*link)->next) {
        if (strcmp((*link)->key, key) == 0) {
            json *old = *link;
            *link = old->next;
            old->next = NULL;
            json_free(old);
            return;
        }
    }
}

void json_append(json *arr, json *value)
{
    json **link = &arr->child;
    while (*link)
        link = &(*link)->next;
    value->next = NULL;
    *link = value;
}

size_t json_length(const json *v)
{
    size_t n = 0;
    if (v == NULL || (v->type != JSON_ARRAY && v->type != JSON_OBJECT))
        return 0;
    for (json *m = v->child; m; m = m->next)
        n++;
    return n;
}

json *json_at(const json *arr, size_t index)
{
    if (arr == NULL || arr->type != JSON_ARRAY)
        return NULL;
    json *m = arr->child;
    while (m && index--)
        m = m->next;
    return m;
}

const char *json_str(const json *v)
{
    return v != NULL && v->type == JSON_STRING ? v->text : "";
}

const char *json_path_str(const json *obj, const char *path)
{
    return json_str(json_path(obj, path));
}

int64_t json_num(const json *v)
{
    if (v == NULL || v->type != JSON_NUMBER)
        return 0;
    return strtoll(v->text, NULL, 10);
}

uint64_t json_unum(const json *v)
{
    if (v == NULL || v->type != JSON_NUMBER || v->text[0] == '-')
        return 0;
    return strtoull(v->text, NULL, 10);
}

int json_truthy(const json *v)
{
    if (v == NULL)
        return 0;
    switch (v->type) {
    case JSON_NULL:
    case JSON_FALSE: return 0;
    case JSON_TRUE: return 1;
    case JSON_NUMBER: return strtod(v->text, NULL) != 0;
    case JSON_STRING: return v->text[0] != '\0';
    default: return v->child != NULL;
    }
}

/* ---- printing ---- */

/* Escapes as Go's encoding/json does, including <, > and & (HTML-safe). */
static void dump_string(strbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    sb_addc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        switch (c) {
        case '"': sb_add(b, "\\\""); break;
        case '\\': sb_add(b, "\\\\"); break;
        case '\n': sb_add(b, "\\n"); break;
        case '\r': sb_add(b, "\\r"); break;
        case '\t': sb_add(b, "\\t"); break;
        case '<':
        case '>':
        case '&':
            sb_add(b, "\\u00");
            sb_addc(b, hex[c >> 4]);
            sb_addc(b, hex[c & 15]);
            break;
        default:
            if (c < 0x20) {
                sb_add(b, "\\u00");
                sb_addc(b, hex[c >> 4]);
                sb_addc(b, hex[c & 15]);
            } else if (c == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
                sb_add(b, p[2] == 0xA8 ? "\\u2028" : "\\u2029");
                p += 2;
            } else {
                sb_addc(b, (char)c);
            }
        }
    }
    sb_addc(b, '"');
}

static void newline(strbuf *b, int indent, int level)
{
    sb_addc(b, '\n');
    for (int i = 0; i < indent * level; i++)
        sb_addc(b, ' ');
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp((*(json *const *)a)->key, (*(json *const *)b)->key);
}

static void dump(strbuf *b, const json *v, int indent, int level, int sorted)
{
    switch (v->type) {
    case JSON_NULL: sb_add(b, "null"); return;
    case JSON_TRUE: sb_add(b, "true"); return;
    case JSON_FALSE: sb_add(b, "false"); return;
    case JSON_NUMBER: sb_add(b, v->text); return;
    case JSON_STRING: dump_string(b, v->text); return;
    default: break;
    }
    int object = v->type == JSON_OBJECT;
    sb_addc(b, object ? '{' : '[');
    if (v->child == NULL) {
        sb_addc(b, object ? '}' : ']');
        return;
    }
    size_t n = json_length(v), i = 0;
    json **members = xmalloc(n * sizeof *members);
    for (json *m = v->child; m; m = m->next)
        members[i++] = m;
    if (sorted && object)
        qsort(members, n, sizeof *members, key_cmp);
    for (i = 0; i < n; i++) {
        if (i > 0)
            sb_addc(b, ',');
        if (indent)
            newline(b, indent, level + 1);
        if (object) {
            dump_string(b, members[i]->key);
            sb_add(b, indent ? ": " : ":");
        }
        dump(b, members[i], indent, level + 1, sorted);
    }
    free(members);
    if (indent)
        newline(b, indent, level);
    sb_addc(b, object ? '}' : ']');
}

char *json_dump(const json *v, int indent)
{
    strbuf b = {0};
    if (v == NULL)
        sb_add(&b, "null");
    else
        dump(&b, v, indent, 0, 0);
    return sb_take(&b);
}

char *json_dump_sorted(const json *v)
{
    strbuf b = {0};
    if (v == NULL)
        sb_add(&b, "null");
    else
        dump(&b, v, 0, 0, 1);
    return sb_take(&b);
}
