/* --classes and collapse probe as child processes ($COLLAPSE_BIN) on small
 * MNIST subsets: the remap and config.json's class_subset, eval reading it
 * back, the one-line errors, probe JSON identical for the same seed and
 * different for another, --all-checkpoints rows, bad flags; and
 * plot --csv --scatter. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "common.h"

static void has(const char *file, const char *what)
{
    char *s = tc_slurp(file, NULL);
    cr_assert(strstr(s, what), "no '%s' in %s: %s", what, file, s);
    free(s);
}

/* Trains a 2-epoch run on digits 3,1,4 (in that order) into dir/run. */
static void train(ctx *c, char *run, size_t cap)
{
    char model[256];
    small_model(c, model, sizeof model);
    sub(run, cap, "%s/run", c->dir);
    const char *a[] = {"train", "--model", model, "--data", "mnist", "--classes", "3,1,4",
                       "--train-per-class", "20", "--test-per-class", "10", "--epochs", "2",
                       "--batch", "20", "--analyze", "none", "--out", run, NULL};
    run_ok(c, a);
}

Test(probe_cli, classes_remap_config_and_probe_json, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "probe");
    char rd[256], cfg[300], j1[300], j2[300], j3[300];
    train(&c, rd, sizeof rd);
    has(c.out, "classes: 3->0 (3) 1->1 (1) 4->2 (4)");
    has(c.out, "train 60  test 30");
    sub(cfg, sizeof cfg, "%s/config.json", rd);
    char *s = tc_slurp(cfg, NULL);
    char *p = strstr(s, "\"class_subset\"");
    cr_assert(p, "%s", s);
    int a = -1, b = -1, d = -1;
    cr_assert_eq(sscanf(p, "\"class_subset\": [ %d , %d , %d ]", &a, &b, &d), 3, "%.80s", p);
    cr_assert(a == 3 && b == 1 && d == 4);
    free(s);
    const char *ev[] = {"eval", rd, NULL}; /* the subset comes back from config.json */
    run_ok(&c, ev);
    has(c.out, "classes: 3->0 (3) 1->1 (1) 4->2 (4)");
    sub(j1, sizeof j1, "%s/p1.json", c.dir);
    sub(j2, sizeof j2, "%s/p2.json", c.dir);
    sub(j3, sizeof j3, "%s/p3.json", c.dir);
    const char *p1[] = {"probe", rd, "--classes", "5-9", "--shots", "1,3", "--episodes", "10",
                        "--out", j1, NULL};
    const char *p2[] = {"probe", rd, "--classes", "5-9", "--shots", "1,3", "--episodes", "10",
                        "--out", j2, NULL};
    const char *p3[] = {"probe", rd, "--classes", "5-9", "--shots", "1,3", "--episodes", "10",
                        "--seed", "2", "--all-checkpoints", "--out", j3, NULL};
    run_ok(&c, p1);
    has(c.out, "3-shot");
    run_ok(&c, p2);
    size_t n1, n2, n3;
    char *t1 = tc_slurp(j1, &n1), *t2 = tc_slurp(j2, &n2), *t3;
    cr_assert(n1 == n2 && !memcmp(t1, t2, n1), "same seed, different JSON");
    cr_assert(strstr(t1, "\"cdnv_test\"") && strstr(t1, "\"probe_acc\"") &&
              strstr(t1, "\"nc1_train\"") && strstr(t1, "\"classes\": 5"), "%s", t1);
    run_ok(&c, p3);
    t3 = tc_slurp(j3, &n3);
    cr_assert(n3 != n1 || memcmp(t1, t3, n1), "another seed, same JSON");
    int rows = 0;
    for (const char *q = t3; (q = strstr(q, "\"checkpoint\"")); q++) rows++;
    cr_assert_eq(rows, 2, "two kept slots, two rows: %s", t3);
    free(t1);
    free(t2);
    free(t3);
    ctx_done(&c);
}

Test(probe_cli, bad_flags, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "probebad");
    char rd[256], model[256];
    train(&c, rd, sizeof rd);
    small_model(&c, model, sizeof model);
    struct {
        const char *flag, *val, *msg;
        int code;
    } cases[] = {
        {"--classes", "3,3", "listed twice", 2},
        {"--classes", "4", "at least 2 classes", 2},
        {"--classes", "", "empty class list", 2},
        {"--classes", "1-x", "need a class list", 2},
        {"--classes", "5-10", "class 10 is out of range", 1},
        {"--shots", "0", "--shots", 2},
        {"--episodes", "0", "--episodes", 2},
        {"--ridge", "-1", "--ridge", 2},
        {"--layer", "nope", "no layer 'nope'", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *a[] = {"probe", rd, "--classes", "5-9", cases[i].flag, cases[i].val, NULL};
        if (!strcmp(cases[i].flag, "--classes")) a[2] = "--seed", a[3] = "1";
        cr_assert_eq(run(&c, a), cases[i].code, "%s %s", cases[i].flag, cases[i].val);
        has(c.err, cases[i].msg);
        char *e = tc_slurp(c.err, NULL);
        cr_assert_eq(strchr(e, '\n'), e + strlen(e) - 1, "one line: %s", e);
        free(e);
    }
    const char *noc[] = {"probe", rd, NULL};
    cr_assert_eq(run(&c, noc), 2);
    has(c.err, "--classes LIST is required");
    /* multi-label data: the transfer measures are single-label ones */
    char js[256];
    sub(js, sizeof js, "%s/mlab.json", c.dir);
    const char *ml[] = {"probe", rd, "--data", "mlab-mnist", "--classes", "0-4",
                        "--train-per-class", "5", "--test-per-class", "2", "--out", js, NULL};
    cr_assert_eq(run(&c, ml), 1);
    has(c.err, "multi-label (K-hot) samples");
    cr_assert(!tc_exists(js), "%s was written", js);
    /* train refuses a bad list too, before writing anything */
    char out[256];
    sub(out, sizeof out, "%s/bad", c.dir);
    const char *tr[] = {"train", "--model", model, "--data", "mnist", "--classes", "0,12",
                        "--epochs", "1", "--out", out, NULL};
    cr_assert_eq(run(&c, tr), 1);
    has(c.err, "--classes: class 12 is out of range");
    cr_assert(!tc_exists(out), "%s was written", out);
    ctx_done(&c);
}

Test(probe_cli, plot_csv_scatter, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "scatter");
    char csv[256], a[256], b[256];
    sub(csv, sizeof csv, "%s/s.csv", c.dir);
    sub(a, sizeof a, "%s/lines.png", c.dir);
    sub(b, sizeof b, "%s/scatter.png", c.dir);
    tc_write_text(csv, "x,y\n1,0.5\n3,0.2\n2,0.9\n4,0.4\n");
    const char *l[] = {"plot", "--csv", csv, "--y", "y", "--x", "x", "--png", a, NULL};
    const char *s[] = {"plot", "--csv", csv, "--y", "y", "--x", "x", "--png", b, "--scatter",
                       NULL};
    run_ok(&c, l);
    run_ok(&c, s);
    cr_assert(tc_is_png(a) && tc_is_png(b));
    size_t na, nb;
    char *ta = tc_slurp(a, &na), *tb = tc_slurp(b, &nb);
    cr_assert(na != nb || memcmp(ta, tb, na), "--scatter draws the same figure");
    free(ta);
    free(tb);
    ctx_done(&c);
}
