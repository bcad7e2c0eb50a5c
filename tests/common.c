/* Helpers shared by the tests: see common.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "common.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collapse/mem.h"

/* ---- temporary folders ---- */

void tc_tmpdir_make(char *dir, size_t cap, const char *tag)
{
    int n = snprintf(dir, cap, "/tmp/cl_%s_XXXXXX", tag);
    cr_assert(n > 0 && (size_t)n < cap, "temp folder name too long for tag %s", tag);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 ? 0 : errno;
}

void tc_tmpdir_remove(const char *dir)
{
    struct stat sb;
    if (lstat(dir, &sb) != 0 && errno == ENOENT) return;
    int rc = nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    cr_assert_eq(rc, 0, "removing %s: %s", dir, rc > 0 ? strerror(rc) : "nftw failed");
}

/* The folder of the running test. A file-level variable is fine here:
 * Criterion runs each test in its own process. */
static char tmp_of_test[64];

void tc_tmp_init(void)
{
    tc_tmpdir_make(tmp_of_test, sizeof tmp_of_test, "test");
}

void tc_tmp_fini(void)
{
    if (tmp_of_test[0]) tc_tmpdir_remove(tmp_of_test);
    tmp_of_test[0] = 0;
}

const char *tc_tmpdir(void)
{
    cr_assert(tmp_of_test[0], "no temp folder: the suite needs .init = tc_tmp_init");
    return tmp_of_test;
}

char *tc_path(char *buf, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    cr_assert(n > 0 && (size_t)n < cap, "path %s/%s too long", dir, name);
    return buf;
}

const char *tpath(const char *name)
{
    static char buf[TPATH_SLOTS][256];
    static int k;
    k = (k + 1) % TPATH_SLOTS;
    return tc_path(buf[k], sizeof buf[k], tc_tmpdir(), name);
}

/* ---- files ---- */

void tc_write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(p, 1, n, f), n, "%s", path);
    cr_assert_eq(fclose(f), 0, "%s", path);
}

void tc_write_text(const char *path, const char *text)
{
    tc_write_file(path, text, strlen(text));
}

char *tc_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    cr_assert(n >= 0, "%s", path);
    char *s = malloc((size_t)n + 1);
    cr_assert(s);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n, "%s", path);
    s[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return s;
}

int tc_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

int64_t tc_count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    int64_t n = 0;
    for (int ch; (ch = fgetc(f)) != EOF;)
        n += ch == '\n';
    fclose(f);
    return n;
}

int tc_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

int tc_is_png(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char b[8];
    int ok = fread(b, 1, 8, f) == 8 && !memcmp(b, sig, 8);
    fseek(f, 0, SEEK_END);
    ok = ok && ftell(f) > 100;
    fclose(f);
    return ok;
}

/* ---- numbers and specs ---- */

float *tc_randn(int64_t n, cl_rng *r, double scale, double shift)
{
    float *a = cl_alloc_array((size_t)n + 1, sizeof(float), "test");
    cr_assert(a);
    for (int64_t i = 0; i < n; i++)
        a[i] = (float)(shift + scale * cl_rng_normal(r));
    return a;
}

double tc_err_ratio(const float *a, const float *ref, const float *R, int64_t n)
{
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= e)) e = isnan(d) ? INFINITY : d;
        if (R[i] > s) s = R[i];
    }
    return e / fmax(s, 1e-30);
}

cl_layer_spec tc_spec(cl_layer_kind kind, int out)
{
    cl_layer_spec s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.out = out;
    s.bias = 1;
    return s;
}

void tc_expect_err(cl_status got, cl_status want, const char *a, const char *b)
{
    cr_assert_eq(got, want, "status %d, want %d (%s)", got, want, cl_errmsg());
    cr_assert(strstr(cl_errmsg(), a), "'%s' lacks '%s'", cl_errmsg(), a);
    if (b) cr_assert(strstr(cl_errmsg(), b), "'%s' lacks '%s'", cl_errmsg(), b);
    cr_assert_null(strchr(cl_errmsg(), '\n'), "one line: %s", cl_errmsg());
}

/* ---- running the CLI ---- */

#define MAXARGS 64

const char *tc_bin(void)
{
    const char *b = getenv("COLLAPSE_BIN");
    cr_assert(b, "COLLAPSE_BIN is not set (run through make test)");
    return b;
}

pid_t tc_spawn(const char *out, const char *err, const char *const *args)
{
    const char *argv[MAXARGS + 2];
    int n = 0;
    argv[n++] = tc_bin();
    for (; args[n - 1] && n <= MAXARGS; n++)
        argv[n] = args[n - 1];
    cr_assert_null(args[n - 1], "more than %d arguments", MAXARGS);
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) { /* the child: no Criterion calls from here on */
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe =
            strcmp(out, err) == 0 ? fo : open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0) _exit(127);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int tc_wait(pid_t pid)
{
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    if (WIFSIGNALED(ws)) return 1000 + WTERMSIG(ws);
    return WEXITSTATUS(ws);
}

int tc_run(const char *out, const char *err, const char *const *args)
{
    return tc_wait(tc_spawn(out, err, args));
}

int tc_run_capture(const char *line, char *out, size_t cap)
{
    char copy[4096], *args[MAXARGS + 1], *save = NULL;
    int n = snprintf(copy, sizeof copy, "%s", line);
    cr_assert(n >= 0 && (size_t)n < sizeof copy, "command line too long");
    int na = 0;
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        cr_assert(na < MAXARGS, "more than %d arguments", MAXARGS);
        args[na++] = w;
    }
    args[na] = NULL;
    char dir[64], path[96];
    tc_tmpdir_make(dir, sizeof dir, "run");
    tc_path(path, sizeof path, dir, "out");
    int st = tc_run(path, path, (const char *const *)args);
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(out, 1, cap - 1, f) : 0;
    out[got] = 0;
    if (f) fclose(f);
    tc_tmpdir_remove(dir);
    return st;
}

int tc_limit_memory(size_t extra)
{
#if defined(__SANITIZE_ADDRESS__)
    (void)extra;
    return 0;
#else
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f, "/proc/self/statm");
    cr_assert_eq(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + extra;
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0, "setrlimit");
    return 1;
#endif
}
