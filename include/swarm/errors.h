/*
 * libswarm — error codes and the per-thread last error.
 *
 * Every function that can fail returns an int: 0 on success or one of the
 * negative SWARM_E* codes below. The set is closed; new codes are only ever
 * appended. After a failure, swarm_error_last() describes it in words on the
 * calling thread (spec errors name the offending field, for example
 * "Mode.Replicated.Replicas: must be >= 0").
 */
#ifndef SWARM_ERRORS_H
#define SWARM_ERRORS_H

#include "common.h"

SWARM_BEGIN_DECLS

enum {
    SWARM_OK = 0,
    SWARM_EINVALID = -1,     /* bad argument, spec or option (HTTP 400) */
    SWARM_ENOTFOUND = -2,    /* no such object (404) */
    SWARM_EEXISTS = -3,      /* name already in use (409) */
    SWARM_ECONFLICT = -4,    /* stale version: the object changed since it was read */
    SWARM_ENOTLEADER = -5,   /* the managers have no leader (quorum lost or an election outlasted LeaderWait) */
    SWARM_EUNAVAILABLE = -6, /* not a manager / not part of a swarm / quorum lost (503) */
    SWARM_ETIMEDOUT = -7,    /* the call did not complete in time; outcome unknown */
    SWARM_ECLOSED = -8,      /* the handle is closing or closed */
    SWARM_EBUSY = -9,        /* resource in use (for example a state dir opened twice) */
    SWARM_ENOMEM = -10,      /* out of memory */
    SWARM_EIO = -11,         /* operating system I/O error */
    SWARM_EBACKEND = -12,    /* a backend (store, transport, runtime) failed */
    SWARM_ENOTSUPPORTED = -13 /* operation not supported by this node or build */
};

/** The last error seen on the calling thread. */
typedef struct swarm_error {
    int code;            /* one of SWARM_E*, or 0 if there was none */
    const char *message; /* never NULL; borrowed until the next libswarm call on this thread */
} swarm_error;

/**
 * The last error recorded on the calling thread. Never NULL; when no error
 * happened yet the code is 0 and the message is "no error". Successful calls
 * do not clear it.
 */
SWARM_API const swarm_error *swarm_error_last(void);

/** Code of swarm_error_last() (convenience for bindings). */
SWARM_API int swarm_error_last_code(void);

/** Message of swarm_error_last() (convenience for bindings). */
SWARM_API const char *swarm_error_last_message(void);

/** Resets the calling thread's last error to "no error". */
SWARM_API void swarm_error_clear(void);

/** A short static description of an error code ("not found", ...). */
SWARM_API const char *swarm_strerror(int code);

SWARM_END_DECLS

#endif
