/* swarmctl — a small Go-template subset over JSON values. */
#include "template.h"
#include "strbuf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum node_kind { N_TEXT, N_ACTION, N_IF, N_RANGE };

typedef struct arg {
    int literal;  /* 1: string literal in text; 0: field path ("" is dot) */
    char *text;
} arg;

typedef struct node node;
struct node {
    enum node_kind kind;
    char *text;      /* N_TEXT */
    char *func;      /* N_ACTION/N_IF/N_RANGE: optional function name */
    arg *args;
    size_t nargs;
    int column;      /* position of the action, for messages */
    node *body;      /* N_IF then-branch, N_RANGE body */
    node *alt;       /* N_IF else-branch */
    node *next;
};

struct tmpl {
    node *root;
};

static void free_nodes(node *n)
{
    while (n) {
        node *next = n->next;
        free(n->text);
        free(n->func);
        for (size_t i = 0; i < n->nargs; i++)
            free(n->args[i].text);
        free(n->args);
        free_nodes(n->body);
        free_nodes(n->alt);
        free(n);
        n = next;
    }
}

void tmpl_free(tmpl *t)
{
    if (t) {
        free_nodes(t->root);
        free(t);
    }
}

/* ---- lexing into a flat token list, then building the tree ---- */

typedef struct {
    int is_action;
    char *text;  /* raw text, or the action's inside (trimmed) */
    int column;
} token;

static void set_err(char **err, const char *fmt, const char *a, int n)
{
    if (err == NULL)
        return;
    strbuf b = {0};
    sb_addf(&b, fmt, a, n);
    *err = sb_take(&b);
}

static int lex(const char *src, token **out, size_t *count, char **err)
{
    size_t cap = 16, n = 0;
    token *toks = xmalloc(cap * sizeof *toks);
    const char *p = src;
    int trim_next = 0;
    while (*p) {
        const char *open = strstr(p, "{{");
        size_t textlen = open ? (size_t)(open - p) : strlen(p);
        const char *tstart = p;
        int trim_prev = open && open[2] == '-' && (open[3] == ' ' || open[3] == '\t' || open[3] == '\n');
        if (trim_next)
            while (textlen && isspace((unsigned char)*tstart))
                tstart++, textlen--;
        if (trim_prev)
            while (textlen && isspace((unsigned char)tstart[textlen - 1]))
                textlen--;
        if (textlen) {
            if (n == cap)
                toks = xrealloc(toks, (cap *= 2) * sizeof *toks);
            toks[n].is_action = 0;
            toks[n].text = xmalloc(textlen + 1);
            memcpy(toks[n].text, tstart, textlen);
            toks[n].text[textlen] = '\0';
            toks[n].column = (int)(tstart - src);
            n++;
        }
        trim_next = 0;
        if (!open)
            break;
        const char *inner = open + 2 + (trim_prev ? 1 : 0);
        const char *close = strstr(inner, "}}");
        if (close == NULL) {
            for (size_t i = 0; i < n; i++)
                free(toks[i].text);
            free(toks);
            set_err(err, "template: :1: unclosed action%s", "", 0);
            return -1;
        }
        const char *iend = close;
        if (iend > inner && iend[-1] == '-' && iend - 1 > inner && isspace((unsigned char)iend[-2])) {
            trim_next = 1;
            iend--;
        }
        while (inner < iend && isspace((unsigned char)*inner))
            inner++;
        while (iend > inner && isspace((unsigned char)iend[-1]))
            iend--;
        if (n == cap)
            toks = xrealloc(toks, (cap *= 2) * sizeof *toks);
        toks[n].is_action = 1;
        toks[n].text = xmalloc((size_t)(iend - inner) + 1);
        memcpy(toks[n].text, inner, (size_t)(iend - inner));
        toks[n].text[iend - inner] = '\0';
        toks[n].column = (int)(inner - src);
        n++;
        p = close + 2;
    }
    *out = toks;
    *count = n;
    return 0;
}

