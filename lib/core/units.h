/*
 * Internal unit parsers: the same grammar as the public swarm_parse_duration /
 * swarm_parse_bytes (include/swarm/units.h), but they report failure with -1
 * and never touch the thread's last error, so that callers (spec validation)
 * can word the error themselves.
 */
#ifndef SWARM_CORE_UNITS_H
#define SWARM_CORE_UNITS_H

#include <stdint.h>

/* Go time.ParseDuration: "300ms", "-1.5h", "1h2m3.5s", "0". 0, or -1 (syntax or overflow). */
int swarm__parse_duration(int64_t *out, const char *text);

/* docker's units.RAMInBytes: "1024", "1k", "1.5g", "512MiB", "10mb" (binary multiples). 0 or -1. */
int swarm__parse_bytes(int64_t *out, const char *text);

#endif
