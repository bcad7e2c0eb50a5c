/* Helpers of the MPI tests: see ddp_common.h. */
#include "ddp_common.h"

#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collapse/ckpt.h"
#include "collapse/mem.h"
#include "common.h"

/* The MPI binary, or NULL after skipping the test. */
const char *ddp_mpi_bin(void)
{
    const char *bin = getenv("COLLAPSE_MPI_BIN");
    if (getenv("COLLAPSE_SAN")) {
        cr_skip_test("MPI tests are skipped under SAN=1 (unsanitized MPI binary, OpenMPI leaks)");
        return NULL;
    }
    if (!bin || access(bin, X_OK) != 0) {
        cr_skip_test("no MPI binary ($COLLAPSE_MPI_BIN; `make mpi` needs libopenmpi-dev)");
        return NULL;
    }
    if (system("command -v mpirun >/dev/null 2>&1") != 0) {
        cr_skip_test("mpirun is not installed (openmpi-bin)");
        return NULL;
    }
    return bin;
}

/* Starts `mpirun -np 2 --oversubscribe [extra...] BIN args...` (or, with
 * np = 0, the plain binary) in a new process group, output into c->out/err. */
pid_t ddp_spawn_np(ctx *c, int np, const char *const *pre, const char *const *args)
{
    const char *argv[96];
    int n = 0;
    char nps[8];
    snprintf(nps, sizeof nps, "%d", np);
    if (np) {
        argv[n++] = "mpirun";
        argv[n++] = "-np";
        argv[n++] = nps;
        argv[n++] = "--oversubscribe";
        for (int i = 0; pre && pre[i]; i++) argv[n++] = pre[i];
        argv[n++] = getenv("COLLAPSE_MPI_BIN");
    } else {
        argv[n++] = tc_bin();
    }
    for (int i = 0; args[i]; i++) {
        cr_assert(n < 94);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        FILE *o = freopen(c->out, "w", stdout), *e = freopen(c->err, "w", stderr);
        if (!o || !e) _exit(127);
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
        setenv("OMP_NUM_THREADS", "1", 1);
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* Waits at most DDP_DEADLINE s; a hang kills the whole group and fails. */
int ddp_wait_np(ctx *c, pid_t pid)
{
    struct timespec ts = {0, 20000000};
    for (int i = 0; i < DDP_DEADLINE * 50; i++) {
        int ws;
        pid_t r = waitpid(pid, &ws, WNOHANG);
        cr_assert(r >= 0);
        if (r == pid) return WIFSIGNALED(ws) ? 1000 + WTERMSIG(ws) : WEXITSTATUS(ws);
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char *err = tc_slurp(c->err, NULL);
    cr_assert_fail("mpirun hung for %d s:\n%s", DDP_DEADLINE, err ? err : "");
    return -1;
}

int ddp_run_np(ctx *c, int np, const char *const *pre, const char *const *args)
{
    return ddp_wait_np(c, ddp_spawn_np(c, np, pre, args));
}

void ddp_run_np_ok(ctx *c, int np, const char *const *args)
{
    int st = ddp_run_np(c, np, NULL, args);
    if (st) {
        char *err = tc_slurp(c->err, NULL);
        cr_assert_fail("np=%d exited %d:\n%s", np, st, err ? err : "");
    }
}

/* The newest good checkpoint's parameters of run folder dir. */
float *ddp_final_params(const char *dir, int64_t *n)
{
    char path[512];
    cr_assert_eq(cl_ckpt_resolve(dir, path, sizeof path, NULL), CL_OK, "%s", cl_errmsg());
    char *text;
    float *p, *b;
    int64_t nb, step;
    cr_assert_eq(cl_ckpt_read_model(path, &text, &p, n, &b, &nb, &step), CL_OK, "%s",
                 cl_errmsg());
    cl_free(text);
    cl_free(b);
    return p;
}

/* Max |a - b| over max |b|, the norm of the relative difference. */
double ddp_rel_diff(const char *da, const char *db)
{
    int64_t na, nb;
    float *a = ddp_final_params(da, &na), *b = ddp_final_params(db, &nb);
    cr_assert_eq(na, nb);
    double dmax = 0, bmax = 0;
    for (int64_t i = 0; i < na; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > dmax) dmax = d;
        if (fabs(b[i]) > bmax) bmax = fabs(b[i]);
    }
    cl_free(a);
    cl_free(b);
    return dmax / bmax;
}

/* Bit-exact: the same parameter count and bytes. */
void ddp_same_bytes(const char *da, const char *db)
{
    int64_t na, nb;
    float *a = ddp_final_params(da, &na), *b = ddp_final_params(db, &nb);
    int same = na == nb && memcmp(a, b, sizeof(float) * (size_t)na) == 0;
    cl_free(a);
    cl_free(b);
    cr_assert(same, "the parameters of %s and %s differ", da, db);
}

int ddp_file_has(const char *path, const char *s)
{
    char *t = tc_slurp(path, NULL);
    int r = t && strstr(t, s);
    free(t);
    return r;
}

/* Compares two CSV files cell by cell: the same header and row count, text
 * cells equal, numbers within 1e-4 relative (NaN with NaN); the timing
 * columns (header names ending in "_seconds") are skipped. */
void ddp_same_csv(const char *pa, const char *pb)
{
    char *ta = tc_slurp(pa, NULL), *tb = tc_slurp(pb, NULL);
    cr_assert(ta && tb, "cannot read %s or %s", pa, pb);
    char *sa, *sb, *la = strtok_r(ta, "\n", &sa), *lb = strtok_r(tb, "\n", &sb);
    cr_assert(la && lb && !strcmp(la, lb), "%s: another header", pb);
    int skip[256] = {0}, ncol = 0;
    for (char *h = la, *e; h && ncol < 256; h = e ? e + 1 : NULL, ncol++) {
        e = strchr(h, ',');
        size_t len = e ? (size_t)(e - h) : strlen(h);
        skip[ncol] = len >= 8 && !strncmp(h + len - 8, "_seconds", 8);
    }
    int rows = 0;
    double worst = 0;
    while ((la = strtok_r(NULL, "\n", &sa)) != NULL) {
        lb = strtok_r(NULL, "\n", &sb);
        cr_assert(lb, "%s: fewer rows", pb);
        rows++;
        char *ca = la, *cb = lb;
        for (int k = 0; ca && cb; k++) {
            char *ea = strchr(ca, ','), *eb = strchr(cb, ',');
            if (ea) *ea = 0;
            if (eb) *eb = 0;
            char *endx, *endy;
            double x = strtod(ca, &endx), y = strtod(cb, &endy);
            if (k < 256 && skip[k]) {
            } else if (*ca && !*endx && *cb && !*endy) {
                double r = isnan(x) && isnan(y) ? 0 : fabs(x - y) / fmax(fmax(fabs(x), fabs(y)), 1e-12);
                cr_assert(r <= 1e-4, "%s row %d column %d: %s vs %s", pb, rows, k, ca, cb);
                if (r > worst) worst = r;
            } else {
                cr_assert_str_eq(ca, cb, "%s row %d column %d", pb, rows, k);
            }
            ca = ea ? ea + 1 : NULL;
            cb = eb ? eb + 1 : NULL;
        }
        cr_assert(!ca && !cb, "%s row %d: another column count", pb, rows);
    }
    cr_assert_null(strtok_r(NULL, "\n", &sb), "%s: more rows", pb);
    cr_assert(rows > 0, "%s: no rows", pa);
    cr_log_info("%s: %d rows, max relative difference %g", pb, rows, worst);
    free(ta);
    free(tb);
}
