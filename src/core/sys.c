/* Folders and the monotonic clock (see collapse/sys.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collapse/sys.h"

#define SYS_PATH_CAP 4096

cl_status cl_mkdir_p(const char *dir)
{
    char buf[SYS_PATH_CAP];
    if (!dir || !*dir) return cl_error(CL_EINVAL, "empty folder name");
    if ((size_t)snprintf(buf, sizeof buf, "%s", dir) >= sizeof buf)
        return cl_error(CL_EINVAL, "%s: path too long", dir);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char ch = *p;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return cl_error(CL_EIO, "%s: cannot create folder: %s", buf, strerror(errno));
        if (!ch) break;
        *p = ch;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cl_error(CL_EIO, "%s: not a folder", dir);
    return CL_OK;
}

double cl_clock_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int64_t cl_sys_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || size <= 0) return 0;
    return (int64_t)pages * (int64_t)size;
}
