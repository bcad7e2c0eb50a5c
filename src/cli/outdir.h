/* The results folder of `collapse train`: checked, created and locked
 * before any data is loaded or any training starts. */
#ifndef COLLAPSE_CLI_OUTDIR_H
#define COLLAPSE_CLI_OUTDIR_H

#define CL_CLI_OUTDIR_LOCK "train.lock" /* the lock file's name in OUT */

typedef struct {
    int fd;      /* the open lock file OUT/train.lock, -1 = none */
    int created; /* 1: this process created OUT */
} cl_cli_outdir;

/* Makes OUT usable: with resume it must exist, else it is created (mkdir
 * -p) if missing; it must be a folder we can write in (probed by creating
 * and removing a temp file: permission bits do not stop root); then
 * OUT/train.lock is locked with flock(LOCK_EX | LOCK_NB) for the life of
 * the process (the kernel drops the lock when the process dies, so a
 * crashed run leaves nothing stuck). Returns 0, or the exit status (1)
 * after printing one line naming the folder ("--out OUT: ..."). */
int cl_cli_outdir_open(const char *out, int resume, cl_cli_outdir *d);

/* The largest epoch of OUT/metrics.csv's rows (their first column), -1 if
 * the file is missing or has none. */
int cl_cli_outdir_last_epoch(const char *out);

/* Releases the lock. remove != 0 (a run that failed before writing
 * anything into a folder it created): also removes the lock file and the
 * folder if it is then empty. */
void cl_cli_outdir_close(const char *out, cl_cli_outdir *d, int remove);

#endif
