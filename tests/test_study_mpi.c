/* The study under MPI (issue 12): tests/mpi/study_driver.c run by mpirun
 * with 2 ranks (sharded sweeps, reduced analyzer accumulators, rank 0
 * writing) against the same driver built without MPI. metrics.csv and
 * layers.csv agree to 1e-4 relative on every column but the timings, the
 * .npy files to 1e-4, the file sets are equal; a failure on one rank stops
 * both with an error, no hang. Skipped, with the reason, when mpirun or the
 * MPI driver (`make mpi`) is missing. Also: the reduction points with a
 * NULL comm change nothing. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "common.h"

TestSuite(study_mpi, .init = tc_tmp_init, .fini = tc_tmp_fini, .timeout = TC_TIMEOUT);

/* argv[0] found on PATH, output of both streams into file log; exit status. */
static int spawn(const char *log, const char *const *argv)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    return WIFSIGNALED(ws) ? 1000 + WTERMSIG(ws) : WEXITSTATUS(ws);
}

static int on_path(const char *name)
{
    const char *p = getenv("PATH");
    char buf[4096];
    while (p && *p) {
        size_t n = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, name);
        if (access(buf, X_OK) == 0) return 1;
        p += n + (p[n] == ':');
    }
    return 0;
}

/* The MPI driver, or skips the test saying what is missing. */
static const char *mpi_driver(void)
{
    const char *d = getenv("COLLAPSE_STUDY_DRIVER_MPI");
    if (!on_path("mpirun")) cr_skip_test("mpirun is not installed (openmpi-bin)");
    if (!d || access(d, X_OK) != 0)
        cr_skip_test("the MPI study driver %s is missing: run `make mpi` first",
                     d ? d : "(COLLAPSE_STUDY_DRIVER_MPI unset)");
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMP_NUM_THREADS", "1", 1);
    return d;
}

