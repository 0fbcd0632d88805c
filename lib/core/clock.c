#include "core/clock.h"

#include "swarm/errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static int64_t sys_wall(void *data)
{
    (void)data;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t sys_mono(void *data)
{
    (void)data;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int sys_random(void *data, void *buf, size_t len)
{
    (void)data;
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return SWARM_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static const swarm__clock system_clock = {sys_wall, sys_mono, sys_random, NULL};

const swarm__clock *swarm__clock_system(void)
{
    return &system_clock;
}

void swarm__time_format(char out[SWARM__TIME_LEN], int64_t unix_ns)
{
    int64_t sec = unix_ns / 1000000000;
    int64_t frac = unix_ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, SWARM__TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac != 0) {
        char digits[11];
        snprintf(digits, sizeof digits, ".%09lld", (long long)frac);
        size_t len = strlen(digits);
        while (digits[len - 1] == '0')
            digits[--len] = '\0';
        memcpy(out + n, digits, len);
        n += len;
    }
    out[n++] = 'Z';
    out[n] = '\0';
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int swarm__time_parse(int64_t *out, const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int year, mon, day, hh, mm, ss;
    const char *s = text;
    if (strlen(s) < 19 || digits(s, 4, &year) || s[4] != '-' || digits(s + 5, 2, &mon) || s[7] != '-' ||
        digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || digits(s + 11, 2, &hh) ||
        s[13] != ':' || digits(s + 14, 2, &mm) || s[16] != ':' || digits(s + 17, 2, &ss))
        return SWARM_EINVALID;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
        return SWARM_EINVALID;
    s += 19;
    int64_t frac = 0;
    if (*s == '.') {
        s++;
        int n = 0;
        while (*s >= '0' && *s <= '9') {
            if (n < 9) {
                frac = frac * 10 + (*s - '0');
                n++;
            }
            s++;
        }
        if (n == 0)
            return SWARM_EINVALID;
        while (n++ < 9)
            frac *= 10;
    }
    int64_t offset = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int oh, om;
        if (digits(s + 1, 2, &oh) || s[3] != ':' || digits(s + 4, 2, &om))
            return SWARM_EINVALID;
        offset = (int64_t)(oh * 3600 + om * 60) * (*s == '-' ? -1 : 1);
        s += 6;
    } else {
        return SWARM_EINVALID;
    }
    if (*s != '\0')
        return SWARM_EINVALID;
    /* Beyond these years nanoseconds since 1970 overflow int64. */
    if (year < 1678 || year > 2261)
        return SWARM_EINVALID;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    time_t t = timegm(&tm);
    *out = ((int64_t)t - offset) * 1000000000 + frac;
    return 0;
}
