/*
 * swarmctl — command-line flags with the behaviour and messages of spf13/pflag
 * as the docker CLI uses it ("--name value", "--name=value", "-abc", "--").
 */
#ifndef SWARMCTL_FLAGS_H
#define SWARMCTL_FLAGS_H

#include "strbuf.h"

#include <stdint.h>

typedef enum {
    FLAG_BOOL,
    FLAG_STRING,
    FLAG_LIST,      /* repeatable string */
    FLAG_UINT,      /* strconv.ParseUint(s, 0, 64) */
    FLAG_DURATION,  /* Go duration, nanoseconds */
    FLAG_BYTES,     /* memory size */
    FLAG_CPUS,      /* decimal CPUs, stored as NanoCPUs */
    FLAG_INT,       /* strconv.ParseInt(s, 0, 64), stored in i */
} flag_type;

/* Optional extra check for list items; returns NULL or a malloc'ed error and may rewrite *value. */
typedef char *(*flag_validator)(char **value);

typedef struct flag_def {
    const char *name;
    char shorthand;
    flag_type type;
    const char *usage;
    const char *default_text;  /* shown as (default X) in help */
    flag_validator validate;
    const char *type_text;     /* NULL, or the value type shown in help ("node-addr") */
    /* Parsed state. */
    int changed;
    int b;
    char *s;
    strlist list;
    uint64_t u;
    int64_t i;
} flag_def;

typedef struct command_info {
    const char *path;   /* "service create" */
    const char *use;    /* "swarmctl service create [OPTIONS] IMAGE [COMMAND] [ARG...]" */
    const char *short_help;
    const char *aliases; /* NULL or "ls, list" */
} command_info;

/*
 * Parses argv (after the command words) into defs (terminated by a NULL
 * name). Positional arguments go to *args. With interspersed == 0, parsing
 * stops at the first positional. Returns 0, 1 after printing an error, or 2
 * when --help was printed (the caller exits 0).
 */
int flags_parse(const command_info *cmd, flag_def *defs, int argc, char **argv, int interspersed, strlist *args);

flag_def *flag_find(flag_def *defs, const char *name);
int flag_changed(flag_def *defs, const char *name);

void flags_print_help(const command_info *cmd, const flag_def *defs);
/* Prints "MSG\nSee 'swarmctl PATH --help'." and returns 1. */
int flags_usage_error(const command_info *cmd, const char *msg);

void flags_reset(flag_def *defs);

/* Checks the positional count (max < 0: unbounded); prints docker's message and returns 1 when wrong. */
int flags_check_args(const command_info *cmd, size_t have, int min, int max);

/* Parses a decimal CPU count ("0.5") into nano CPUs; NULL or malloc'ed error. */
char *parse_cpus(int64_t *out, const char *text);

#endif
