/*
 * swarmctl — how docker's jsonmessage stream shows progress: on a terminal,
 * one line per ID redrawn in place (with a bar when wider than 110 columns);
 * otherwise appended lines, leaving out any line that would carry a bar.
 */
#ifndef SWARMCTL_PROGRESS_DISPLAY_H
#define SWARMCTL_PROGRESS_DISPLAY_H

#include "strbuf.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *out;   /* NULL: discard everything (--quiet) */
    int tty;
    int width;
    strlist ids; /* IDs of the lines drawn since the last plain message */
} progress_display;

void display_init(progress_display *d, FILE *out);
void display_free(progress_display *d);
/* A progress record: `status` with an optional bar (current/total > 0). */
void display_progress(progress_display *d, const char *id, const char *status, int64_t current, int64_t total);
/* A plain status message; ends in-place updating of earlier lines. */
void display_message(progress_display *d, const char *id, const char *message);

#endif
