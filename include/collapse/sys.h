/* Operating-system helpers shared by every module: folders, the clock and
 * the machine's memory.
 * Kept in core so that io/, data/, study/ and the CLI do not each carry
 * their own copy. */
#ifndef COLLAPSE_SYS_H
#define COLLAPSE_SYS_H

#include <stdint.h>

#include "collapse/error.h"

/* Creates `dir` and any missing parents (mode 0777 before umask), like
 * `mkdir -p`. An existing folder is fine. Errors: CL_EINVAL (path too long),
 * CL_EIO (a component cannot be created, or exists and is not a folder);
 * the message names the component. */
cl_status cl_mkdir_p(const char *dir);

/* Seconds on the monotonic clock (CLOCK_MONOTONIC): for durations only. */
double cl_clock_seconds(void);

/* Physical memory of the machine in bytes (sysconf), 0 when unknown. For
 * refusing a job that cannot fit before allocating it (allocations succeed
 * under overcommit and the job is killed later, when it touches them). */
int64_t cl_sys_memory_bytes(void);

#endif
