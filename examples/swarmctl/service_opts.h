/*
 * swarmctl — the service flags shared by "service create" and "service
 * update", and how they become a ServiceSpec the way docker builds it.
 */
#ifndef SWARMCTL_SERVICE_OPTS_H
#define SWARMCTL_SERVICE_OPTS_H

#include "cli.h"

/* Flag tables (terminated by a zeroed entry); the caller owns the returned copy. */
flag_def *service_create_flags(void);
flag_def *service_update_flags(void);
void service_flags_free(flag_def *defs);

/* Builds the create spec; NULL with *err (malloc'ed) on a bad combination. */
json *service_spec_from_flags(flag_def *defs, const char *image, const strlist *args, char **err);
/* Applies update flags to a stored spec; 0, or -1 with *err. */
int service_spec_update(json *spec, flag_def *defs, char **err);

/* "--publish" values (short "8080:80/udp" or long "published=8080,target=80") as PortConfig objects. */
char *parse_publish(json *ports_out, const char *value);
/* Splits a string like a POSIX shell (docker's --args); -1 on unbalanced quotes. */
int shell_split(const char *text, strlist *out);

#endif
