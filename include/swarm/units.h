/*
 * libswarm — the units docker's flags use: Go durations ("1m30s") and
 * memory sizes ("512M", "1.5g"). Specs given as JSON also accept these strings
 * wherever Docker's API wants nanoseconds or bytes.
 */
#ifndef SWARM_UNITS_H
#define SWARM_UNITS_H

#include "common.h"

SWARM_BEGIN_DECLS

/**
 * Parses a Go duration ("300ms", "-1.5h", "2h45m", "0") into nanoseconds.
 * Units: ns, us (µs), ms, s, m, h. Returns 0, or SWARM_EINVALID with the
 * message `invalid duration "TEXT"` (also for overflow). Thread-safe.
 */
SWARM_API int swarm_parse_duration(int64_t *out, const char *text);

/**
 * Parses a memory size as docker does (RAMInBytes): a decimal number with an
 * optional binary suffix b, k, m, g, t, p (case-insensitive, an optional
 * trailing "b"/"ib": "512m", "1.5GiB", "100"). Returns 0, or SWARM_EINVALID
 * with the message `invalid size: 'TEXT'`. Thread-safe.
 */
SWARM_API int swarm_parse_bytes(int64_t *out, const char *text);

/**
 * Formats nanoseconds as Go does ("1m30s", "5s", "0s"). Returns the length
 * written (excluding NUL); `out` must hold at least 32 bytes.
 */
SWARM_API int swarm_format_duration(char *out, size_t size, int64_t nanoseconds);

SWARM_END_DECLS

#endif