/* Splits an action into words (respecting "quoted" strings). */
static int split_words(const char *s, strlist *words)
{
    const char *p = s;
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        strbuf w = {0};
        if (*p == '"') {
            sb_addc(&w, '"');
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1]) {
                    p++;
                    sb_addc(&w, *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
                    p++;
                    continue;
                }
                sb_addc(&w, *p++);
            }
            if (*p != '"') {
                sb_free(&w);
                return -1;
            }
            p++;
        } else {
            while (*p && !isspace((unsigned char)*p))
                sb_addc(&w, *p++);
        }
        char *text = sb_take(&w);
        sl_add(words, text);
        free(text);
    }
    return 0;
}

static int fill_pipeline(node *n, const char *text, char **err)
{
    strlist words = {0};
    if (split_words(text, &words) != 0 || words.count == 0) {
        sl_free(&words);
        set_err(err, "template: :1:%.0s%d: missing value for command", "", n->column);
        return -1;
    }
    size_t first = 0;
    const char *w0 = words.items[0];
    if (w0[0] != '.' && w0[0] != '"' && w0[0] != '$') {
        n->func = xstrdup(w0);
        first = 1;
    }
    n->nargs = words.count - first;
    n->args = xcalloc(n->nargs ? n->nargs : 1, sizeof *n->args);
    for (size_t i = first; i < words.count; i++) {
        const char *w = words.items[i];
        arg *a = &n->args[i - first];
        if (w[0] == '"') {
            a->literal = 1;
            a->text = xstrdup(w + 1);
        } else if (w[0] == '.') {
            a->text = xstrdup(w + 1);
        } else if (strcmp(w, "$") == 0) {
            a->text = xstrdup("");
        } else {
            set_err(err, "template: :1: function \"%s\" not defined%.0d", w, 0);
            sl_free(&words);
            return -1;
        }
    }
    sl_free(&words);
    return 0;
}

/* Builds nodes from toks[*i] until {{end}}/{{else}} (returned in *stop). */
static node *build(token *toks, size_t count, size_t *i, const char **stop, char **err, int *failed)
{
    node *head = NULL, **tail = &head;
    *stop = NULL;
    while (*i < count && !*failed) {
        token *t = &toks[(*i)++];
        node *n = xcalloc(1, sizeof *n);
        n->column = t->column;
        if (!t->is_action) {
            n->kind = N_TEXT;
            n->text = xstrdup(t->text);
        } else if (strcmp(t->text, "end") == 0 || strcmp(t->text, "else") == 0) {
            free(n);
            *stop = strcmp(t->text, "end") == 0 ? "end" : "else";
            return head;
        } else if (strncmp(t->text, "/*", 2) == 0) {
            free(n);
            continue;
        } else if (strncmp(t->text, "if ", 3) == 0 || strncmp(t->text, "range ", 6) == 0) {
            int is_if = t->text[0] == 'i';
            n->kind = is_if ? N_IF : N_RANGE;
            if (fill_pipeline(n, t->text + (is_if ? 3 : 6), err) != 0) {
                *failed = 1;
                free_nodes(n);
                break;
            }
            const char *s = NULL;
            n->body = build(toks, count, i, &s, err, failed);
            if (!*failed && s && strcmp(s, "else") == 0)
                n->alt = build(toks, count, i, &s, err, failed);
            if (!*failed && (s == NULL || strcmp(s, "end") != 0)) {
                set_err(err, "template: :1: unexpected EOF%.0s%.0d", "", 0);
                *failed = 1;
            }
        } else {
            n->kind = N_ACTION;
            if (fill_pipeline(n, t->text, err) != 0) {
                *failed = 1;
                free_nodes(n);
                break;
            }
        }
        *tail = n;
        tail = &n->next;
    }
    return head;
}

