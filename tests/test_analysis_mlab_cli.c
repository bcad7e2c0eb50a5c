/* `collapse analyze` with [N, K] K-hot labels (multi-label mode) and
 * `collapse ufm --pairs`, run as child processes: JSON against the NumPy
 * reference, the NC keys of the single-label rows (or the note saying why
 * they are omitted), one-line errors naming the file, and the UFM's
 * labels_khot.npy read back by analyze. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/mlab.h"
#include "collapse/npy.h"
#include "common.h"

#define FIX "fixtures/mlab/"

TestSuite(mlab_cli, .init = tc_tmp_init, .fini = tc_tmp_fini, .timeout = TC_TIMEOUT);

static double json_num(const char *from, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *k = strstr(from, pat);
    cr_assert_not_null(k, "%s lacks %s", from, key);
    if (!strncmp(k + strlen(pat), "null", 4)) return NAN;
    return strtod(k + strlen(pat), NULL);
}

static int one_line(const char *s)
{
    return strchr(s, '\n') == s + strlen(s) - 1;
}

Test(mlab_cli, json_matches_reference)
{
    static char out[1 << 16];
    const char *cases[] = {"mixed", "wide", "ten"};
    for (int t = 0; t < 3; t++) {
        char line[512], p[256];
        const char *c = cases[t];
        snprintf(line, sizeof line, "analyze --json --features " FIX "%s/H.npy --labels " FIX
                 "%s/Yk.npy", c, c);
        cr_assert_eq(tc_run_capture(line, out, sizeof out), 0, "%s", out);
        snprintf(p, sizeof p, FIX "%s/expected.npy", c);
        double *e;
        int nd;
        int64_t sh[8];
        cr_assert_eq(cl_npy_read_f64(p, &e, &nd, sh), CL_OK);
        const char *m = strstr(out, "\"metrics\"");
        cr_assert_not_null(m);
        for (int i = 0; i < cl_mlab_key_count(); i++) {
            double v = json_num(m, cl_mlab_key_name(i));
            cr_expect(fabs(v - e[i]) <= 1e-9 * fmax(1, fabs(e[i])), "%s %s: %.12g vs %.12g", c,
                      cl_mlab_key_name(i), v, e[i]);
        }
        /* mixed: class 4 has no single-label rows, so no NC keys */
        if (t == 0)
            cr_expect(strstr(out, "\"nc_omitted\": \"class 4") && !strstr(m, "\"nc1\""), "%s",
                      out);
        else
            cr_expect(strstr(out, "\"nc_omitted\": null") && isfinite(json_num(m, "nc1")), "%s",
                      out);
        cr_expect_eq((int64_t)json_num(out, "sets_skipped"), (int64_t)e[cl_mlab_key_count() + 4]);
        cl_free(e);
    }
    cr_assert_eq(tc_run_capture("analyze --features " FIX "ten/H.npy --labels " FIX "ten/Yk.npy",
                                out, sizeof out),
                 0, "%s", out);
    cr_expect(strstr(out, "mlab_angle") && strstr(out, "etf_M") && strstr(out, "K-hot"), "%s",
              out);
}

static void write_u8(const char *name, const uint8_t *v, int64_t rows, int64_t cols)
{
    int64_t sh[2] = {rows, cols};
    cr_assert_eq(cl_npy_write(tpath(name), CL_NPY_U8, v, 2, sh), CL_OK);
}

