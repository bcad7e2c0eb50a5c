/* Fault injection for the write-fault tests (tests/test_faults.c): an
 * LD_PRELOAD library that makes the Nth write to a regular file fail.
 *
 *   COLLAPSE_FAULT_WRITE=N     the Nth counted call fails (1-based; unset or
 *                              0: nothing fails, calls are only counted)
 *   COLLAPSE_FAULT_ERRNO=E     ENOSPC (default) or EIO
 *   COLLAPSE_FAULT_STICKY=1    every counted call from the Nth on fails (a
 *                              full disk); default: only the Nth
 *   COLLAPSE_FAULT_LOG=FILE    appends "N call path" per counted call
 *   COLLAPSE_FAULT_KILL=1      SIGKILL the process at the Nth call instead of
 *                              failing it: a kill -9 in the middle of a
 *                              write (tools/crashtest.sh)
 *
 * Counted calls: the stdio and syscall entry points that collapse, libpng
 * and PLplot's cairo driver use to write files (fwrite, fputs, fputc, putc,
 * fprintf, vfprintf and their _chk forms, write, fflush, fsync, fdatasync,
 * fclose), when they target a regular file (fstat S_ISREG) other than
 * stdout/stderr. glibc's own internal calls (the flush inside fclose, the
 * write under fwrite) do not go through these symbols, so each call of the
 * program counts once. A failing call writes nothing and returns the call's
 * error value with errno set; a failing fclose still closes the stream.
 *
 * Built by the Makefile as $(BUILD)/tests/faultshim.so (not part of the
 * test binary). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_long calls;

typedef struct {
    long n;     /* fail the nth counted call; 0 = never */
    int err;    /* errno to report */
    int sticky; /* fail every call from n on */
    int kill;   /* SIGKILL the process at the nth call instead (tools/crashtest.sh) */
    int log_fd; /* -1 = no log */
} shim_cfg;

static shim_cfg *cfg(void)
{
    static shim_cfg c;
    static atomic_int state; /* 0 unread, 1 reading, 2 ready */
    int want = 0;
    if (atomic_compare_exchange_strong(&state, &want, 1)) {
        const char *n = getenv("COLLAPSE_FAULT_WRITE"), *e = getenv("COLLAPSE_FAULT_ERRNO");
        const char *s = getenv("COLLAPSE_FAULT_STICKY"), *l = getenv("COLLAPSE_FAULT_LOG");
        c.n = n ? atol(n) : 0;
        c.err = e && !strcmp(e, "EIO") ? EIO : ENOSPC;
        c.sticky = s && atoi(s) != 0;
        const char *kl = getenv("COLLAPSE_FAULT_KILL");
        c.kill = kl && atoi(kl) != 0;
        c.log_fd = l ? (int)syscall(SYS_open, l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)
                     : -1;
        atomic_store(&state, 2);
    }
    while (atomic_load(&state) != 2) {
    }
    return &c;
}

static void *real(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) abort();
    return p;
}

static void log_call(const shim_cfg *c, long k, const char *fn, int fd)
{
    char link[64], path[1024], line[1200];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    path[n > 0 ? n : 0] = 0;
    int len = snprintf(line, sizeof line, "%ld %s %s\n", k, fn, path);
    if (len > 0) syscall(SYS_write, c->log_fd, line, (size_t)len);
}

/* 1 if this call on fd must fail (errno is then set). Descriptors open
 * only for reading are not counted (an fclose after reading a file), except
 * by fsync (a file written by name is synced through a new descriptor). */
static int fail_now_on(int fd, const char *fn, int any_mode)
{
    struct stat sb;
    if (fd <= 2 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) return 0;
    if (!any_mode && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY) return 0;
    shim_cfg *c = cfg();
    if (fd == c->log_fd) return 0;
    long k = atomic_fetch_add(&calls, 1) + 1;
    if (c->log_fd >= 0) log_call(c, k, fn, fd);
    if (c->n <= 0 || k < c->n || (k > c->n && !c->sticky)) return 0;
    if (c->kill) syscall(SYS_kill, (long)getpid(), (long)SIGKILL); /* in the middle of a write */
    errno = c->err;
    return 1;
}

