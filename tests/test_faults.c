/* Faults while writing (issue 11): a short `collapse train` run under
 * tests/faultshim.c (LD_PRELOAD) whose Nth write to a regular file fails
 * with ENOSPC or EIO, during a checkpoint, a CSV, an .npy, config.json and
 * a PNG. The run must stop with exit 1 and one line naming the file (a
 * figure is a warning: the study goes on), leave no *.tmp behind, and a
 * --resume without the shim must end byte-identical to an uninterrupted
 * run (metrics.csv without its timing columns, layers.csv, every .npy, the
 * model's parameters). Also the atomic writer itself (io/atomic.c).
 *
 * The reference run is made under the shim too, with no fault: its call
 * log ("N call path" per counted write) tells which N hits which file.
 * Under SAN=1 (COLLAPSE_SAN) the same tests run against the ASan build. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "collapse/atomic.h"
#include "collapse/ckpt.h"
#include "collapse/csv.h"
#include "collapse/mem.h"
#include "common.h"

/* One injected fault: the `pick`th counted call (-1 = the last) of the
 * `group`th write of `file` (a group = consecutive calls on one path). */
typedef struct {
    const char *file;
    int group, pick;
    const char *err;  /* "ENOSPC" or "EIO" */
    int stops;        /* 1: exit 1; 0: a warning, the run goes on */
    int fresh;        /* 1: nothing to resume (config.json): rerun without --resume */
} fault;

static const char *shim_path(void)
{
    const char *p = getenv("COLLAPSE_FAULTSHIM");
    if (!p || !tc_exists(p)) cr_skip_test("COLLAPSE_FAULTSHIM unset (run through make test)");
    return p;
}

/* Under SAN=1 the CLI is built with ASan, which wants to come first in the
 * library list: preloading the (uninstrumented) shim needs
 * verify_asan_link_order=0; the shim's calls then go through ASan's
 * interceptors to libc. */
static char asan_saved[512];
static int asan_had;

static void shim_env(const char *shim, long n, const char *err, const char *log)
{
    char v[600];
    setenv("LD_PRELOAD", shim, 1);
    snprintf(v, sizeof v, "%ld", n);
    setenv("COLLAPSE_FAULT_WRITE", v, 1);
    setenv("COLLAPSE_FAULT_ERRNO", err ? err : "ENOSPC", 1);
    if (log) setenv("COLLAPSE_FAULT_LOG", log, 1);
    const char *a = getenv("ASAN_OPTIONS");
    asan_had = a != NULL;
    snprintf(asan_saved, sizeof asan_saved, "%s", a ? a : "");
    snprintf(v, sizeof v, "%s%sverify_asan_link_order=0", asan_saved, a && *a ? ":" : "");
    setenv("ASAN_OPTIONS", v, 1);
}

static void shim_clear(void)
{
    unsetenv("LD_PRELOAD");
    unsetenv("COLLAPSE_FAULT_WRITE");
    unsetenv("COLLAPSE_FAULT_ERRNO");
    unsetenv("COLLAPSE_FAULT_LOG");
    if (asan_had)
        setenv("ASAN_OPTIONS", asan_saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
}

/* The short run: 3 epochs, a study every epoch (layers, figures, features). */
static int train(ctx *c, const char *out, int resume)
{
    const char *a[] = {"train",   "--arch", "mlp",     "--data",          "mnist",
                       "--train-per-class", "10",      "--test-per-class", "10",
                       "--epochs", "3",     "--analyze", "all",           "--batch",
                       "25",      "--threads", "1",    "--out",           out,
                       resume ? "--resume" : NULL, NULL};
    return run(c, a);
}

/* The call number of fault f in the call log, or 0. */
static long find_call(const char *log, const fault *f)
{
    char *text = tc_slurp(log, NULL);
    cr_assert_not_null(text, "no call log %s", log);
    char want[128], prev[1024] = "";
    snprintf(want, sizeof want, "/%s.tmp", f->file);
    long found = 0, last_in_group = 0;
    int group = 0, in = 0, at = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        long k;
        char fn[32], path[1024];
        if (sscanf(line, "%ld %31s %1023s", &k, fn, path) != 3) continue;
        size_t pl = strlen(path), wl = strlen(want);
        int match = pl >= wl && !strcmp(path + pl - wl, want);
        if (match && strcmp(path, prev) == 0 && in) {
            at++;
        } else if (match) {
            group++;
            at = 1;
        }
        in = match;
        snprintf(prev, sizeof prev, "%s", path);
        if (match && group == f->group) {
            last_in_group = k;
            if (at == f->pick) found = k;
        }
    }
    free(text);
    return f->pick < 0 ? last_in_group : found;
}