tmpl *tmpl_parse(const char *text, char **err)
{
    token *toks = NULL;
    size_t count = 0, i = 0;
    if (lex(text, &toks, &count, err) != 0)
        return NULL;
    int failed = 0;
    const char *stop = NULL;
    node *root = build(toks, count, &i, &stop, err, &failed);
    if (!failed && stop != NULL) {
        set_err(err, "template: :1: unexpected {{%s}}%.0d", stop, 0);
        failed = 1;
    }
    for (size_t k = 0; k < count; k++)
        free(toks[k].text);
    free(toks);
    if (failed) {
        free_nodes(root);
        return NULL;
    }
    tmpl *t = xcalloc(1, sizeof *t);
    t->root = root;
    return t;
}

/* ---- execution ---- */

typedef struct {
    int strict;
    char **err;
    int failed;
    json *scratch;  /* values made during execution (freed at the end) */
} exec_ctx;

static json *keep(exec_ctx *x, json *v)
{
    json_append(x->scratch, v);
    return v;
}

static const json missing_value = {JSON_NULL, NULL, NULL, NULL, NULL};

static const json *resolve(exec_ctx *x, const json *dot, const arg *a, int column)
{
    if (a->literal)
        return keep(x, json_string(a->text));
    if (a->text[0] == '\0')
        return dot;
    const json *cur = dot;
    const char *p = a->text;
    while (*p) {
        const char *q = strchr(p, '.');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)len, p);
        const json *next = cur && cur->type == JSON_OBJECT ? json_get(cur, key) : NULL;
        if (next == NULL) {
            if (x->strict || (cur && cur->type != JSON_OBJECT && cur != &missing_value)) {
                if (!x->failed) {
                    strbuf b = {0};
                    sb_addf(&b, "template: :1:%d: executing \"\" at <.%s>: can't evaluate field %s", column + 1,
                            a->text, key);
                    *x->err = sb_take(&b);
                }
                x->failed = 1;
                return NULL;
            }
            return &missing_value;
        }
        cur = next;
        p += len;
        if (*p == '.')
            p++;
    }
    return cur;
}

static void print_value(strbuf *b, const json *v)
{
    if (v == &missing_value) {
        sb_add(b, "<no value>");
        return;
    }
    switch (v->type) {
    case JSON_NULL: sb_add(b, "<nil>"); break;
    case JSON_TRUE: sb_add(b, "true"); break;
    case JSON_FALSE: sb_add(b, "false"); break;
    case JSON_NUMBER:
    case JSON_STRING: sb_add(b, v->text); break;
    case JSON_ARRAY:
        sb_addc(b, '[');
        for (json *m = v->child; m; m = m->next) {
            if (m != v->child)
                sb_addc(b, ' ');
            print_value(b, m);
        }
        sb_addc(b, ']');
        break;
    case JSON_OBJECT: {
        /* Go prints maps as map[k:v ...] with sorted keys. */
        size_t n = json_length(v), i = 0;
        json **ms = xmalloc(n * sizeof *ms);
        for (json *m = v->child; m; m = m->next)
            ms[i++] = m;
        for (size_t a = 0; a < n; a++)
            for (size_t c = a + 1; c < n; c++)
                if (strcmp(ms[c]->key, ms[a]->key) < 0) {
                    json *t = ms[a];
                    ms[a] = ms[c];
                    ms[c] = t;
                }
        sb_add(b, "map[");
        for (i = 0; i < n; i++) {
            if (i)
                sb_addc(b, ' ');
            sb_add(b, ms[i]->key);
            sb_addc(b, ':');
            print_value(b, ms[i]);
        }
        sb_addc(b, ']');
        free(ms);
        break;
    }
    }
}

static char *value_text(const json *v)
{
    strbuf b = {0};
    print_value(&b, v);
    return sb_take(&b);
}

static void title_case(char *s)
{
    int start = 1;
    for (; *s; s++) {
        if (isalpha((unsigned char)*s)) {
            if (start)
                *s = (char)toupper((unsigned char)*s);
            start = 0;
        } else {
            start = 1;
        }
    }
}

