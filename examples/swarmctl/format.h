/*
 * swarmctl — docker's formatter.Context: renders rows through a format
 * ("table", "table {{.A}}\t{{.B}}", "json", or any template). Table formats
 * print the header row and align columns like docker's tabwriter.
 */
#ifndef SWARMCTL_FORMAT_H
#define SWARMCTL_FORMAT_H

#include "json.h"

#include <stdio.h>

/*
 * `header` maps field names to column titles; each row is an object of
 * fields (keys sorted, as {{json .}} prints them). Returns 0, or 1 after
 * printing a template error to stderr.
 */
int format_write(FILE *out, const char *format, const json *header, json *const *rows, size_t count);

/* The template text docker derives from a --format value (drops "table", expands \t and \n). */
char *format_template_text(const char *format);
int format_is_table(const char *format);

/* docker's Ellipsis: cuts to max display width with a trailing "…". */
char *ellipsis(const char *s, int max_width);
/* 12-character ID, as docker's TruncateID. */
void truncate_id(char *out, size_t size, const char *id);

#endif
