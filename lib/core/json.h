/* Small helpers over jansson for Docker-shaped objects addressed by dotted paths ("Spec.Mode.Replicated"). */
#ifndef SWARM_CORE_JSON_H
#define SWARM_CORE_JSON_H

#include <jansson.h>
#include <stdint.h>

/* Parses text; on failure records SWARM_EINVALID "invalid JSON in WHAT: REASON (line L, column C)" and returns NULL. */
json_t *swarm__json_parse(const char *text, const char *what);

/* Borrowed value at a dotted path, or NULL if any step is missing or not an object. */
json_t *swarm__json_get(const json_t *root, const char *path);

/* Sets the value at a dotted path, creating intermediate objects; steals value. 0 or SWARM_ENOMEM/SWARM_EINVALID. */
int swarm__json_set(json_t *root, const char *path, json_t *value);

/* Removes the value at a dotted path if present. */
void swarm__json_del(json_t *root, const char *path);

/* String at path, or NULL if absent or not a string. Borrowed. */
const char *swarm__json_str(const json_t *root, const char *path);

/* Integer at path, or dflt if absent or not an integer. */
int64_t swarm__json_int(const json_t *root, const char *path, int64_t dflt);

/* Compact dump preserving key order; NULL on ENOMEM. Free with free(). */
char *swarm__json_dump(const json_t *v);

/* Pretty dump (4-space indent, like docker inspect). Free with free(). */
char *swarm__json_dump_pretty(const json_t *v);

#endif