/* Evaluates a pipeline to a value (owned by x->scratch or borrowed). */
static const json *eval(exec_ctx *x, const node *n, const json *dot)
{
    const json *argv[8] = {0};
    size_t argc = n->nargs < 8 ? n->nargs : 8;
    for (size_t i = 0; i < argc; i++) {
        argv[i] = resolve(x, dot, &n->args[i], n->column);
        if (argv[i] == NULL)
            return NULL;
    }
    if (n->func == NULL)
        return argc ? argv[0] : dot;
    const char *f = n->func;
    const json *a0 = argc ? argv[0] : dot;
    if (strcmp(f, "json") == 0) {
        char *s = a0 == &missing_value ? xstrdup("null") : json_dump(a0, 0);
        json *r = keep(x, json_string(s));
        free(s);
        return r;
    }
    if (strcmp(f, "upper") == 0 || strcmp(f, "lower") == 0 || strcmp(f, "title") == 0) {
        char *s = value_text(a0);
        for (char *p = s; *p && f[0] != 't'; p++)
            *p = (char)(f[0] == 'u' ? toupper((unsigned char)*p) : tolower((unsigned char)*p));
        if (f[0] == 't')
            title_case(s);
        json *r = keep(x, json_string(s));
        free(s);
        return r;
    }
    if (strcmp(f, "println") == 0) {
        strbuf b = {0};
        for (size_t i = 0; i < argc; i++) {
            if (i)
                sb_addc(&b, ' ');
            print_value(&b, argv[i]);
        }
        sb_addc(&b, '\n');
        char *s = sb_take(&b);
        json *r = keep(x, json_string(s));
        free(s);
        return r;
    }
    if (strcmp(f, "len") == 0) {
        size_t len = a0->type == JSON_STRING ? strlen(a0->text) : json_length(a0);
        return keep(x, json_uint(len));
    }
    if (strcmp(f, "join") == 0 && argc == 2) {
        strbuf b = {0};
        sb_add(&b, "");
        for (json *m = a0->type == JSON_ARRAY ? a0->child : NULL; m; m = m->next) {
            if (m != a0->child)
                sb_add(&b, json_str(argv[1]));
            print_value(&b, m);
        }
        char *s = sb_take(&b);
        json *r = keep(x, json_string(s));
        free(s);
        return r;
    }
    if (strcmp(f, "not") == 0)
        return keep(x, json_bool(!json_truthy(a0)));
    if (!x->failed) {
        strbuf b = {0};
        sb_addf(&b, "template: :1: function \"%s\" not defined", f);
        *x->err = sb_take(&b);
    }
    x->failed = 1;
    return NULL;
}

static void run(exec_ctx *x, const node *n, const json *dot, strbuf *out)
{
    for (; n && !x->failed; n = n->next) {
        switch (n->kind) {
        case N_TEXT: sb_add(out, n->text); break;
        case N_ACTION: {
            const json *v = eval(x, n, dot);
            if (v)
                print_value(out, v);
            break;
        }
        case N_IF: {
            const json *v = eval(x, n, dot);
            if (v == NULL)
                break;
            int truth = v != &missing_value && json_truthy(v);
            run(x, truth ? n->body : n->alt, dot, out);
            break;
        }
        case N_RANGE: {
            const json *v = eval(x, n, dot);
            if (v == NULL)
                break;
            if ((v->type == JSON_ARRAY || v->type == JSON_OBJECT) && v->child) {
                for (json *m = v->child; m && !x->failed; m = m->next)
                    run(x, n->body, m, out);
            } else {
                run(x, n->alt, dot, out);
            }
            break;
        }
        }
    }
}

char *tmpl_execute(const tmpl *t, const json *dot, int strict, char **err)
{
    exec_ctx x = {strict, err, 0, json_new(JSON_ARRAY)};
    strbuf out = {0};
    sb_add(&out, "");
    run(&x, t->root, dot, &out);
    json_free(x.scratch);
    if (x.failed) {
        sb_free(&out);
        return NULL;
    }
    return sb_take(&out);
}
