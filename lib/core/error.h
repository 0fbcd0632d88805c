/* Per-thread last error and the value type that carries an error across threads. */
#ifndef SWARM_CORE_ERROR_H
#define SWARM_CORE_ERROR_H

#include "swarm/errors.h"

#define SWARM__ERRMSG_MAX 512

/* An error as a value: filled on one thread (the loop), reported on another. */
typedef struct swarm__err {
    int code;
    char message[SWARM__ERRMSG_MAX];
} swarm__err;

/* Records code + formatted message as the calling thread's last error; returns code. */
int swarm__error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Same, into an error value instead of the thread's last error; returns code. NULL e is allowed. */
int swarm__err_set(swarm__err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Copies the calling thread's last error into e; returns its code. */
int swarm__err_capture(swarm__err *e);

/* Makes e the calling thread's last error; returns its code. */
int swarm__err_raise(const swarm__err *e);

/* SWARM_ENOMEM with a fixed message; returns SWARM_ENOMEM. */
int swarm__error_nomem(void);

#endif
