/* Data module, class imbalance: --imbalance R --minority M and --long-tail R
 * (exact counts, determinism from the seed, the seed changes which samples
 * stay, bad options), and the CLI's counts line and errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../src/data/internal.h"
#include "cli_common.h"
#include "common.h"
#include "collapse/data.h"
#include "data_common.h"

TestSuite(data_imbalance);

/* The MNIST test split cut to `per` per class, with imbalance options o. */
static void prepared(int64_t per, cl_data_opts o, cl_dataset *d)
{
    load_or_fail("mnist", NULL, 0, d);
    o.train_per_class = per;
    cr_assert_eq(cl_data_prepare(d, NULL, &o), CL_OK, "%s", cl_errmsg());
}

Test(data_imbalance, step_counts_exact)
{
    cl_data_opts o = cl_data_opts_default();
    o.imbalance = 3;
    o.minority = 4;
    cl_dataset d;
    prepared(100, o, &d);
    /* round(100 / 3) = 33 for the last four classes */
    const int64_t want[10] = {100, 100, 100, 100, 100, 100, 33, 33, 33, 33};
    assert_hist(&d, want);
    cr_assert_eq(d.n, 600 + 4 * 33);
    for (int64_t i = 1; i < d.n; i++) /* kept in source order */
        cr_assert_lt(d.index[i - 1], d.index[i]);
    cl_dataset_free(&d);
    o.imbalance = 1000; /* at least one image per class */
    prepared(100, o, &d);
    const int64_t one[10] = {100, 100, 100, 100, 100, 100, 1, 1, 1, 1};
    assert_hist(&d, one);
    cl_dataset_free(&d);
}

Test(data_imbalance, long_tail_counts_exact)
{
    cl_data_opts o = cl_data_opts_default();
    o.long_tail = 100;
    int64_t have[10], want[10];
    for (int c = 0; c < 10; c++)
        have[c] = 500;
    cr_assert_eq(cl_data_imbalance_counts(have, 10, &o, want), CL_OK);
    /* 500 * 100^(-c/9), rounded */
    const int64_t exp[10] = {500, 300, 180, 108, 65, 39, 23, 14, 8, 5};
    for (int c = 0; c < 10; c++)
        cr_assert_eq(want[c], exp[c], "class %d: %lld, want %lld", c, (long long)want[c],
                     (long long)exp[c]);
    cl_dataset d;
    prepared(500, o, &d);
    assert_hist(&d, exp);
    cl_dataset_free(&d);
    have[3] = 50; /* a class smaller than its target keeps what it has */
    cr_assert_eq(cl_data_imbalance_counts(have, 10, &o, want), CL_OK);
    cr_assert_eq(want[3], 50);
    cr_assert_eq(want[0], 500);
}

static int same_index(const cl_dataset *a, const cl_dataset *b)
{
    return a->n == b->n && !memcmp(a->index, b->index, sizeof(int64_t) * (size_t)a->n);
}

Test(data_imbalance, deterministic_and_seeded)
{
    cl_data_opts o = cl_data_opts_default();
    o.imbalance = 10;
    o.minority = 5;
    o.seed = 7;
    cl_dataset a, b, c, base;
    prepared(200, o, &a);
    prepared(200, o, &b);
    cr_assert(same_index(&a, &b), "same seed, different samples");
    o.seed = 8;
    prepared(200, o, &c);
    cr_assert_eq(a.n, c.n);
    cr_assert(!same_index(&a, &c), "another seed kept the same samples");
    /* the balanced subset is the same with imbalance on: majority classes untouched */
    cl_data_opts p = cl_data_opts_default();
    p.seed = 7;
    prepared(200, p, &base);
    int64_t j = 0, shared = 0;
    for (int64_t i = 0; i < base.n; i++)
        if (base.y_true[i] < 5) {
            while (j < a.n && a.index[j] < base.index[i])
                j++;
            shared += j < a.n && a.index[j] == base.index[i];
        }
    cr_assert_eq(shared, 5 * 200);
    cl_dataset_free(&a);
    cl_dataset_free(&b);
    cl_dataset_free(&c);
    cl_dataset_free(&base);
}

Test(data_imbalance, random_labels_come_after)
{
    cl_data_opts o = cl_data_opts_default();
    o.imbalance = 10;
    o.minority = 5;
    o.random_labels = 1;
    cl_dataset d;
    prepared(100, o, &d);
    /* the true classes carry the imbalance; permuted labels keep those counts */
    const int64_t want[10] = {100, 100, 100, 100, 100, 10, 10, 10, 10, 10};
    assert_hist(&d, want);
    int64_t truth[10] = {0};
    for (int64_t i = 0; i < d.n; i++)
        truth[d.y_true[i]]++;
    for (int k = 0; k < 10; k++)
        cr_assert_eq(truth[k], want[k]);
    cl_dataset_free(&d);
}

