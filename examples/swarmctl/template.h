/*
 * swarmctl — the part of Go's text/template that docker's --format uses:
 * {{.Field.Sub}}, {{json .}}, {{upper/lower/title/println/len/join ...}},
 * {{if}}/{{else}}/{{end}}, {{range}}, and "{{-"/"-}}" whitespace trimming,
 * evaluated over a JSON value.
 */
#ifndef SWARMCTL_TEMPLATE_H
#define SWARMCTL_TEMPLATE_H

#include "json.h"

typedef struct tmpl tmpl;

/* Parses `text`; on error returns NULL and sets *err (malloc'ed). */
tmpl *tmpl_parse(const char *text, char **err);
/*
 * Executes over `dot`. With strict set, a field missing from an object is an
 * error (docker's typed contexts); otherwise it prints "<no value>".
 * Returns malloc'ed text or NULL with *err set.
 */
char *tmpl_execute(const tmpl *t, const json *dot, int strict, char **err);
void tmpl_free(tmpl *t);

#endif
