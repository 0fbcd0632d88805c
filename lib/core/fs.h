/* Small filesystem helpers shared by the engine and the process runtime. */
#ifndef SWARM_CORE_FS_H
#define SWARM_CORE_FS_H

#include <sys/types.h>

/* Removes a directory tree (best effort; symlinks are removed, not followed). */
void swarm__remove_tree(const char *path);

/* mkdir -p with mode; 0, or -1 with errno (ENOTDIR if a component is a file). */
int swarm__mkdir_p(const char *path, mode_t mode);

#endif
