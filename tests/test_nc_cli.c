/* The `collapse analyze` command, run as a child process ($COLLAPSE_BIN):
 * JSON against the NumPy reference, the table form, runs without W, and
 * usage and file errors (exit 2 / exit 1, one line naming flag and file). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/nc.h"
#include "collapse/npy.h"
#include "common.h"
#include "nc_common.h"

/* ---- CLI ---- */

static int run(const char *args, char *out, size_t cap)
{
    char line[2048];
    snprintf(line, sizeof line, "analyze %s", args);
    return tc_run_capture(line, out, cap);
}

static double json_metric(const char *out, const char *key)
{
    const char *m = strstr(out, "\"metrics\"");
    cr_assert_not_null(m, "%s", out);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *k = strstr(m, pat);
    cr_assert_not_null(k, "%s lacks %s", out, key);
    if (!strncmp(k + strlen(pat), "null", 4)) return NAN;
    return strtod(k + strlen(pat), NULL);
}

Test(nc_cli, cli_json_matches_reference)
{
    static char out[1 << 16];
    const char *cases[] = {"unbal", "conv"};
    for (int t = 0; t < 2; t++) {
        char args[1024], p[256];
        snprintf(args, sizeof args,
                 "--json --features " FIX "%s/H.npy --labels " FIX
                 "%s/y.npy --weights " FIX "%s/W.npy --bias " FIX
                 "%s/b.npy --weighted-mean",
                 cases[t], cases[t], cases[t], cases[t]);
        cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
        cr_assert(strstr(out, "\"mu_G\": \"weighted\""), "%s", out);
        cr_assert(strstr(out, "\"nc4_bias\": true"), "%s", out);
        snprintf(p, sizeof p, FIX "%s/expected_weighted.npy", cases[t]);
        double *e;
        int nd;
        int64_t sh[8];
        cr_assert_eq(cl_npy_read_f64(p, &e, &nd, sh), CL_OK);
        /* imbalance keys: only for the unbalanced case; gnc: see test_nc_gnc.c */
        for (int i = 0; i < cl_nc_nkeys(); i++) {
            int g = cl_nc_key_group(i);
            char pat[64];
            snprintf(pat, sizeof pat, "\"%s\": ", cl_nc_key_name(i));
            if (g == CL_NC_GROUP_GNC) continue;
            if (g == CL_NC_GROUP_IMBALANCE && t == 1) {
                cr_expect_null(strstr(out, pat), "%s", out);
                continue;
            }
            cr_expect(close_rel(json_metric(out, cl_nc_key_name(i)), e[i], 1e-6), "%s %s",
                      cases[t], cl_nc_key_name(i));
        }
        cl_free(e);
    }
    cr_assert_eq(run("--json --nc4-no-bias --features " FIX "tall/H.npy --labels " FIX
                     "tall/y.npy --weights " FIX "tall/W.npy --bias " FIX "tall/b.npy",
                     out, sizeof out),
                 0, "%s", out);
    cr_assert(strstr(out, "\"nc4_bias\": false"), "%s", out);
    cr_assert(strstr(out, "\"N\": 300,") && strstr(out, "\"dim\": 24,") &&
                  strstr(out, "\"K\": 6,"),
              "%s", out);
    double *e;
    int nd;
    int64_t sh[8];
    cr_assert_eq(cl_npy_read_f64(FIX "tall/expected_nobias.npy", &e, &nd, sh), CL_OK);
    cr_expect(close_rel(json_metric(out, "nc4"), e[14], 1e-6));
    cl_free(e);
}

Test(nc_cli, cli_table_and_no_weights)
{
    static char out[1 << 16];
    cr_assert_eq(
        run("--features " FIX "wide/H.npy --labels " FIX "wide/y.npy", out, sizeof out),
        0, "%s", out);
    cr_assert(strstr(out, "N = 40, dim = 120, K = 4"), "%s", out);
    cr_assert(strstr(out, "nc1 "), "%s", out);
    cr_assert(strstr(out, "mu_G unweighted"), "%s", out);
    cr_assert_eq(run("--json --features " FIX "wide/H.npy --labels " FIX "wide/y.npy",
                     out, sizeof out),
                 0, "%s", out);
    cr_assert(isnan(json_metric(out, "nc3")));
    cr_assert(isfinite(json_metric(out, "nc1")));
    cr_assert(strstr(out, "\"weights\": null"), "%s", out);
}

/* Writes a hand-made .npy (header dict + raw data) into dir. */
static void write_npy(const char *path, const char *dict, const void *data, size_t nbytes)
{
    char hdr[128];
    memset(hdr, ' ', sizeof hdr);
    size_t n = strlen(dict);
    memcpy(hdr, dict, n);
    size_t hlen = 128 - 10;
    hdr[hlen - 1] = '\n';
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    unsigned char m[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)hlen, 0};
    fwrite(m, 1, 10, f);
    fwrite(hdr, 1, hlen, f);
    fwrite(data, 1, nbytes, f);
    fclose(f);
}

