/* UFM runs: determinism from the seed, metrics.csv + .npy reproduced by the
 * analyzer, LPM constraints, unit norms on the sphere, the DNC start, and
 * the CLI's errors (exit 2, one line naming the flag, nothing written). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "collapse/sys.h"
#include "collapse/ufm.h"
#include "common.h"

TestSuite(ufm_run, .init = tc_tmp_init, .fini = tc_tmp_fini, .timeout = TC_TIMEOUT);

static cl_ufm_config small(int64_t *counts)
{
    cl_ufm_config c = cl_ufm_config_default();
    c.K = 3;
    c.d = 4;
    c.counts = counts;
    c.steps = 200;
    c.lr = 2;
    c.log_every = 50;
    return c;
}

static void run_into(const cl_ufm_config *c, const char *dir, cl_ufm_summary *s)
{
    cl_ufm *u;
    cr_assert_eq(cl_ufm_create(&u, c), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_mkdir_p(dir), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_ufm_run(u, dir, NULL, NULL, s), CL_OK, "%s", cl_errmsg());
    cl_ufm_destroy(u);
}

Test(ufm_run, same_seed_same_file_other_seed_not)
{
    int64_t counts[3] = {4, 5, 6};
    cl_ufm_config c = small(counts);
    c.momentum = 0.5;
    cl_ufm_summary s;
    char a[256], b[256], d[256];
    snprintf(a, sizeof a, "%s", tpath("a"));
    snprintf(b, sizeof b, "%s", tpath("b"));
    snprintf(d, sizeof d, "%s", tpath("d"));
    run_into(&c, a, &s);
    run_into(&c, b, &s);
    c.seed = 2;
    run_into(&c, d, &s);
    char pa[300], pb[300], pd[300];
    char *ta = tc_slurp(tc_path(pa, sizeof pa, a, "metrics.csv"), NULL);
    char *tb = tc_slurp(tc_path(pb, sizeof pb, b, "metrics.csv"), NULL);
    char *td = tc_slurp(tc_path(pd, sizeof pd, d, "metrics.csv"), NULL);
    cr_assert(ta && tb && td);
    cr_expect_str_eq(ta, tb);
    cr_expect_str_neq(ta, td);
    cr_expect_eq(tc_count_lines(pa), 6, "header + steps 0, 50, 100, 150, 200");
    free(ta), free(tb), free(td);
}

/* The last row of metrics.csv against cl_nc_analyze on the written .npy
 * files (what `collapse analyze --features H.npy --labels labels.npy
 * --weights W.npy --bias b.npy` computes): every key bit for bit. */
Test(ufm_run, analyze_reproduces_the_last_row)
{
    int64_t counts[3] = {4, 5, 6};
    cl_ufm_config c = small(counts);
    c.loss = CL_UFM_MSE;
    c.lr = 0.5;
    cl_ufm_summary s;
    const char *dir = tpath("r");
    char dcopy[256];
    snprintf(dcopy, sizeof dcopy, "%s", dir);
    run_into(&c, dcopy, &s);
    char p[300];
    cl_csv csv;
    cr_assert_eq(cl_csv_read(tc_path(p, sizeof p, dcopy, "metrics.csv"), "", &csv), CL_OK,
                 "%s", cl_errmsg());
    float *H, *W, *b;
    int32_t *y;
    int nd;
    int64_t sh[8], sw[8], sb[8], sy[8];
    cr_assert_eq(cl_npy_read_f32(tc_path(p, sizeof p, dcopy, "H.npy"), &H, &nd, sh), CL_OK);
    cr_assert_eq(cl_npy_read_f32(tc_path(p, sizeof p, dcopy, "W.npy"), &W, &nd, sw), CL_OK);
    cr_assert_eq(cl_npy_read_f32(tc_path(p, sizeof p, dcopy, "b.npy"), &b, &nd, sb), CL_OK);
    cr_assert_eq(cl_npy_read_i32(tc_path(p, sizeof p, dcopy, "labels.npy"), &y, &nd, sy), CL_OK);
    cr_assert_eq(sh[0], 15);
    cr_assert_eq(sh[1], 4);
    cr_assert_eq(sw[0], 3);
    cl_nc_result r;
    cl_nc_opts o = cl_nc_opts_default();
    o.gnc = 1; /* as `collapse analyze` without --no-gnc */
    cr_assert_eq(cl_nc_analyze(H, sh[0], (int)sh[1], y, 3, W, b, &o, &r), CL_OK);
    const double *last = csv.num + (csv.nrows - 1) * csv.ncols;
    cr_expect_eq(last[0], 200);
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        int col = cl_csv_col(&csv, cl_nc_key_name(i));
        cr_assert_geq(col, 0, "%s missing", cl_nc_key_name(i));
        double v = cl_nc_key_value(&r, i);
        cr_expect(v == last[col] || (isnan(v) && isnan(last[col])), "%s: %.17g vs %.17g",
                  cl_nc_key_name(i), v, last[col]);
    }
    cl_free(H), cl_free(W), cl_free(b), cl_free(y);
    cl_csv_free(&csv);
}

