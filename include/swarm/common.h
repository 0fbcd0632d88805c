/*
 * libswarm — common definitions shared by every public header.
 *
 * Every public function is declared with SWARM_API; nothing else is exported
 * from libswarm.so. Headers are valid C99 and C++.
 */
#ifndef SWARM_COMMON_H
#define SWARM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && defined(SWARM_BUILDING_LIBRARY)
#define SWARM_API __attribute__((visibility("default")))
#else
#define SWARM_API
#endif

#ifdef __cplusplus
#define SWARM_BEGIN_DECLS extern "C" {
#define SWARM_END_DECLS }
#else
#define SWARM_BEGIN_DECLS
#define SWARM_END_DECLS
#endif

SWARM_BEGIN_DECLS

/**
 * Frees memory that libswarm handed to the caller: JSON text (`char *`) and the
 * arrays returned by the list functions (after their elements are freed with
 * the type's own free). NULL is allowed. Thread-safe.
 */
SWARM_API void swarm_free(void *ptr);

/** Version of the library as "MAJOR.MINOR.PATCH". Static string. */
SWARM_API const char *swarm_version(void);

SWARM_END_DECLS

#endif
