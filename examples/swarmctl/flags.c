/* swarmctl — pflag-compatible flag parsing and help output. */
#include "flags.h"

#include <swarm/swarm.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

flag_def *flag_find(flag_def *defs, const char *name)
{
    for (flag_def *d = defs; d->name; d++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

int flag_changed(flag_def *defs, const char *name)
{
    flag_def *d = flag_find(defs, name);
    return d != NULL && d->changed;
}

void flags_reset(flag_def *defs)
{
    for (flag_def *d = defs; d->name; d++) {
        free(d->s);
        d->s = NULL;
        sl_free(&d->list);
    }
}

int flags_usage_error(const command_info *cmd, const char *msg)
{
    fprintf(stderr, "%s\nSee 'swarmctl %s --help'.\n", msg, cmd->path);
    return 1;
}

char *parse_cpus(int64_t *out, const char *text)
{
    const char *p = text;
    int negative = 0;
    if (*p == '+' || *p == '-')
        negative = *p++ == '-';
    uint64_t whole = 0, frac = 0;
    int digits = 0, frac_digits = 0, overflow = 0;
    while (*p >= '0' && *p <= '9') {
        if (whole > (UINT64_MAX - 9) / 10)
            overflow = 1;
        whole = whole * 10 + (uint64_t)(*p++ - '0');
        digits++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (frac_digits < 9) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                frac_digits++;
            } else if (*p != '0') {
                return xstrdup("value is too precise");
            }
            p++;
            digits++;
        }
    }
    if (digits == 0 || *p != '\0') {
        strbuf b = {0};
        sb_addf(&b, "failed to parse %s as a rational number", text);
        return sb_take(&b);
    }
    while (frac_digits < 9) {
        frac *= 10;
        frac_digits++;
    }
    if (overflow || whole > (uint64_t)INT64_MAX / 1000000000ULL)
        return xstrdup("value is too large");
    int64_t v = (int64_t)(whole * 1000000000ULL + frac);
    *out = negative ? -v : v;
    return NULL;
}

static char *parse_uint(uint64_t *out, const char *s)
{
    /* Go's strconv.ParseUint with base 0: 0x, 0o, 0b prefixes, leading 0 = octal, '_' allowed after a prefix. */
    const char *p = s;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        base = 16, p += 2;
    else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
        base = 8, p += 2;
    else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
        base = 2, p += 2;
    else if (p[0] == '0' && p[1] != '\0')
        base = 8, p += 1;
    uint64_t v = 0;
    int any = 0, range = 0;
    for (; *p; p++) {
        int d;
        if (*p == '_' && base != 10)
            continue;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'z')
            d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'Z')
            d = *p - 'A' + 10;
        else
            d = 99;
        if (d >= base) {
            any = 0;
            break;
        }
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            range = 1;
        v = v * (uint64_t)base + (uint64_t)d;
        any = 1;
    }
    strbuf b = {0};
    if (!any || *p != '\0') {
        sb_addf(&b, "strconv.ParseUint: parsing \"%s\": invalid syntax", s);
        return sb_take(&b);
    }
    if (range) {
        sb_addf(&b, "strconv.ParseUint: parsing \"%s\": value out of range", s);
        return sb_take(&b);
    }
    *out = v;
    return NULL;
}

static char *parse_int(int64_t *out, const char *s)
{
    /* Go's strconv.ParseInt with base 0: an optional sign, then ParseUint's forms. */
    const char *p = s;
    int negative = 0;
    if (*p == '+' || *p == '-')
        negative = *p++ == '-';
    uint64_t u = 0;
    char *err = *p ? parse_uint(&u, p) : xstrdup("");
    strbuf b = {0};
    if (err && strstr(err, "out of range") == NULL) {
        free(err);
        sb_addf(&b, "strconv.ParseInt: parsing \"%s\": invalid syntax", s);
        return sb_take(&b);
    }
    if (err || (!negative && u > (uint64_t)INT64_MAX) || (negative && u > (uint64_t)INT64_MAX + 1)) {
        free(err);
        sb_addf(&b, "strconv.ParseInt: parsing \"%s\": value out of range", s);
        return sb_take(&b);
    }
    *out = negative ? (int64_t)(0 - u) : (int64_t)u;
    return NULL;
}

