/* collapse train --keep-checkpoints N and probe --all-checkpoints over the
 * kept epochs, as child processes ($COLLAPSE_BIN) on small MNIST subsets:
 * the kept folders, one probe row per kept epoch (a slot of the same step
 * not repeated), a resume (same hash, same final weights as a run without
 * the flag), a kept folder left without its marker (a kill mid-keep) or
 * corrupt being passed over, and the one-line errors of bad values. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "common.h"

/* 60 training images, batch 20: 3 steps an epoch. extra: NULL-terminated. */
static void train(ctx *c, const char *run, const char *epochs, const char *const *extra)
{
    char model[256];
    small_model(c, model, sizeof model);
    const char *a[32] = {"train", "--model", model, "--data", "mnist", "--classes", "3,1,4",
                         "--train-per-class", "20", "--test-per-class", "10", "--epochs",
                         epochs, "--batch", "20", "--analyze", "none", "--out", run};
    int n = 19;
    for (int i = 0; extra && extra[i]; i++) a[n++] = extra[i];
    a[n] = NULL;
    run_ok(c, a);
}

static int has_marker(const char *run, const char *sub_)
{
    char p[400];
    sub(p, sizeof p, "%s/checkpoint/%s/ckpt.done", run, sub_);
    return tc_exists(p);
}

/* The "step" values of the probe JSON's rows, in order; returns the count. */
static int row_steps(const char *json, long long *steps, int cap)
{
    char *s = tc_slurp(json, NULL);
    int n = 0;
    for (const char *q = s; (q = strstr(q, "\"step\": ")) && n < cap; q++)
        steps[n++] = atoll(q + 8);
    free(s);
    return n;
}

static void probe_all(ctx *c, const char *run, const char *json)
{
    const char *a[] = {"probe", run, "--classes", "5-9", "--shots", "1", "--episodes", "3",
                       "--all-checkpoints", "--out", json, NULL};
    run_ok(c, a);
}

Test(probe_keep_cli, kept_epochs_and_rows, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "probekeep");
    char rd[256], js[300], cfg[300];
    sub(rd, sizeof rd, "%s/run", c.dir);
    const char *keep[] = {"--keep-checkpoints", "2", NULL};
    train(&c, rd, "5", keep);
    cr_assert(has_marker(rd, "epoch-0002") && has_marker(rd, "epoch-0004"));
    char p[400];
    sub(p, sizeof p, "%s/checkpoint/epoch-0001", rd);
    cr_assert(!tc_exists(p), "epoch 1 kept");
    sub(p, sizeof p, "%s/checkpoint/epoch-0005", rd);
    cr_assert(!tc_exists(p), "epoch 5 kept");
    sub(cfg, sizeof cfg, "%s/config.json", rd);
    char *s = tc_slurp(cfg, NULL);
    cr_assert(strstr(s, "\"keep_checkpoints\": 2"), "%s", s);
    free(s);
    sub(js, sizeof js, "%s/all.json", c.dir);
    probe_all(&c, rd, js);
    long long st[8];
    /* epoch-0002 (step 6), epoch-0004 (12, slot b dropped), slot a (15) */
    cr_assert_eq(row_steps(js, st, 8), 3);
    cr_assert(st[0] == 6 && st[1] == 12 && st[2] == 15, "%lld %lld %lld", st[0], st[1], st[2]);
    s = tc_slurp(js, NULL);
    cr_assert(strstr(s, "epoch-0002") && strstr(s, "epoch-0004"), "%s", s);
    free(s);

    /* a kill during a keep leaves the folder without its marker: passed over */
    sub(p, sizeof p, "%s/checkpoint/epoch-0002/ckpt.done", rd);
    cr_assert_eq(remove(p), 0);
    /* a corrupt kept model (marker present): skipped with a warning */
    sub(p, sizeof p, "%s/checkpoint/epoch-0004/model.ckpt", rd);
    size_t n;
    char *m = tc_slurp(p, &n);
    m[n / 2] ^= 0x5a;
    tc_write_file(p, m, n);
    free(m);
    probe_all(&c, rd, js);
    /* slot b (step 12) comes back now that epoch-0004 is out */
    cr_assert_eq(row_steps(js, st, 8), 2);
    cr_assert(st[0] == 12 && st[1] == 15, "%lld %lld", st[0], st[1]);
    char *e = tc_slurp(c.err, NULL);
    cr_assert(strstr(e, "skipped") && strstr(e, "epoch-0004"), "%s", e);
    free(e);
    ctx_done(&c);
}

