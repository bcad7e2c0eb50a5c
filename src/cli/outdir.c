/* The results folder of `collapse train` (outdir.h). */
#define _DEFAULT_SOURCE /* flock */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "collapse/sys.h"
#include "outdir.h"

static int writable(const char *out)
{
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.collapse-probe-XXXXXX", out);
    int fd = mkstemp(probe);
    if (fd < 0)
        return cl_cli_fail(1, "--out %s: cannot write there: %s", out, strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
}

int cl_cli_outdir_open(const char *out, int resume, cl_cli_outdir *d)
{
    d->fd = -1;
    d->created = 0;
    struct stat sb;
    if (stat(out, &sb) != 0) {
        if (resume)
            return cl_cli_fail(1, "--resume: %s does not exist: %s", out,
                               strerror(errno));
        if (cl_mkdir_p(out) != CL_OK)
            return cl_cli_fail(1, "--out %s: %s", out, cl_errmsg());
        d->created = 1;
    } else if (!S_ISDIR(sb.st_mode)) {
        return cl_cli_fail(1, "--out %s: not a folder", out);
    }
    if (writable(out)) goto fail;
    char lock[4200];
    snprintf(lock, sizeof lock, "%s/" CL_CLI_OUTDIR_LOCK, out);
    d->fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->fd < 0) {
        cl_cli_fail(1, "--out %s: cannot create %s: %s", out, lock, strerror(errno));
        goto fail;
    }
    if (flock(d->fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(d->fd);
        d->fd = -1;
        if (e == EWOULDBLOCK)
            return cl_cli_fail(
                1,
                "--out %s: another collapse train is running in this folder "
                "(%s is locked)",
                out, lock);
        return cl_cli_fail(1, "--out %s: cannot lock %s: %s", out, lock, strerror(e));
    }
    return 0;
fail:
    if (d->created) rmdir(out);
    d->created = 0;
    return 1;
}

int cl_cli_outdir_last_epoch(const char *out)
{
    char p[4200], line[256];
    snprintf(p, sizeof p, "%s/metrics.csv", out);
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    int last = -1;
    while (fgets(line, sizeof line, f)) {
        char *end;
        long e = strtol(line, &end, 10);
        if (end != line && *end == ',' && e > last && e < 1000000000) last = (int)e;
        while (!strchr(line, '\n') && fgets(line, sizeof line, f)) {} /* rest of a long row */
    }
    fclose(f);
    return last;
}

void cl_cli_outdir_close(const char *out, cl_cli_outdir *d, int remove)
{
    if (d->fd < 0) return;
    if (remove && d->created) {
        char lock[4200];
        snprintf(lock, sizeof lock, "%s/" CL_CLI_OUTDIR_LOCK, out);
        unlink(lock);
        rmdir(out); /* only if empty */
    }
    close(d->fd);
    d->fd = -1;
}