static int fail_now(int fd, const char *fn) { return fail_now_on(fd, fn, 0); }

static int file_fd(FILE *f) { return f ? fileno(f) : -1; }

size_t fwrite(const void *p, size_t size, size_t n, FILE *f)
{
    static size_t (*fn)(const void *, size_t, size_t, FILE *);
    if (!fn) fn = real("fwrite");
    if (size && n && fail_now(file_fd(f), "fwrite")) return 0;
    return fn(p, size, n, f);
}

int fputs(const char *s, FILE *f)
{
    static int (*fn)(const char *, FILE *);
    if (!fn) fn = real("fputs");
    if (fail_now(file_fd(f), "fputs")) return EOF;
    return fn(s, f);
}

int fputc(int ch, FILE *f)
{
    static int (*fn)(int, FILE *);
    if (!fn) fn = real("fputc");
    if (fail_now(file_fd(f), "fputc")) return EOF;
    return fn(ch, f);
}

int putc(int ch, FILE *f)
{
    static int (*fn)(int, FILE *);
    if (!fn) fn = real("putc");
    if (fail_now(file_fd(f), "putc")) return EOF;
    return fn(ch, f);
}

int vfprintf(FILE *f, const char *fmt, va_list ap)
{
    static int (*fn)(FILE *, const char *, va_list);
    if (!fn) fn = real("vfprintf");
    if (fail_now(file_fd(f), "vfprintf")) return -1;
    return fn(f, fmt, ap);
}

int fprintf(FILE *f, const char *fmt, ...)
{
    static int (*fn)(FILE *, const char *, va_list);
    if (!fn) fn = real("vfprintf");
    if (fail_now(file_fd(f), "fprintf")) return -1;
    va_list ap;
    va_start(ap, fmt);
    int r = fn(f, fmt, ap);
    va_end(ap);
    return r;
}

int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap);
int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap)
{
    static int (*fn)(FILE *, int, const char *, va_list);
    if (!fn) fn = real("__vfprintf_chk");
    if (fail_now(file_fd(f), "__vfprintf_chk")) return -1;
    return fn(f, flag, fmt, ap);
}

int __fprintf_chk(FILE *f, int flag, const char *fmt, ...);
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
    static int (*fn)(FILE *, int, const char *, va_list);
    if (!fn) fn = real("__vfprintf_chk");
    if (fail_now(file_fd(f), "__fprintf_chk")) return -1;
    va_list ap;
    va_start(ap, fmt);
    int r = fn(f, flag, fmt, ap);
    va_end(ap);
    return r;
}

ssize_t write(int fd, const void *p, size_t n)
{
    static ssize_t (*fn)(int, const void *, size_t);
    if (!fn) fn = real("write");
    if (n && fail_now(fd, "write")) return -1;
    return fn(fd, p, n);
}

int fflush(FILE *f)
{
    static int (*fn)(FILE *);
    if (!fn) fn = real("fflush");
    if (fail_now(file_fd(f), "fflush")) return EOF;
    return fn(f);
}

int fsync(int fd)
{
    static int (*fn)(int);
    if (!fn) fn = real("fsync");
    if (fail_now_on(fd, "fsync", 1)) return -1;
    return fn(fd);
}

int fdatasync(int fd)
{
    static int (*fn)(int);
    if (!fn) fn = real("fdatasync");
    if (fail_now_on(fd, "fdatasync", 1)) return -1;
    return fn(fd);
}

int fclose(FILE *f)
{
    static int (*fn)(FILE *);
    if (!fn) fn = real("fclose");
    int bad = fail_now(file_fd(f), "fclose");
    int e = errno;
    int r = fn(f);
    if (!bad) return r;
    errno = e;
    return EOF;
}