static char *parse_bool(int *out, const char *s)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = 1;
            return NULL;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = 0;
            return NULL;
        }
    }
    strbuf b = {0};
    sb_addf(&b, "strconv.ParseBool: parsing \"%s\": invalid syntax", s);
    return sb_take(&b);
}

static char *set_value(flag_def *d, const char *value)
{
    char *err = NULL;
    switch (d->type) {
    case FLAG_BOOL: err = parse_bool(&d->b, value); break;
    case FLAG_STRING:
        free(d->s);
        d->s = xstrdup(value);
        break;
    case FLAG_LIST: {
        char *v = xstrdup(value);
        if (d->validate)
            err = d->validate(&v);
        if (err == NULL)
            sl_add(&d->list, v);
        free(v);
        break;
    }
    case FLAG_UINT: err = parse_uint(&d->u, value); break;
    case FLAG_DURATION:
        if (swarm_parse_duration(&d->i, value) != 0) {
            strbuf b = {0};
            sb_addf(&b, "time: %s", swarm_error_last_message());
            err = sb_take(&b);
        }
        break;
    case FLAG_BYTES:
        if (swarm_parse_bytes(&d->i, value) != 0)
            err = xstrdup(swarm_error_last_message());
        break;
    case FLAG_CPUS: err = parse_cpus(&d->i, value); break;
    case FLAG_INT: err = parse_int(&d->i, value); break;
    }
    if (err == NULL)
        d->changed = 1;
    return err;
}

static int invalid_argument(const command_info *cmd, const flag_def *d, const char *value, char *why)
{
    strbuf b = {0};
    if (d->shorthand)
        sb_addf(&b, "invalid argument \"%s\" for \"-%c, --%s\" flag: %s", value, d->shorthand, d->name, why);
    else
        sb_addf(&b, "invalid argument \"%s\" for \"--%s\" flag: %s", value, d->name, why);
    free(why);
    int rc = flags_usage_error(cmd, b.s);
    sb_free(&b);
    return rc;
}

int flags_parse(const command_info *cmd, flag_def *defs, int argc, char **argv, int interspersed, strlist *args)
{
    int i = 0;
    for (; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (!interspersed)
                break;
            sl_add(args, a);
            continue;
        }
        strbuf msg = {0};
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            char key[128];
            snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - name) : (int)strlen(name), name);
            if (strcmp(key, "help") == 0) {
                flags_print_help(cmd, defs);
                return 2;
            }
            flag_def *d = flag_find(defs, key);
            if (d == NULL) {
                sb_addf(&msg, "unknown flag: --%s", key);
                int rc = flags_usage_error(cmd, msg.s);
                sb_free(&msg);
                return rc;
            }
            const char *value;
            if (eq)
                value = eq + 1;
            else if (d->type == FLAG_BOOL)
                value = "true";
            else if (i + 1 < argc)
                value = argv[++i];
            else {
                sb_addf(&msg, "flag needs an argument: --%s", key);
                int rc = flags_usage_error(cmd, msg.s);
                sb_free(&msg);
                return rc;
            }
            char *err = set_value(d, value);
            if (err)
                return invalid_argument(cmd, d, value, err);
            continue;
        }
        /* Shorthand cluster: -dq, -n3, -e FOO=bar */
        for (const char *p = a + 1; *p; p++) {
            if (*p == 'h') {
                flags_print_help(cmd, defs);
                return 2;
            }
            flag_def *d = NULL;
            for (flag_def *c = defs; c->name; c++)
                if (c->shorthand == *p)
                    d = c;
            if (d == NULL) {
                sb_addf(&msg, "unknown shorthand flag: '%c' in -%s", *p, a + 1);
                int rc = flags_usage_error(cmd, msg.s);
                sb_free(&msg);
                return rc;
            }
            const char *value;
            if (p[1] == '=') {
                value = p + 2;
            } else if (d->type == FLAG_BOOL) {
                value = "true";
            } else if (p[1] != '\0') {
                value = p + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                sb_addf(&msg, "flag needs an argument: '%c' in -%s", *p, a + 1);
                int rc = flags_usage_error(cmd, msg.s);
                sb_free(&msg);
                return rc;
            }
            char *err = set_value(d, value);
            if (err)
                return invalid_argument(cmd, d, value, err);
            if (d->type != FLAG_BOOL || p[1] == '=')
                break; /* the value used the rest of the argument */
        }
    }
    for (; i < argc; i++)
        sl_add(args, argv[i]);
    return 0;
}

