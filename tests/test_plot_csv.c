/* collapse plot --csv with several files (the k-th --y takes columns of the
 * k-th --csv), legend labels, --abs, --xmin, --legend, and its usage errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "common.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* run() with its stdout + stderr in text (must be freed). */
static int run_text(ctx *c, const char *const *args, char **text)
{
    int st = run(c, args);
    char *o = tc_slurp(c->out, NULL), *e = tc_slurp(c->err, NULL);
    size_t n = strlen(o) + strlen(e) + 1;
    *text = malloc(n);
    cr_assert(*text);
    snprintf(*text, n, "%s%s", o, e);
    free(o);
    free(e);
    return st;
}

Test(plot_csv, several_files_labels_and_errors)
{
    ctx c;
    ctx_init(&c, "plotcsv");
    char a1[160], a2[160], png[160];
    char *t;
    sub(a1, sizeof a1, "%s/a.csv", c.dir);
    sub(a2, sizeof a2, "%s/b.csv", c.dir);
    sub(png, sizeof png, "%s/p.png", c.dir);
    write_file(a1, "step,gap,obj\n0,1,2\n10,-0.1,1.5\n20,-0.01,1.2\n");
    write_file(a2, "step,gap\n0,2\n10,0.5\n20,nan\n30,0.05\n");
    const char *ok[] = {"plot",     "--csv",     a1,         "--y",       "gap:run a,obj",
                        "--csv",    a2,          "--y",      "gap:run b", "--x",
                        "step",     "--logy",    "--abs",    "--xmin",    "5",
                        "--legend", "top-right", "--xlabel", "step (x)",  "--png",
                        png,        NULL};
    cr_assert_eq(run_text(&c, ok, &t), 0, "%s", t);
    cr_assert(strstr(t, "3 series of 2 files"), "%s", t);
    cr_assert(tc_is_png(png));
    free(t);

    /* one --y per --csv */
    const char *ny[] = {"plot", "--csv", a1,     "--csv", a2,  "--y",
                        "gap",  "--x",   "step", "--png", png, NULL};
    cr_assert_eq(run_text(&c, ny, &t), 2, "%s", t);
    cr_assert(strstr(t, "--y"), "%s", t);
    free(t);
    /* a column missing in the second file names the file */
    const char *miss[] = {"plot", "--csv", a1,    "--y",  "gap",   "--csv", a2,
                          "--y",  "obj",   "--x", "step", "--png", png,     NULL};
    cr_assert_eq(run_text(&c, miss, &t), 1, "%s", t);
    cr_assert(strstr(t, "obj") && strstr(t, "b.csv"), "%s", t);
    free(t);
    const char *leg[] = {"plot", "--csv",    a1,       "--y",   "gap", "--x",
                         "step", "--legend", "middle", "--png", png,   NULL};
    cr_assert_eq(run_text(&c, leg, &t), 2, "%s", t);
    cr_assert(strstr(t, "--legend"), "%s", t);
    free(t);
    const char *xm[] = {"plot", "--csv",  a1,    "--y",   "gap", "--x",
                        "step", "--xmin", "abc", "--png", png,   NULL};
    cr_assert_eq(run_text(&c, xm, &t), 2, "%s", t);
    free(t);
    const char *mixed[] = {"plot", "somerun", "--csv", a1,  "--y", "gap",
                           "--x",  "step",    "--png", png, NULL};
    cr_assert_eq(run_text(&c, mixed, &t), 2, "%s", t);
    cr_assert(strstr(t, "somerun"), "%s", t);
    free(t);
    const char *nocsv[] = {"plot", "somerun", "--abs", NULL};
    cr_assert_eq(run_text(&c, nocsv, &t), 2, "%s", t);
    cr_assert(strstr(t, "--csv"), "%s", t);
    free(t);
    ctx_done(&c);
}