Test(nc_cli, cli_errors)
{
    static char out[1 << 16];
    char dir[64], args[1024], p[128];
    tc_tmpdir_make(dir, sizeof dir, "nc_cli");

    /* Usage errors: exit 2. */
    cr_assert_eq(run("--features " FIX "tall/H.npy", out, sizeof out), 2, "%s", out);
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX
                     "tall/y.npy --frobnicate",
                     out, sizeof out),
                 2, "%s", out);
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX "tall/y.npy --bias " FIX
                     "tall/b.npy",
                     out, sizeof out),
                 2, "%s", out);
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX
                     "tall/y.npy --classes x",
                     out, sizeof out),
                 2, "%s", out);

    /* Fortran-order features: exit 1, one line naming the flag and file. */
    float d[4] = {0};
    snprintf(p, sizeof p, "%s/fortran.npy", dir);
    write_npy(p, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", d,
              sizeof d);
    snprintf(args, sizeof args, "--features %s --labels " FIX "tall/y.npy", p);
    cr_assert_eq(run(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--features") && strstr(out, p) && strstr(out, "Fortran"), "%s",
              out);
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "not one line: %s", out);

    /* Big-endian labels. */
    snprintf(p, sizeof p, "%s/be.npy", dir);
    write_npy(p, "{'descr': '>i8', 'fortran_order': False, 'shape': (300,), }",
              (char[2400]){0}, 2400);
    snprintf(args, sizeof args, "--features " FIX "tall/H.npy --labels %s", p);
    cr_assert_eq(run(args, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "--labels") && strstr(out, "big-endian"), "%s", out);

    /* Shape mismatch: labels of another case. */
    cr_assert_eq(
        run("--features " FIX "tall/H.npy --labels " FIX "wide/y.npy", out, sizeof out),
        1, "%s", out);
    cr_assert(strstr(out, "--labels") && strstr(out, "300 labels"), "%s", out);
    /* W of the wrong width. */
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX
                     "tall/y.npy --weights " FIX "wide/W.npy",
                     out, sizeof out),
                 1, "%s", out);
    cr_assert(strstr(out, "--weights"), "%s", out);
    /* A class with no samples (K forced to 8). */
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX
                     "tall/y.npy --classes 8",
                     out, sizeof out),
                 1, "%s", out);
    cr_assert(strstr(out, "class 6 has no samples") && strstr(out, "--labels"), "%s",
              out);
    /* Labels out of range for --classes. */
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX
                     "tall/y.npy --classes 3",
                     out, sizeof out),
                 1, "%s", out);
    cr_assert(strstr(out, "out of range"), "%s", out);
    /* Missing file. */
    cr_assert_eq(
        run("--features /nonexistent/H.npy --labels " FIX "tall/y.npy", out, sizeof out),
        1, "%s", out);
    cr_assert(strstr(out, "/nonexistent/H.npy"), "%s", out);

    tc_tmpdir_remove(dir);
}

/* Rank-deficient class means (fixture "shared": rank 4 < 5): exit 0, one
 * line says why NC1 and D are undefined, the other keys are printed. */
Test(nc_cli, cli_rank_deficient_means, .timeout = TC_TIMEOUT)
{
    static char out[1 << 16];
    cr_assert_eq(run("--features " FIX "shared/H.npy --labels " FIX "shared/y.npy --weights " FIX
                     "shared/W.npy",
                     out, sizeof out),
                 0, "%s", out);
    cr_assert(strstr(out, "NC1 and D are undefined (nan): the class means have rank 4 < "
                          "min(K-1, dim) = 5"),
              "%s", out);
    cr_assert(strstr(out, "nc1_quotient         0.451758"), "%s", out);
    cr_assert_eq(run("--json --features " FIX "collinear/H.npy --labels " FIX "collinear/y.npy",
                     out, sizeof out),
                 0, "%s", out);
    cr_assert(strstr(out, "\"rank_M\": 1,") && strstr(out, "\"nc1_defined\": false"), "%s", out);
    cr_assert(isnan(json_metric(out, "nc1")) && isnan(json_metric(out, "D")), "%s", out);
    cr_assert(fabs(json_metric(out, "nc1_quotient") - 0.0671) < 1e-4, "%s", out);
    /* a full-rank fixture says nothing */
    cr_assert_eq(run("--features " FIX "tall/H.npy --labels " FIX "tall/y.npy", out, sizeof out),
                 0, "%s", out);
    cr_assert_null(strstr(out, "undefined"), "%s", out);
}