static void show(const char *log)
{
    FILE *f = fopen(log, "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) fprintf(stderr, "  | %s", line);
    if (f) fclose(f);
}

/* Runs the driver on out with flags: np = 0 plain, else mpirun -np np. */
static int drive(int np, const char *out, const char *f1, const char *f2, const char *f3)
{
    const char *plain = getenv("COLLAPSE_STUDY_DRIVER");
    cr_assert(plain, "COLLAPSE_STUDY_DRIVER is unset (make test sets it)");
    char n[8], log[256];
    snprintf(n, sizeof n, "%d", np);
    snprintf(log, sizeof log, "%s.log", out);
    const char *a[16] = {0};
    int k = 0;
    if (np) {
        a[k++] = "mpirun";
        a[k++] = "-np";
        a[k++] = n;
        a[k++] = "--oversubscribe";
        a[k++] = "--timeout"; /* a hung rank fails the test instead of blocking it */
        a[k++] = "120";
        a[k++] = mpi_driver();
    } else {
        a[k++] = plain;
    }
    a[k++] = out;
    if (f1) a[k++] = f1;
    if (f2) a[k++] = f2;
    if (f3) a[k++] = f3;
    setenv("OMP_NUM_THREADS", "1", 1);
    int rc = spawn(log, a);
    if (rc != 0 && !(f1 && !strcmp(f1, "badlabel"))) show(log);
    return rc;
}

static int close_to(double a, double b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return fabs(a - b) <= 1e-4 * fmax(fabs(a), fabs(b)) + 1e-10;
}

static void csv_match(const char *da, const char *db, const char *name, const char *text)
{
    char pa[256], pb[256];
    cl_csv a, b;
    cr_assert_eq(cl_csv_read(tc_path(pa, sizeof pa, da, name), text, &a), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(cl_csv_read(tc_path(pb, sizeof pb, db, name), text, &b), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(a.ncols, b.ncols, "%s: columns", name);
    cr_assert_eq(a.nrows, b.nrows, "%s: rows", name);
    cr_assert_gt(a.nrows, 0);
    for (int c = 0; c < a.ncols; c++) {
        cr_assert_str_eq(a.names[c], b.names[c]);
        if (strstr(a.names[c], "seconds")) continue; /* wall times */
        for (int64_t r = 0; r < a.nrows; r++) {
            double x = a.num[r * a.ncols + c], y = b.num[r * b.ncols + c];
            cr_assert(close_to(x, y), "%s row %lld column %s: %.17g (one process) vs %.17g",
                      name, (long long)r, a.names[c], x, y);
            if (isnan(x)) /* text cells ("fit"), empty cells */
                cr_assert_str_eq(a.txt[r * a.ncols + c], b.txt[r * b.ncols + c]);
        }
    }
    cl_csv_free(&a);
    cl_csv_free(&b);
}

static double npy_at(const cl_npy *a, int64_t i)
{
    switch (a->dtype) {
    case CL_NPY_F32: return ((const float *)a->data)[i];
    case CL_NPY_F64: return ((const double *)a->data)[i];
    case CL_NPY_I32: return ((const int32_t *)a->data)[i];
    case CL_NPY_I64: return (double)((const int64_t *)a->data)[i];
    default: return ((const uint8_t *)a->data)[i];
    }
}

/* The sorted file names of dir, joined by blanks, into buf. */
static void listing(const char *dir, char *buf, size_t cap)
{
    struct dirent **e;
    int n = scandir(dir, &e, NULL, alphasort);
    cr_assert_geq(n, 0, "%s", dir);
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (e[i]->d_name[0] != '.')
            snprintf(buf + strlen(buf), cap - strlen(buf), "%s ", e[i]->d_name);
        free(e[i]);
    }
    free(e);
}

/* Every file of the one-process folder da exists in db; CSVs and .npy agree. */
static void folders_match(const char *da, const char *db)
{
    char la[2048], lb[2048];
    listing(da, la, sizeof la);
    listing(db, lb, sizeof lb);
    cr_assert_str_eq(la, lb, "file sets differ");
    cr_assert(strstr(la, "metrics.csv") && strstr(la, ".png"), "%s", la);
    csv_match(da, db, "metrics.csv", "");
    if (strstr(la, "layers.csv")) csv_match(da, db, "layers.csv", "layer,name");
    for (char *w = strtok(la, " "); w; w = strtok(NULL, " ")) {
        if (!strstr(w, ".npy")) continue;
        char pa[256], pb[256];
        cl_npy a, b;
        cr_assert_eq(cl_npy_read(tc_path(pa, sizeof pa, da, w), &a), CL_OK, "%s", cl_errmsg());
        cr_assert_eq(cl_npy_read(tc_path(pb, sizeof pb, db, w), &b), CL_OK, "%s", cl_errmsg());
        cr_assert_eq(a.dtype, b.dtype, "%s", w);
        cr_assert_eq(a.ndim, b.ndim, "%s", w);
        cr_assert_eq(a.count, b.count, "%s", w);
        for (int64_t i = 0; i < a.count; i++)
            cr_assert(close_to(npy_at(&a, i), npy_at(&b, i)), "%s[%lld]: %.9g vs %.9g", w,
                      (long long)i, npy_at(&a, i), npy_at(&b, i));
        cl_npy_free(&a);
        cl_npy_free(&b);
    }
}

static void np2_vs_plain(const char *f1, const char *f2, const char *f3)
{
    mpi_driver();
    char one[256], two[256];
    snprintf(one, sizeof one, "%s", tpath("one"));
    snprintf(two, sizeof two, "%s", tpath("two"));
    cr_assert_eq(drive(0, one, f1, f2, f3), 0, "plain driver failed");
    cr_assert_eq(drive(2, two, f1, f2, f3), 0, "mpirun -np 2 driver failed");
    folders_match(one, two);
}

/* Cached taps (pass 2 reads each rank's cache), the gathered features. */
Test(study_mpi, cached_taps_match_one_process)
{
    np2_vs_plain(NULL, NULL, NULL);
    char l[2048];
    listing(tpath("one"), l, sizeof l);
    cr_assert(strstr(l, "features_train.npy") && strstr(l, "layers.csv"), "%s", l);
}

/* Streamed taps (two sweeps), with the gnc and imbalance groups reduced. */
Test(study_mpi, streamed_gnc_imbalance_match_one_process)
{
    np2_vs_plain("stream", "gnc", "imbal");
}

/* An ordinal head: the onc keys from the reduced class sums, thresholds.npy. */
Test(study_mpi, ordinal_keys_match_one_process) { np2_vs_plain("clm", NULL, NULL); }

/* --task regression: the NRC study's streams reduced, its metrics.csv. */
Test(study_mpi, regression_nrc_match_one_process) { np2_vs_plain("reg", NULL, NULL); }

/* A BN model whose running statistics differ on rank 1: the sweeps use
 * rank 0's on every rank (shard.c), for both studies. */
Test(study_mpi, bn_statistics_of_rank0_are_used) { np2_vs_plain("bn", "stream", NULL); }
Test(study_mpi, bn_statistics_of_rank0_regression) { np2_vs_plain("bn", "reg", NULL); }

/* BN train mode: not sharded, every rank sweeps the whole split. */
Test(study_mpi, bn_train_sweeps_unsharded_match) { np2_vs_plain("bntrain", "stream", NULL); }

/* A bad label in the last rank's shard: that rank's sweep fails; every rank
 * returns an error with rank 1's message (rank 0's says "rank 1: " first,
 * cl_comm_agree), mpirun exits non-zero in time. */
Test(study_mpi, failure_on_one_rank_stops_all)
{
    mpi_driver();
    char two[256], log[300], text[4096] = {0};
    snprintf(two, sizeof two, "%s", tpath("bad"));
    cr_assert_neq(drive(2, two, "badlabel", NULL, NULL), 0);
    snprintf(log, sizeof log, "%s.log", two);
    FILE *f = fopen(log, "r");
    cr_assert(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    cr_assert(strstr(text, "rank 1: ") && strstr(text, "out of range"), "%s", text);
    cr_assert(strstr(text, "rank 0: rank 1: ") && strstr(text, "out of range"), "%s", text);
    cr_assert_null(strstr(text, "timeout"), "%s", text);
}

/* Rank 0 cannot create the results folder: rank 1, which writes nothing,
 * must stop too (the agreement at the end of cl_study_create). */
Test(study_mpi, rank0_write_failure_stops_all)
{
    mpi_driver();
    char log[300], text[4096] = {0};
    const char *out = "/dev/null/cl_study_mpi"; /* a folder below a file: mkdir fails */
    char n[] = "2";
    const char *a[] = {"mpirun", "-np", n, "--oversubscribe", "--timeout", "120",
                       mpi_driver(), out, NULL};
    snprintf(log, sizeof log, "%s", tpath("w.log"));
    cr_assert_neq(spawn(log, a), 0);
    FILE *f = fopen(log, "r");
    cr_assert(f);
    size_t k = fread(text, 1, sizeof text - 1, f);
    text[k] = 0;
    fclose(f);
    cr_assert(strstr(text, "rank 1: rank 0: /dev/null/cl_study_mpi: cannot create folder"),
              "%s", text);
}

/* With a NULL comm the reduction points are no-ops: the stream gives
 * cl_nc_analyze's result bit for bit; called in the wrong pass they fail. */
Test(study_mpi, null_comm_reduction_changes_nothing)
{
    enum { N = 90, D = 5, KK = 3 };
    float H[N * D], W[KK * D], b[KK];
    int32_t y[N];
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    for (int i = 0; i < N; i++) {
        y[i] = i % KK;
        for (int d = 0; d < D; d++) H[i * D + d] = (float)(cl_rng_normal(&rng) + (d == y[i]));
    }
    for (int i = 0; i < KK * D; i++) W[i] = (float)cl_rng_normal(&rng);
    for (int c = 0; c < KK; c++) b[c] = (float)cl_rng_normal(&rng);
    cl_nc_opts o = cl_nc_opts_default();
    o.gnc = 1;
    cl_nc_result want, got;
    cr_assert_eq(cl_nc_analyze(H, N, D, y, KK, W, b, &o, &want), CL_OK, "%s", cl_errmsg());
    cl_nc_stream *s;
    cr_assert_eq(cl_nc_stream_create(&s, D, KK, W, b, &o), CL_OK);
    cr_assert_eq(cl_nc_stream_reduce2(s, NULL), CL_EINVAL); /* before end1 */
    cr_assert_eq(cl_nc_stream_feed1(s, H, N, D, y), CL_OK);
    cr_assert_eq(cl_nc_stream_reduce1(s, NULL), CL_OK);
    cr_assert_eq(cl_nc_stream_end1(s), CL_OK);
    cr_assert_eq(cl_nc_stream_reduce1(s, NULL), CL_EINVAL); /* after end1 */
    cr_assert_eq(cl_nc_stream_feed2(s, H, N, D, y), CL_OK);
    cr_assert_eq(cl_nc_stream_reduce2(s, NULL), CL_OK);
    cr_assert_eq(cl_nc_stream_result(s, &got), CL_OK, "%s", cl_errmsg());
    for (int k = 0; k < cl_nc_nkeys(); k++) {
        double u = cl_nc_key_value(&want, k), v = cl_nc_key_value(&got, k);
        cr_assert(memcmp(&u, &v, sizeof u) == 0, "%s: %.17g vs %.17g", cl_nc_key_name(k), u, v);
    }
    cl_nc_stream_destroy(s);
}
