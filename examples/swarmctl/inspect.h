/* swarmctl — docker's inspect output: an indented JSON array, or a template per object. */
#ifndef SWARMCTL_INSPECT_H
#define SWARMCTL_INSPECT_H

#include "json.h"
#include "strbuf.h"

typedef struct {
    const char *format;   /* NULL/"" = JSON array, "json" = compact array, else a template */
    json *items;          /* collected objects */
    strbuf text;          /* template output */
    int template_error;
} inspector;

void inspector_init(inspector *in, const char *format);
/* Adds one object (ownership taken). Returns 0, or 1 when the template failed (message printed). */
int inspector_add(inspector *in, json *obj);
/* Prints the result like docker's Flush ("[]" when nothing was found). */
void inspector_flush(inspector *in);

#endif