Test(ufm_run, lpm_keeps_its_constraints)
{
    int64_t counts[4] = {8, 8, 2, 2};
    cl_ufm_config c = small(counts);
    c.K = 4;
    c.bias = 0;
    c.wd_w = c.wd_h = 0;
    c.lpm = 1;
    c.ew = 1;
    c.eh = 5;
    c.lr = 1;
    cl_ufm *u;
    cr_assert_eq(cl_ufm_create(&u, &c), CL_OK, "%s", cl_errmsg());
    const double *W = cl_ufm_params(u, NULL), *H = W + c.K * c.d + c.K;
    for (int t = 0; t < 300; t++) {
        cr_assert_eq(cl_ufm_step(u), CL_OK);
        double w2 = 0, h2 = 0;
        for (int j = 0; j < c.K * c.d; j++)
            w2 += W[j] * W[j];
        for (int i = 0; i < 20; i++)
            for (int j = 0; j < c.d; j++)
                h2 += H[i * c.d + j] * H[i * c.d + j] / (i < 16 ? 8.0 : 2.0);
        cr_assert_leq(w2 / c.K, c.ew * (1 + 1e-12), "step %d: W %g", t, w2 / c.K);
        cr_assert_leq(h2 / c.K, c.eh * (1 + 1e-12), "step %d: H %g", t, h2 / c.K);
        if (t == 299) { /* CE pushes both norms to the boundary */
            cr_expect_gt(w2 / c.K, c.ew * (1 - 1e-9));
            cr_expect_gt(h2 / c.K, c.eh * (1 - 1e-9));
        }
    }
    cl_ufm_destroy(u);
}

Test(ufm_run, sphere_keeps_unit_norms)
{
    int64_t counts[3] = {4, 5, 6};
    cl_ufm_config c = small(counts);
    c.bias = 0;
    c.wd_w = c.wd_h = 0;
    c.sphere = 1;
    c.temperature = 4;
    c.momentum = 0.5;
    cl_ufm *u;
    cr_assert_eq(cl_ufm_create(&u, &c), CL_OK, "%s", cl_errmsg());
    const double *W = cl_ufm_params(u, NULL), *H = W + c.K * c.d + c.K;
    for (int t = 0; t < 200; t++)
        cr_assert_eq(cl_ufm_step(u), CL_OK);
    for (int i = 0; i < c.K + 15; i++) {
        const double *x = i < c.K ? W + i * c.d : H + (i - c.K) * c.d;
        double s = 0;
        for (int j = 0; j < c.d; j++)
            s += x[j] * x[j];
        cr_expect_lt(fabs(sqrt(s) - 1), 1e-12, "row %d norm %.17g", i, sqrt(s));
    }
    cl_ufm_summary s;
    cr_assert_eq(cl_ufm_measure(u, &s), CL_OK);
    cr_expect_lt(s.nc1, 1e-3, "sphere nc1 %g", s.nc1);
    cl_ufm_destroy(u);
}

/* The DNC start: every layer's class means are on K coordinate axes (rank
 * K, NC1 0), and gradient descent from it stays there. */
