/* `collapse analyze --targets` (regression mode), run as a child process:
 * JSON against the NumPy reference, the table, and one-line errors for
 * shape mismatches naming the file (exit 1) and usage errors (exit 2). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/npy.h"
#include "collapse/nrc.h"
#include "common.h"

#define FIX "fixtures/nrc/"

static int run(const char *args, char *out, size_t cap)
{
    char line[2048];
    snprintf(line, sizeof line, "analyze %s", args);
    return tc_run_capture(line, out, cap);
}

static double json_num(const char *from, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *k = strstr(from, pat);
    cr_assert_not_null(k, "%s lacks %s", from, key);
    if (!strncmp(k + strlen(pat), "null", 4)) return NAN;
    return strtod(k + strlen(pat), NULL);
}

Test(nrc_cli, json_matches_reference)
{
    static char out[1 << 16];
    const char *cases[] = {"tall", "near"};
    for (int t = 0; t < 2; t++) {
        char args[1024], p[256];
        const char *c = cases[t];
        snprintf(args, sizeof args,
                 "--json --uncentred --features " FIX "%s/H.npy --targets " FIX
                 "%s/Y.npy --weights " FIX "%s/W.npy --bias " FIX "%s/b.npy",
                 c, c, c, c);
        cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
        cr_assert(strstr(out, "\"features\": \"uncentred\""), "%s", out);
        snprintf(p, sizeof p, FIX "%s/expected_uncentred.npy", c);
        double *e;
        int nd;
        int64_t sh[8];
        cr_assert_eq(cl_npy_read_f64(p, &e, &nd, sh), CL_OK);
        const char *m = strstr(out, "\"metrics\"");
        cr_assert_not_null(m);
        for (int i = 0; i < cl_nrc_nkeys(); i++) {
            double v = json_num(m, cl_nrc_key_name(i));
            cr_expect(fabs(v - e[i]) <= 1e-7 * fmax(1, fabs(e[i])), "%s %s: %.12g vs %.12g", c,
                      cl_nrc_key_name(i), v, e[i]);
        }
        cl_free(e);
    }
}

Test(nrc_cli, table_and_errors)
{
    static char out[1 << 16];
    cr_assert_eq(run("--features " FIX "wide/H.npy --targets " FIX "wide/Y.npy", out,
                     sizeof out),
                 0, "%s", out);
    cr_assert(strstr(out, "nrc1") && strstr(out, "centred"), "%s", out);
    /* targets with the wrong number of rows: one line naming the file */
    cr_assert_eq(run("--features " FIX "wide/H.npy --targets " FIX "tall/Y.npy", out,
                     sizeof out),
                 1, "%s", out);
    cr_assert(strstr(out, "--targets") && strstr(out, "tall/Y.npy") && strstr(out, "rows"),
              "%s", out);
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
    /* W of the wrong shape */
    cr_assert_eq(run("--features " FIX "wide/H.npy --targets " FIX "wide/Y.npy --weights " FIX
                     "tall/W.npy",
                     out, sizeof out),
                 1, "%s", out);
    cr_assert(strstr(out, "--weights") && strstr(out, "tall/W.npy"), "%s", out);
    /* b of the wrong length */
    cr_assert_eq(run("--features " FIX "tall/H.npy --targets " FIX "tall/Y.npy --weights " FIX
                     "tall/W.npy --bias " FIX "wide/b.npy",
                     out, sizeof out),
                 1, "%s", out);
    cr_assert(strstr(out, "--bias") && strstr(out, "wide/b.npy"), "%s", out);
    /* usage */
    cr_assert_eq(run("--targets " FIX "tall/Y.npy", out, sizeof out), 2, "%s", out);
    cr_assert_eq(run("--features " FIX "tall/H.npy --targets " FIX "tall/Y.npy --bias " FIX
                     "tall/b.npy",
                     out, sizeof out),
                 2, "%s", out);
    cr_assert_eq(run("--features " FIX "tall/H.npy --targets " FIX "tall/Y.npy --labels x",
                     out, sizeof out),
                 2, "%s", out);
}