static int tmp_seen;
static int find_tmp(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".tmp")) tmp_seen = 1;
    return 0;
}

static void assert_no_tmp(const char *dir)
{
    tmp_seen = 0;
    if (!tc_exists(dir)) return; /* a run that fails before writing anything removes its --out */
    cr_assert_eq(nftw(dir, find_tmp, 16, FTW_PHYS), 0);
    cr_assert_eq(tmp_seen, 0, "a *.tmp file is left in %s", dir);
}

/* metrics.csv cells, the timing columns left out */
static void same_metrics(const char *ref, const char *got)
{
    char pr[256], pg[256];
    cl_csv a, b;
    cr_assert_eq(cl_csv_read(tc_path(pr, sizeof pr, ref, "metrics.csv"), "", &a), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(cl_csv_read(tc_path(pg, sizeof pg, got, "metrics.csv"), "", &b), CL_OK, "%s",
                 cl_errmsg());
    cr_assert_eq(a.ncols, b.ncols);
    cr_assert_eq(a.nrows, b.nrows, "metrics.csv: %lld rows, the uninterrupted run has %lld",
                 (long long)b.nrows, (long long)a.nrows);
    for (int c = 0; c < a.ncols; c++) {
        cr_assert_str_eq(a.names[c], b.names[c]);
        if (!strcmp(a.names[c], "epoch_seconds") || !strcmp(a.names[c], "analysis_seconds"))
            continue;
        for (int64_t r = 0; r < a.nrows; r++)
            cr_assert_str_eq(a.txt[r * a.ncols + c], b.txt[r * b.ncols + c],
                             "metrics.csv row %lld column %s differs", (long long)r, a.names[c]);
    }
    cl_csv_free(&a);
    cl_csv_free(&b);
}

static void same_bytes(const char *ref, const char *got, const char *name)
{
    char pr[256], pg[256];
    size_t la, lb;
    char *a = tc_slurp(tc_path(pr, sizeof pr, ref, name), &la);
    char *b = tc_slurp(tc_path(pg, sizeof pg, got, name), &lb);
    cr_assert_not_null(a, "%s missing", pr);
    cr_assert_not_null(b, "%s missing", pg);
    cr_assert(la == lb && !memcmp(a, b, la), "%s differs from the uninterrupted run", pg);
    free(a);
    free(b);
}

static void same_params(const char *ref, const char *got)
{
    char *t[2];
    float *p[2], *b[2];
    int64_t np[2], nb[2];
    const char *dir[2] = {ref, got};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(cl_ckpt_read_model(dir[i], &t[i], &p[i], &np[i], &b[i], &nb[i], NULL), CL_OK,
                     "%s", cl_errmsg());
    cr_assert(np[0] == np[1] && nb[0] == nb[1]);
    cr_assert(!memcmp(p[0], p[1], sizeof(float) * (size_t)np[0]), "parameters differ");
    cr_assert(!memcmp(b[0], b[1], sizeof(float) * (size_t)nb[0]), "buffers differ");
    for (int i = 0; i < 2; i++) {
        cl_free(t[i]);
        cl_free(p[i]);
        cl_free(b[i]);
    }
}

static void same_results(const char *ref, const char *got)
{
    same_metrics(ref, got);
    /* config.json differs by the --out folder in its command line */
    static const char *files[] = {"layers.csv", "labels_train.npy", "features_train.npy",
                                  "W.npy", "b.npy"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) same_bytes(ref, got, files[i]);
    same_params(ref, got);
}

/* stderr is exactly one line naming the file (and, for a stop, the reason). */
static void assert_message(const ctx *c, const fault *f)
{
    char *err = tc_slurp(c->err, NULL);
    cr_assert_not_null(err);
    char *lsan = strstr(err, "\n-----"); /* SAN=1: LeakSanitizer's suppression summary */
    if (lsan && getenv("COLLAPSE_SAN")) lsan[1] = 0;
    char *nl = strchr(err, '\n');
    cr_assert(nl && nl[1] == 0, "want one line on stderr, got: %s", err);
    cr_assert(strstr(err, f->file), "the message does not name %s: %s", f->file, err);
    const char *why = !strcmp(f->err, "EIO") ? "Input/output error" : "No space left on device";
    cr_assert(strstr(err, why), "the message does not give the reason (%s): %s", why, err);
    free(err);
}

static void fault_case(const char *name, const fault *fs, int nf)
{
    const char *shim = shim_path();
    ctx c;
    ctx_init(&c, name);
    char ref[128], log[128], out[128];
    sub(ref, sizeof ref, "%s/ref", c.dir);
    sub(log, sizeof log, "%s/calls.log", c.dir);
    shim_env(shim, 0, NULL, log);
    int rc = train(&c, ref, 0);
    shim_clear();
    cr_assert_eq(rc, 0, "the reference run failed (%d)", rc);
    for (int i = 0; i < nf; i++) {
        const fault *f = &fs[i];
        long n = find_call(log, f);
        cr_assert_gt(n, 0, "no call %d of write %d of %s in %s", f->pick, f->group, f->file, log);
        sub(out, sizeof out, "%s/run%d", c.dir, i);
        shim_env(shim, n, f->err, NULL);
        rc = train(&c, out, 0);
        shim_clear();
        if (f->stops) {
            cr_assert_eq(rc, 1, "%s at call %ld (%s): status %d", f->err, n, f->file, rc);
            assert_message(&c, f);
        } else {
            cr_assert_eq(rc, 0, "%s at call %ld (%s): status %d", f->err, n, f->file, rc);
            char *text = tc_slurp(c.out, NULL); /* the study's warnings go to stdout */
            cr_assert(text && strstr(text, "warning: ") && strstr(text, f->file),
                      "no warning naming %s: %s", f->file, text);
            free(text);
            char png[160];
            cr_assert(tc_is_png(tc_path(png, sizeof png, out, f->file)), "%s is not a PNG", png);
        }
        assert_no_tmp(out);
        if (f->stops) {
            rc = train(&c, out, !f->fresh);
            cr_assert_eq(rc, 0, "the resume after a fault in %s failed (%d)", f->file, rc);
            assert_no_tmp(out);
        }
        same_results(ref, out);
    }
    ctx_done(&c);
}

Test(faults, checkpoint_write_fails, .timeout = TC_TIMEOUT)
{
    const fault fs[] = {{"state.ckpt", 2, 5, "ENOSPC", 1, 0}, {"model.ckpt", 3, -1, "EIO", 1, 0}};
    fault_case("ckpt", fs, 2);
}

Test(faults, csv_write_fails, .timeout = TC_TIMEOUT)
{
    const fault fs[] = {{"metrics.csv", 3, 1, "ENOSPC", 1, 0}, {"layers.csv", 4, -1, "EIO", 1, 0}};
    fault_case("csv", fs, 2);
}

Test(faults, npy_write_fails, .timeout = TC_TIMEOUT)
{
    const fault fs[] = {{"features_train.npy", 1, 2, "ENOSPC", 1, 0},
                        {"b.npy", 1, 4, "EIO", 1, 0}};
    fault_case("npy", fs, 2);
}

Test(faults, config_json_write_fails, .timeout = TC_TIMEOUT)
{
    const fault fs[] = {{"config.json", 1, 1, "ENOSPC", 1, 1}, {"config.json", 1, 3, "EIO", 1, 1}};
    fault_case("json", fs, 2);
}

/* A figure that cannot be written is a warning (the study goes on and
 * draws again after the last epoch); the other files are unaffected. */
Test(faults, png_write_fails_with_a_warning, .timeout = TC_TIMEOUT)
{
    const fault fs[] = {{"nc2.png", 1, 10, "ENOSPC", 0, 0}, {"layers.png", 2, -1, "EIO", 0, 0}};
    fault_case("png", fs, 2);
}

/* ---- the writer itself ---- */

Test(faults, atomic_abort_and_failed_commit_keep_the_old_file)
{
    tc_tmp_init();
    const char *p = tpath("f.txt");
    tc_write_text(p, "old\n");
    cl_atomic_file a;
    cr_assert_eq(cl_atomic_open(&a, p), CL_OK, "%s", cl_errmsg());
    cl_atomic_put(&a, "new\n", 4);
    cl_atomic_abort(&a);
    char *t = tc_slurp(p, NULL);
    cr_assert_str_eq(t, "old\n");
    free(t);
    cr_assert_eq(tc_count_entries(tc_tmpdir()), 1, "the temp file is left");
    /* a write error remembered by put makes the commit fail and clean up */
    cr_assert_eq(cl_atomic_open(&a, p), CL_OK, "%s", cl_errmsg());
    cl_atomic_put(&a, "new\n", 4);
    errno = ENOSPC;
    cl_atomic_failed(&a);
    tc_expect_err(cl_atomic_commit(&a), CL_EIO, "f.txt: write failed", "No space left");
    t = tc_slurp(p, NULL);
    cr_assert_str_eq(t, "old\n");
    free(t);
    cr_assert_eq(tc_count_entries(tc_tmpdir()), 1, "the temp file is left");
    cr_assert_eq(cl_atomic_write_file(p, "new\n", 4), CL_OK, "%s", cl_errmsg());
    t = tc_slurp(p, NULL);
    cr_assert_str_eq(t, "new\n");
    free(t);
    tc_expect_err(cl_atomic_write_file(tpath("no/such/dir/f"), "x", 1), CL_EIO, "cannot create",
                  NULL);
    tc_tmp_fini();
}

Test(faults, csv_log_keeps_rows_below_the_key_and_drops_a_failed_commit)
{
    tc_tmp_init();
    const char *p = tpath("m.csv");
    tc_write_text(p, "epoch,x\n0,1\n1,2\n2,3\n3,4");
    cl_csv_log c;
    cr_assert_eq(cl_csv_log_open(&c, p, "epoch,x", 1, 2), CL_OK, "%s", cl_errmsg());
    char *t = tc_slurp(p, NULL);
    cr_assert_str_eq(t, "epoch,x\n0,1\n1,2\n");
    free(t);
    cr_assert_eq(cl_csv_log_write_row(&c, "2,5"), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_csv_log_add(&c, "3,6"), CL_OK);
    t = tc_slurp(p, NULL);
    cr_assert_str_eq(t, "epoch,x\n0,1\n1,2\n2,5\n", "an added row is not written before commit");
    free(t);
    /* the folder disappears: the commit fails, the uncommitted row is dropped */
    snprintf(c.path, sizeof c.path, "%s", tpath("gone/m.csv"));
    cr_assert_eq(cl_csv_log_commit(&c), CL_EIO);
    cr_assert_eq(c.len, c.committed);
    cr_assert_str_eq(c.text, "epoch,x\n0,1\n1,2\n2,5\n");
    cl_csv_log_free(&c);
    tc_expect_err(cl_csv_log_open(&c, p, "epoch,y", 1, 9), CL_EFORMAT, "m.csv", "header");
    cl_csv_log_free(&c);
    tc_tmp_fini();
}