Test(probe_keep_cli, resume_and_same_weights, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "probekeepres");
    char r1[256], r2[256], p1[400], p2[400], c1[300], c2[300];
    sub(r1, sizeof r1, "%s/keep", c.dir);
    sub(r2, sizeof r2, "%s/plain", c.dir);
    const char *stop[] = {"--keep-checkpoints", "1", "--max-steps", "6", NULL};
    train(&c, r1, "4", stop); /* stops after epoch 2 */
    cr_assert(has_marker(r1, "epoch-0001") && has_marker(r1, "epoch-0002"));
    sub(p1, sizeof p1, "%s/checkpoint/epoch-0003", r1);
    cr_assert(!tc_exists(p1));
    const char *res[] = {"--resume", "--keep-checkpoints", "1", NULL};
    train(&c, r1, "4", res);
    cr_assert(has_marker(r1, "epoch-0003") && has_marker(r1, "epoch-0004"));
    train(&c, r2, "4", NULL);
    /* the flag changes neither the hash nor the weights */
    sub(c1, sizeof c1, "%s/config.json", r1);
    sub(c2, sizeof c2, "%s/config.json", r2);
    char *s1 = tc_slurp(c1, NULL), *s2 = tc_slurp(c2, NULL);
    char *h1 = strstr(s1, "\"options_hash\""), *h2 = strstr(s2, "\"options_hash\"");
    cr_assert(h1 && h2 && !strncmp(h1, h2, 40), "%.40s vs %.40s", h1, h2);
    free(s1);
    free(s2);
    sub(p1, sizeof p1, "%s/checkpoint/epoch-0004/model.ckpt", r1);
    sub(p2, sizeof p2, "%s/checkpoint/b/model.ckpt", r2); /* b: epochs 2 and 4 */
    size_t n1, n2;
    char *m1 = tc_slurp(p1, &n1), *m2 = tc_slurp(p2, &n2);
    cr_assert(n1 == n2 && !memcmp(m1, m2, n1), "kept epoch 4 differs from the plain run");
    free(m1);
    free(m2);
    ctx_done(&c);
}

Test(probe_keep_cli, bad_values, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "probekeepbad");
    char model[256], out[256];
    small_model(&c, model, sizeof model);
    sub(out, sizeof out, "%s/bad", c.dir);
    const char *vals[] = {"0", "-1", "x", "2.5"};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        const char *a[] = {"train", "--model", model, "--data", "mnist", "--epochs", "1",
                           "--keep-checkpoints", vals[i], "--out", out, NULL};
        cr_assert_eq(run(&c, a), 2, "--keep-checkpoints %s", vals[i]);
        char *e = tc_slurp(c.err, NULL);
        cr_assert(strstr(e, "--keep-checkpoints"), "%s", e);
        cr_assert_eq(strchr(e, '\n'), e + strlen(e) - 1, "one line: %s", e);
        free(e);
        cr_assert(!tc_exists(out), "%s was written", out);
    }
    const char *noout[] = {"train", "--model", model, "--data", "mnist", "--epochs", "1",
                           "--keep-checkpoints", "2", NULL};
    cr_assert_eq(run(&c, noout), 2);
    char *e = tc_slurp(c.err, NULL);
    cr_assert(strstr(e, "--keep-checkpoints needs --out"), "%s", e);
    free(e);
    ctx_done(&c);
}
