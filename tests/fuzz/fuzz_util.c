/* Scratch-folder helpers shared by the fuzz harnesses (see fuzz.h). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* One scratch folder per process: the harness API is fuzz_<target>(data,
 * size), so this state cannot be passed in. Test code only. */
static char g_dir[256];

void fuzz_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", what, file, line);
    abort();
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p) == 0 || errno == ENOENT ? 0 : -1;
}

void fuzz_cleanup(void)
{
    if (!g_dir[0]) return;
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    g_dir[0] = 0;
}

const char *fuzz_dir(void)
{
    if (g_dir[0]) return g_dir;
    struct stat sb;
    const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : NULL;
    if (!base) base = getenv("TMPDIR");
    if (!base || !base[0]) base = "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/clfuzz.XXXXXX", base);
    if (!mkdtemp(g_dir)) {
        snprintf(g_dir, sizeof g_dir, "/tmp/clfuzz.XXXXXX");
        FUZZ_CHECK(mkdtemp(g_dir) != NULL);
    }
    static int registered;
    if (!registered) {
        registered = 1;
        atexit(fuzz_cleanup);
    }
    return g_dir;
}

void fuzz_path(char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", fuzz_dir(), name);
    FUZZ_CHECK(n > 0 && (size_t)n < cap);
}

void fuzz_write(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0);
    /* open returns the lowest free descriptor: if it ever grows, a parser
     * run in between left a file open */
    static int first_fd = -1;
    if (first_fd < 0) first_fd = fd;
    FUZZ_CHECK(fd <= first_fd);
    const unsigned char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        FUZZ_CHECK(w > 0);
        p += w;
        n -= (size_t)w;
    }
    FUZZ_CHECK(close(fd) == 0);
}

void fuzz_mkdir(const char *path)
{
    FUZZ_CHECK(mkdir(path, 0700) == 0 || errno == EEXIST);
}

void fuzz_unlink(const char *path)
{
    FUZZ_CHECK(unlink(path) == 0 || errno == ENOENT);
}

uint64_t fuzz_touch(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += b[i];
    return s;
}
