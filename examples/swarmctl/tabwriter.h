/*
 * swarmctl — elastic tabstops as Go's text/tabwriter computes them (docker
 * uses minwidth 10, padding 3, padchar ' '): tab-terminated cells are aligned
 * in column blocks; the last cell of a line is never padded.
 */
#ifndef SWARMCTL_TABWRITER_H
#define SWARMCTL_TABWRITER_H

#include <stddef.h>

/* Returns the aligned text (malloc'ed). */
char *tabwriter_format(const char *text, int minwidth, int padding);

/* Display width of UTF-8 text (code points). */
int text_width(const char *s, size_t len);

#endif