Test(mlab_cli, errors_name_the_file)
{
    static char out[1 << 14];
    char line[1024];
    float H[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t sh[2] = {4, 2};
    cr_assert_eq(cl_npy_write(tpath("H.npy"), CL_NPY_F32, H, 2, sh), CL_OK);
    const uint8_t zero[] = {1, 0, 0, 1, 0, 0, 1, 1}, two[] = {1, 0, 0, 2, 1, 1, 0, 1};
    write_u8("zero.npy", zero, 4, 2);
    write_u8("two.npy", two, 4, 2);
    write_u8("short.npy", zero, 3, 2);
    const char *bad[] = {"zero.npy", "two.npy", "short.npy"};
    const char *what[] = {"row 2 has no label", "value 2 at [1, 1]", "shape [4, K]"};
    for (int t = 0; t < 3; t++) {
        char hp[256];
        snprintf(hp, sizeof hp, "%s", tpath("H.npy"));
        snprintf(line, sizeof line, "analyze --features %s --labels %s", hp, tpath(bad[t]));
        cr_assert_eq(tc_run_capture(line, out, sizeof out), 1, "%s", out);
        cr_expect(strstr(out, "--labels") && strstr(out, bad[t]) && strstr(out, what[t]), "%s",
                  out);
        cr_expect(one_line(out), "one line: %s", out);
    }
    /* a flag of the single-label mode only: usage error */
    snprintf(line, sizeof line, "analyze --features " FIX "wide/H.npy --labels " FIX
             "wide/Yk.npy --classes 4");
    cr_assert_eq(tc_run_capture(line, out, sizeof out), 2, "%s", out);
    /* W of the wrong shape */
    snprintf(line, sizeof line, "analyze --features " FIX "wide/H.npy --labels " FIX
             "wide/Yk.npy --weights " FIX "wide/H.npy");
    cr_assert_eq(tc_run_capture(line, out, sizeof out), 1, "%s", out);
    cr_expect(strstr(out, "--weights") && one_line(out), "%s", out);
}

/* The last row's value of column `col` in metrics.csv text. */
static double csv_last(const char *csv, const char *col)
{
    const char *nl = strchr(csv, '\n'), *last = csv + strlen(csv) - 1;
    int idx = 0;
    for (const char *p = csv; p < nl; p++) {
        if (!strncmp(p, col, strlen(col)) && (p == csv || p[-1] == ',') &&
            (p[strlen(col)] == ',' || p[strlen(col)] == '\n'))
            break;
        idx += *p == ',';
    }
    while (last > csv && last[-1] != '\n')
        last--;
    for (int i = 0; i < idx; i++)
        last = strchr(last, ',') + 1;
    return strtod(last, NULL);
}

Test(mlab_cli, ufm_pairs_round_trip)
{
    static char out[1 << 16], csv[1 << 16];
    char line[1024], dir[256];
    snprintf(dir, sizeof dir, "%s", tc_tmpdir());
    snprintf(line, sizeof line, "ufm --classes 4 --dim 8 --per-class 10 --pairs 5 --loss pal "
             "--steps 400 --lr 1 --momentum 0.9 --log-every 400 --out %s", dir);
    cr_assert_eq(tc_run_capture(line, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "mlab_scale_mean 1.80"), "%s", out);
    FILE *f = fopen(tpath("metrics.csv"), "r");
    cr_assert_not_null(f);
    size_t n = fread(csv, 1, sizeof csv - 1, f);
    csv[n] = 0;
    fclose(f);
    cr_assert(strstr(csv, ",mlab_sets,mlab_classes,mlab_angle,"), "%s", csv);
    double scale = csv_last(csv, "mlab_scale_mean");
    snprintf(line, sizeof line, "analyze --json --features %s/H.npy --labels %s/labels_khot.npy",
             dir, dir);
    cr_assert_eq(tc_run_capture(line, out, sizeof out), 0, "%s", out);
    const char *m = strstr(out, "\"metrics\"");
    cr_assert_not_null(m);
    cr_expect(fabs(json_num(m, "mlab_scale_mean") - scale) < 1e-9, "%s vs %.12g", out, scale);
    cr_expect_eq(json_num(m, "mlab_sets"), 6);
    cr_expect_lt(json_num(m, "nc1"), 1e-3);
    /* --pairs needs a pick-all-label loss: one line naming the flag */
    snprintf(line, sizeof line, "ufm --classes 4 --dim 8 --per-class 10 --pairs 5 --steps 1 "
             "--out %s", dir);
    cr_assert_neq(tc_run_capture(line, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "--pairs") && one_line(out), "%s", out);
}
