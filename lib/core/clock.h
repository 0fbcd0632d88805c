/*
 * Time and randomness, behind one interface so that a whole cluster can run
 * in one process on a virtual clock. Nodes take a clock at open; the default
 * is the system's (CLOCK_REALTIME, CLOCK_MONOTONIC, getrandom).
 */
#ifndef SWARM_CORE_CLOCK_H
#define SWARM_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

typedef struct swarm__clock {
    int64_t (*wall_ns)(void *data); /* nanoseconds since the Unix epoch */
    int64_t (*mono_ns)(void *data); /* monotonic nanoseconds */
    int (*random)(void *data, void *buf, size_t len); /* 0 or SWARM_EIO; cryptographic */
    void *data;
} swarm__clock;

const swarm__clock *swarm__clock_system(void);

/* Formats Unix nanoseconds as Go's RFC3339Nano in UTC ("2026-11-29T18:05:56.9087752Z"). */
#define SWARM__TIME_LEN 40
void swarm__time_format(char out[SWARM__TIME_LEN], int64_t unix_ns);

/* Parses RFC 3339 (fraction and offset optional). 0 or SWARM_EINVALID. */
int swarm__time_parse(int64_t *out, const char *text);

#endif
