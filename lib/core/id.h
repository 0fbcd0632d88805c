/* Object IDs as Swarm makes them: 128 random bits written as 25 lowercase base36 characters. */
#ifndef SWARM_CORE_ID_H
#define SWARM_CORE_ID_H

#include "core/clock.h"

#define SWARM__ID_LEN 25

/* Fills out with a new ID from clk's random source. 0 or SWARM_EIO. */
int swarm__id_new(const swarm__clock *clk, char out[SWARM__ID_LEN + 1]);

/* 1 if s looks like an ID (25 characters of [0-9a-z]), else 0. */
int swarm__id_valid(const char *s);

#endif