Test(data_imbalance, bad_options)
{
    int64_t have[10] = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, want[10];
    cl_data_opts o = cl_data_opts_default();
    o.imbalance = 0.5;
    o.minority = 2;
    cr_assert_eq(cl_data_imbalance_counts(have, 10, &o, want), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "--imbalance"), "%s", cl_errmsg());
    o.imbalance = 2;
    o.minority = 10;
    cr_assert_eq(cl_data_imbalance_counts(have, 10, &o, want), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "--minority 10"), "%s", cl_errmsg());
    o.minority = 0;
    cr_assert_eq(cl_data_imbalance_counts(have, 10, &o, want), CL_EINVAL);
    o.minority = 3;
    o.long_tail = 4;
    cr_assert_eq(cl_data_imbalance_counts(have, 10, &o, want), CL_EINVAL);
    cr_assert(strstr(cl_errmsg(), "--long-tail"), "%s", cl_errmsg());
    o.imbalance = 0;
    o.minority = 0;
    o.long_tail = 0.9;
    cr_assert_eq(cl_data_imbalance_counts(have, 10, &o, want), CL_EINVAL);
    o.long_tail = 1; /* R = 1: nothing removed */
    cr_assert_eq(cl_data_imbalance_counts(have, 10, &o, want), CL_OK);
    cr_assert_eq(want[9], 5);
}

Test(data_imbalance, cli_prints_counts_and_names_flags, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "imb");
    char model[256], out[256], cfg[300], text[8192];
    small_model(&c, model, sizeof model);
    sub(out, sizeof out, "%s/run", c.dir);
    const char *a[] = {"train",   "--model",
                       model,     "--data",
                       "fashion", "--train-per-class",
                       "20",      "--test-per-class",
                       "5",       "--epochs",
                       "1",       "--batch",
                       "50",      "--imbalance",
                       "4",       "--minority",
                       "3",       "--analyze",
                       "none",    "--out",
                       out,       NULL};
    run_ok(&c, a);
    FILE *f = fopen(c.out, "r");
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    cr_assert(strstr(text, "class counts (train): 20 20 20 20 20 20 20 5 5 5"), "%s",
              text);
    sub(cfg, sizeof cfg, "%s/config.json", out);
    f = fopen(cfg, "r");
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    cr_assert(strstr(text, "\"imbalance\"") && strstr(text, "\"minority\": 3"), "%s",
              text);
    cr_assert(strstr(text, "\"class_counts\""), "%s", text);
    /* --resume with a changed ratio is refused */
    const char *r[] = {"train",   "--model",           model,  "--data",
                       "fashion", "--train-per-class", "20",   "--test-per-class",
                       "5",       "--epochs",          "2",    "--batch",
                       "50",      "--imbalance",       "5",    "--minority",
                       "3",       "--analyze",         "none", "--out",
                       out,       "--resume",          NULL};
    cr_assert_neq(run(&c, r), 0);
    static const struct {
        const char *a[4];
        const char *want;
    } bad[] = {{{"--imbalance", "0.5", "--minority", "2"}, "--imbalance"},
               {{"--imbalance", "3", "--minority", "10"}, "--minority 10"},
               {{"--imbalance", "3", NULL}, "--minority"},
               {{"--imbalance", "3", "--minority", "2"}, NULL}};
    for (int k = 0; k < 3; k++) {
        char o2[300];
        sub(o2, sizeof o2, "%s/bad%d", c.dir, k);
        const char *b[] = {"train",     "--model",   model,       "--data", "fashion",
                           "--epochs",  "1",         "--out",     o2,       bad[k].a[0],
                           bad[k].a[1], bad[k].a[2], bad[k].a[3], NULL};
        cr_assert_neq(run(&c, b), 0, "%s", bad[k].want);
        f = fopen(c.err, "r");
        n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = 0;
        cr_assert(strstr(text, bad[k].want), "%s: %s", bad[k].want, text);
    }
    const char *both[] = {"train",   "--model",     model, "--data",
                          "fashion", "--long-tail", "10",  "--imbalance",
                          "3",       "--minority",  "2",   NULL};
    cr_assert_eq(run(&c, both), 2);
    ctx_done(&c);
}
