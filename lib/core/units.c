/* Go durations and docker memory sizes: parsing and formatting. */
#include "core/units.h"

#include "core/error.h"
#include "swarm/units.h"

#include <stdio.h>
#include <string.h>

#define MAX_MAGNITUDE ((uint64_t)1 << 63) /* |INT64_MIN| */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Leading integer of *s; -1 when it exceeds 2^63 (Go rejects those outright). */
static int leading_int(uint64_t *out, const char **s)
{
    uint64_t x = 0;
    const char *p = *s;
    for (; is_digit(*p); p++) {
        if (x > MAX_MAGNITUDE / 10)
            return -1;
        x = x * 10 + (uint64_t)(*p - '0');
        if (x > MAX_MAGNITUDE)
            return -1;
    }
    *out = x;
    *s = p;
    return 0;
}

/* Digits after the point; once they no longer fit, the rest only count as consumed. */
static void leading_fraction(uint64_t *out, double *scale, const char **s)
{
    uint64_t x = 0;
    double sc = 1;
    int overflow = 0;
    const char *p = *s;
    for (; is_digit(*p); p++) {
        if (overflow)
            continue;
        if (x > (MAX_MAGNITUDE - 1) / 10) {
            overflow = 1;
            continue;
        }
        uint64_t y = x * 10 + (uint64_t)(*p - '0');
        if (y > MAX_MAGNITUDE) {
            overflow = 1;
            continue;
        }
        x = y;
        sc *= 10;
    }
    *out = x;
    *scale = sc;
    *s = p;
}

static const struct {
    const char *name;
    uint64_t ns;
} duration_units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
    {"ms", 1000000},
    {"s", 1000000000},
    {"m", 60ull * 1000000000},
    {"h", 3600ull * 1000000000},
};

static uint64_t unit_ns(const char *u, size_t len)
{
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++)
        if (strlen(duration_units[i].name) == len && memcmp(duration_units[i].name, u, len) == 0)
            return duration_units[i].ns;
    return 0;
}

int swarm__parse_duration(int64_t *out, const char *text)
{
    if (out == NULL || text == NULL)
        return -1;
    const char *s = text;
    int neg = 0;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*s == '\0')
        return -1;
    uint64_t total = 0;
    while (*s != '\0') {
        if (!(*s == '.' || is_digit(*s)))
            return -1;
        uint64_t v = 0, f = 0;
        double scale = 1;
        const char *start = s;
        if (leading_int(&v, &s) != 0)
            return -1;
        int pre = s != start;
        int post = 0;
        if (*s == '.') {
            s++;
            const char *fs = s;
            leading_fraction(&f, &scale, &s);
            post = s != fs;
        }
        if (!pre && !post)
            return -1;
        const char *u = s;
        while (*s != '\0' && *s != '.' && !is_digit(*s))
            s++;
        uint64_t unit = unit_ns(u, (size_t)(s - u));
        if (unit == 0)
            return -1;
        if (v > MAX_MAGNITUDE / unit)
            return -1;
        v *= unit;
        if (f > 0) {
            v += (uint64_t)((double)f * ((double)unit / scale));
            if (v > MAX_MAGNITUDE)
                return -1;
        }
        total += v;
        if (total > MAX_MAGNITUDE)
            return -1;
    }
    if (neg) {
        *out = total == MAX_MAGNITUDE ? INT64_MIN : -(int64_t)total;
        return 0;
    }
    if (total > MAX_MAGNITUDE - 1)
        return -1;
    *out = (int64_t)total;
    return 0;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int swarm__parse_bytes(int64_t *out, const char *text)
{
    if (out == NULL || text == NULL)
        return -1;
    const char *s = text;
    if (!is_digit(*s))
        return -1;
    long double value = 0;
    for (; is_digit(*s); s++)
        value = value * 10 + (*s - '0');
    if (*s == '.') {
        s++;
        if (!is_digit(*s))
            return -1;
        long double place = 1;
        for (; is_digit(*s); s++) {
            place /= 10;
            value += (*s - '0') * place;
        }
    }
    if (*s == ' ')
        s++;
    /* Suffix: nothing, "b", or a unit letter followed by nothing, "b" or "ib". */
    static const char units[] = "kmgtp";
    long double mult = 1;
    if (*s != '\0') {
        char c = lower(*s);
        const char *u = strchr(units, c);
        if (c == 'b' && s[1] == '\0') {
            s++;
        } else if (c != '\0' && u != NULL) {
            for (const char *k = units; k <= u; k++)
                mult *= 1024;
            s++;
            if (lower(s[0]) == 'b' && s[1] == '\0')
                s++;
            else if (lower(s[0]) == 'i' && lower(s[1]) == 'b' && s[2] == '\0')
                s += 2;
        }
        if (*s != '\0')
            return -1;
    }
    value *= mult;
    if (value >= 9223372036854775808.0L)
        return -1;
    *out = (int64_t)value;
    return 0;
}

SWARM_API int swarm_parse_duration(int64_t *out, const char *text)
{
    if (swarm__parse_duration(out, text) != 0)
        return swarm__error_set(SWARM_EINVALID, "invalid duration \"%.200s\"", text ? text : "");
    return 0;
}

SWARM_API int swarm_parse_bytes(int64_t *out, const char *text)
{
    if (swarm__parse_bytes(out, text) != 0)
        return swarm__error_set(SWARM_EINVALID, "invalid size: '%.200s'", text ? text : "");
    return 0;
}

/* Writes v's last prec decimal digits as ".ddd" (trailing zeros dropped) before *end; returns v / 10^prec. */
static uint64_t put_fraction(char *buf, size_t *pos, uint64_t v, int prec)
{
    int print = 0;
    for (int i = 0; i < prec; i++) {
        char digit = (char)(v % 10);
        print = print || digit != 0;
        if (print)
            buf[--*pos] = (char)('0' + digit);
        v /= 10;
    }
    if (print)
        buf[--*pos] = '.';
    return v;
}

static void put_integer(char *buf, size_t *pos, uint64_t v)
{
    if (v == 0) {
        buf[--*pos] = '0';
        return;
    }
    while (v > 0) {
        buf[--*pos] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Go's time.Duration.String, built right to left. */
SWARM_API int swarm_format_duration(char *out, size_t size, int64_t nanoseconds)
{
    char buf[40];
    size_t pos = sizeof buf;
    int neg = nanoseconds < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)nanoseconds : (uint64_t)nanoseconds;
    if (u < 1000000000) {
        int prec = 0;
        buf[--pos] = 's';
        if (u == 0) {
            buf[--pos] = '0';
            goto done;
        } else if (u < 1000) {
            buf[--pos] = 'n';
        } else if (u < 1000000) {
            prec = 3;
            buf[--pos] = '\xb5'; /* "µ" in UTF-8, written backwards */
            buf[--pos] = '\xc2';
        } else {
            prec = 6;
            buf[--pos] = 'm';
        }
        u = put_fraction(buf, &pos, u, prec);
        put_integer(buf, &pos, u);
    } else {
        buf[--pos] = 's';
        u = put_fraction(buf, &pos, u, 9);
        put_integer(buf, &pos, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--pos] = 'm';
            put_integer(buf, &pos, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--pos] = 'h';
                put_integer(buf, &pos, u);
            }
        }
    }
done:
    if (neg)
        buf[--pos] = '-';
    size_t len = sizeof buf - pos;
    if (out != NULL && size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(out, buf + pos, n);
        out[n] = '\0';
    }
    return (int)len;
}