static const char *type_name(flag_type t)
{
    switch (t) {
    case FLAG_BOOL: return "";
    case FLAG_STRING: return "string";
    case FLAG_LIST: return "list";
    case FLAG_UINT: return "uint";
    case FLAG_DURATION: return "duration";
    case FLAG_BYTES: return "bytes";
    case FLAG_CPUS: return "decimal";
    case FLAG_INT: return "int";
    }
    return "";
}

static int def_cmp(const void *a, const void *b)
{
    return strcmp((*(const flag_def *const *)a)->name, (*(const flag_def *const *)b)->name);
}

void flags_print_help(const command_info *cmd, const flag_def *defs)
{
    printf("\nUsage:  %s\n\n%s\n", cmd->use, cmd->short_help);
    if (cmd->aliases)
        printf("\nAliases:\n  %s\n", cmd->aliases);
    size_t n = 0;
    while (defs[n].name)
        n++;
    const flag_def **sorted = xmalloc((n + 1) * sizeof *sorted);
    for (size_t i = 0; i < n; i++)
        sorted[i] = &defs[i];
    qsort(sorted, n, sizeof *sorted, def_cmp);
    /* Lines "  -d, --detach" / "      --name string", usage aligned after the longest. */
    char **heads = xmalloc((n + 1) * sizeof *heads);
    size_t maxlen = 0;
    for (size_t i = 0; i < n; i++) {
        strbuf b = {0};
        if (sorted[i]->shorthand)
            sb_addf(&b, "  -%c, --%s", sorted[i]->shorthand, sorted[i]->name);
        else
            sb_addf(&b, "      --%s", sorted[i]->name);
        const char *tn = sorted[i]->type_text ? sorted[i]->type_text : type_name(sorted[i]->type);
        if (*tn)
            sb_addf(&b, " %s", tn);
        heads[i] = sb_take(&b);
        if (strlen(heads[i]) > maxlen)
            maxlen = strlen(heads[i]);
    }
    printf("\nOptions:\n");
    for (size_t i = 0; i < n; i++) {
        printf("%s%*s   ", heads[i], (int)(maxlen - strlen(heads[i])), "");
        /* Continuation lines of a multi-line usage line up under its first line. */
        for (const char *u = sorted[i]->usage; *u; u++) {
            putchar(*u);
            if (*u == '\n')
                printf("%*s", (int)maxlen + 3, "");
        }
        if (sorted[i]->default_text)
            printf(" (default %s)", sorted[i]->default_text);
        printf("\n");
        free(heads[i]);
    }
    printf("      --help%*s   Print usage\n", (int)(maxlen > 12 ? maxlen - 12 : 0), "");
    free(heads);
    free(sorted);
}

int flags_check_args(const command_info *cmd, size_t have, int min, int max)
{
    const char *what = NULL;
    int n = 0;
    if (max == 0 && have > 0) {
        fprintf(stderr, "\"swarmctl %s\" accepts no arguments.\n", cmd->path);
    } else if (min == max && (int)have != min) {
        what = "exactly";
        n = min;
    } else if ((int)have < min) {
        what = "at least";
        n = min;
    } else if (max >= 0 && (int)have > max) {
        what = "at most";
        n = max;
    } else {
        return 0;
    }
    if (what)
        fprintf(stderr, "\"swarmctl %s\" requires %s %d argument%s.\n", cmd->path, what, n, n == 1 ? "" : "s");
    fprintf(stderr, "See 'swarmctl %s --help'.\n\nUsage:  %s\n\n%s\n", cmd->path, cmd->use, cmd->short_help);
    return 1;
}