Test(ufm_run, dnc_start_is_collapsed_in_every_layer)
{
    int64_t counts[4] = {3, 3, 3, 3};
    cl_ufm_config c = small(counts);
    c.K = 4;
    c.d = 5;
    c.loss = CL_UFM_MSE;
    c.bias = 0;
    c.depth = 3;
    c.width = 6;
    c.wd_w = c.wd_h = 0.004;
    c.dnc_start = 1;
    c.lr = 0.5;
    cl_ufm *u;
    cr_assert_eq(cl_ufm_create(&u, &c), CL_OK, "%s", cl_errmsg());
    cl_ufm_summary s0, s1;
    cr_assert_eq(cl_ufm_measure(u, &s0), CL_OK);
    for (int t = 0; t < 100; t++)
        cr_assert_eq(cl_ufm_step(u), CL_OK);
    cr_assert_eq(cl_ufm_measure(u, &s1), CL_OK);
    for (int l = 0; l < 3; l++) {
        cr_expect_eq(s0.rank[l], 4, "layer %d rank %d", l + 1, s0.rank[l]);
        cr_expect_lt(s0.nc1q_layer[l], 1e-20);
    }
    /* the balanced scales are optimal within the DNC family: GD barely moves */
    cr_expect_lt(fabs(s1.objective - s0.objective), 1e-9 * s0.objective, "%.17g -> %.17g",
                 s0.objective, s1.objective);
    cl_ufm_destroy(u);
}

static void cli_fails(const char *args, const char *flag)
{
    char line[1024], out[4096];
    const char *dir = tpath("cli_out");
    snprintf(line, sizeof line, "ufm %s --out %s", args, dir);
    int st = tc_run_capture(line, out, sizeof out);
    cr_expect_eq(st, 2, "'%s': exit %d: %s", args, st, out);
    cr_expect(strstr(out, flag) != NULL, "'%s': message lacks %s: %s", args, flag, out);
    cr_expect_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
    cr_expect(!tc_exists(dir), "'%s' created the folder", args);
}

Test(ufm_run, cli_bad_flags_name_the_flag)
{
    /* flags added to a valid command line, and the flag the error must name */
    static const char *const cases[][2] = {
        {"--loss hinge", "--loss"},
        {"--lr -1", "--lr"},
        {"--momentum 1", "--momentum"},
        {"--depth 3", "--width"},
        {"--lpm --ew 1", "--eh"},
        {"--lpm --ew 1 --eh 1 --wd-w 0.1", "--lpm"},
        {"--temperature 2", "--temperature"},
        {"--wd-h -1", "--wd-h"},
        {"--dnc-start", "--dnc-start"},
        {"--bogus", "--bogus"},
    };
    char a[512];
    cli_fails("--dim 4 --per-class 2 --steps 5", "--classes");
    cli_fails("--classes 3 --dim 0 --per-class 2 --steps 5", "--dim");
    cli_fails("--classes 3 --dim 4 --counts 2,2 --steps 5", "--counts");
    cli_fails("--classes 3 --dim 4 --counts 2,x,2 --steps 5", "--counts");
    cli_fails("--classes 3 --dim 4 --per-class 2", "--steps");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(a, sizeof a, "--classes 3 --dim 4 --per-class 2 --steps 5 %s", cases[i][0]);
        cli_fails(a, cases[i][1]);
    }
}

Test(ufm_run, cli_run_writes_the_files)
{
    char line[1024], out[8192], p[300];
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tpath("cli_ok"));
    snprintf(line, sizeof line,
             "ufm --classes 3 --dim 4 --per-class 3 --loss ce --steps 20 --lr 2 --out %s", dir);
    int st = tc_run_capture(line, out, sizeof out);
    cr_assert_eq(st, 0, "%s", out);
    cr_expect(strstr(out, "closed form (ce)") != NULL, "%s", out);
    const char *files[] = {"metrics.csv", "W.npy", "H.npy", "b.npy", "labels.npy"};
    for (int i = 0; i < 5; i++)
        cr_expect(tc_exists(tc_path(p, sizeof p, dir, files[i])), "%s missing", files[i]);
}
