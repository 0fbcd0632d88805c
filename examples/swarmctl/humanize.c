/* swarmctl — docker's human-readable times and sizes. */
#include "humanize.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void human_duration(char *out, size_t size, int64_t ns)
{
    int64_t seconds = ns / 1000000000LL;
    int64_t minutes = ns / 60000000000LL;
    int64_t hours = (int64_t)((double)ns / 3.6e12 + 0.5);
    if (seconds < 1)
        snprintf(out, size, "Less than a second");
    else if (seconds == 1)
        snprintf(out, size, "1 second");
    else if (seconds < 60)
        snprintf(out, size, "%lld seconds", (long long)seconds);
    else if (minutes == 1)
        snprintf(out, size, "About a minute");
    else if (minutes < 60)
        snprintf(out, size, "%lld minutes", (long long)minutes);
    else if (hours == 1)
        snprintf(out, size, "About an hour");
    else if (hours < 48)
        snprintf(out, size, "%lld hours", (long long)hours);
    else if (hours < 24 * 7 * 2)
        snprintf(out, size, "%lld days", (long long)(hours / 24));
    else if (hours < 24 * 30 * 2)
        snprintf(out, size, "%lld weeks", (long long)(hours / 24 / 7));
    else if (hours < 24 * 365 * 2)
        snprintf(out, size, "%lld months", (long long)(hours / 24 / 30));
    else
        snprintf(out, size, "%lld years", (long long)(ns / 3600000000000LL / 24 / 365));
}

void bytes_size(char *out, size_t size, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
    int i = 0;
    while (bytes >= 1024.0 && i < 8) {
        bytes /= 1024.0;
        i++;
    }
    snprintf(out, size, "%.4g%s", bytes, units[i]);
}

int parse_rfc3339(int64_t *out, const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(text ? text : "", "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        p++;
        while (isdigit((unsigned char)*p)) {
            if (digits < 9) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
        while (digits++ < 9)
            frac *= 10;
    }
    int64_t offset = 0;
    if (*p == '+' || *p == '-') {
        int hh = 0, mm = 0;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return -1;
        offset = (hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
    } else if (*p != 'Z' && *p != 'z') {
        return -1;
    }
    time_t t = timegm(&tm);
    *out = ((int64_t)t - offset) * 1000000000LL + frac;
    return 0;
}

void go_time_string(char *out, size_t size, const char *rfc3339)
{
    int64_t ns;
    if (parse_rfc3339(&ns, rfc3339) != 0) {
        snprintf(out, size, "%s", rfc3339 ? rfc3339 : "");
        return;
    }
    time_t secs = (time_t)(ns / 1000000000LL);
    long frac = (long)(ns % 1000000000LL);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    char fraction[16] = "";
    if (frac) {
        snprintf(fraction, sizeof fraction, ".%09ld", frac);
        size_t n = strlen(fraction);
        while (n > 1 && fraction[n - 1] == '0')
            fraction[--n] = '\0';
    }
    snprintf(out, size, "%s%s +0000 UTC", date, fraction);
}

int64_t now_nanoseconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void capitalize_first(char *out, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (size == 0)
        return;
    snprintf(out, size, "%s", s);
    if (n == 1) {
        out[0] = (char)tolower((unsigned char)out[0]);
        return;
    }
    for (size_t i = 0; out[i]; i++)
        out[i] = (char)(i == 0 ? toupper((unsigned char)out[i]) : tolower((unsigned char)out[i]));
}

void task_current_state(char *out, size_t size, const char *state, const char *timestamp)
{
    char pretty[64], human[64];
    capitalize_first(pretty, sizeof pretty, state);
    int64_t then;
    int64_t elapsed = parse_rfc3339(&then, timestamp) == 0 ? now_nanoseconds() - then : now_nanoseconds();
    human_duration(human, sizeof human, elapsed);
    for (char *p = human; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(out, size, "%s %s ago", pretty, human);
}
