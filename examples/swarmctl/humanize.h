/* swarmctl — docker's human-readable times and sizes (go-units). */
#ifndef SWARMCTL_HUMANIZE_H
#define SWARMCTL_HUMANIZE_H

#include <stddef.h>
#include <stdint.h>

/* go-units HumanDuration: "Less than a second", "1 second", "About a minute", "3 hours"... */
void human_duration(char *out, size_t size, int64_t nanoseconds);
/* go-units BytesSize: "%.4g" with binary units ("23.54GiB"). */
void bytes_size(char *out, size_t size, double bytes);
/* Parses RFC 3339 ("2026-11-29T18:05:56.905776105Z") into Unix nanoseconds; 0 on success. */
int parse_rfc3339(int64_t *out, const char *text);
/* Go's time.Time String(): "2026-11-29 18:05:24.348322774 +0000 UTC". */
void go_time_string(char *out, size_t size, const char *rfc3339);
int64_t now_nanoseconds(void);
/* "Running 12 seconds ago" as docker's task formatter prints it (state capitalised, time in lower case). */
void task_current_state(char *out, size_t size, const char *state, const char *timestamp);
/* docker's PrettyPrint: first letter upper-cased, the rest lower-cased. */
void capitalize_first(char *out, size_t size, const char *s);

#endif
