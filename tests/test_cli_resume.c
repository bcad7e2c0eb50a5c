/* The train and eval commands, run as a child process ($COLLAPSE_BIN):
 * bit-exact resume after SIGKILL and after Ctrl-C (SIGINT), options that
 * differ on resume, eval of the run folder with and without its
 * config.json, and the non-finite stop that keeps the last checkpoint.
 * Small data: Fashion-MNIST (Debian package) subsets. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "collapse/ckpt.h"
#include "common.h"

/* Fashion-MNIST subset + a small BN MLP: every option the resume tests use. */
#define SMALL_RUN(model, out)                                                            \
    "train", "--model", model, "--data", "fashion", "--train-per-class", "300",          \
        "--test-per-class", "10", "--batch", "100", "--epochs", "8", "--lr", "0.05",     \
        "--seed", "7", "--threads", "1", "--analyze", "none", "--out", out

/* ---- resume: SIGKILL after an epoch checkpoint, and Ctrl-C ---- */

static void wait_for_checkpoint(const char *run_dir, pid_t pid)
{
    char ck[300];
    sub(ck, sizeof ck, "%s/checkpoint", run_dir);
    struct timespec ts = {0, 1000000};
    for (int i = 0; i < 60000 && !cl_ckpt_exists(ck); i++) {
        int ws;
        cr_assert_eq(waitpid(pid, &ws, WNOHANG), 0,
                     "run ended before its first checkpoint");
        nanosleep(&ts, NULL);
    }
    cr_assert(cl_ckpt_exists(ck), "no checkpoint after 60 s");
}

/* The step of the run's newest good checkpoint (slot a or b). */
static int64_t ckpt_step(const char *run_dir)
{
    char ck[300];
    sub(ck, sizeof ck, "%s/checkpoint", run_dir);
    cl_ckpt_found f;
    cr_assert_eq(cl_ckpt_find(ck, &f), CL_OK, "%s", cl_errmsg());
    return f.step;
}

static void same_model_file(const char *a, const char *b)
{
    char pa[300], pb[300];
    cr_assert_eq(cl_ckpt_resolve(a, pa, sizeof pa, NULL), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_ckpt_resolve(b, pb, sizeof pb, NULL), CL_OK, "%s", cl_errmsg());
    size_t la, lb;
    char *x = tc_slurp(pa, &la), *y = tc_slurp(pb, &lb);
    cr_assert(x && y, "missing %s or %s", pa, pb);
    cr_assert_eq(la, lb);
    cr_assert(memcmp(x, y, la) == 0, "%s and %s differ", pa, pb);
    free(x);
    free(y);
}

Test(cli_resume, resume_after_sigkill_and_sigint_is_bit_exact, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "resume");
    char model[256], ra[256], rb[256], rc[256];
    small_model(&c, model, sizeof model);
    sub(ra, sizeof ra, "%s/a", c.dir);
    sub(rb, sizeof rb, "%s/b", c.dir);
    sub(rc, sizeof rc, "%s/c", c.dir);

    /* A: uninterrupted */
    const char *a[] = {SMALL_RUN(model, ra), NULL};
    run_ok(&c, a);
    char *so = tc_slurp(c.out, NULL);
    int lines = 0;
    for (char *p = so; (p = strstr(p, "\nepoch ")); p++)
        lines++;
    cr_assert_eq(lines, 8, "want one line per epoch when not on a terminal:\n%s", so);
    cr_assert(strstr(so, "fc1") && strstr(so, "bn1") && strstr(so, "OpenBLAS core"), "%s",
              so);
    free(so);
    int64_t final_step = ckpt_step(ra);
    cr_assert_eq(final_step, 8 * 30, "3000 samples / batch 100 = 30 steps per epoch");
    char cj[300];
    sub(cj, sizeof cj, "%s/config.json", ra);
    char *json = tc_slurp(cj, NULL);
    cr_assert(json, "no config.json");
    cr_assert(strstr(json, "\"options_hash\"") && strstr(json, "\"command\"") &&
                  strstr(json, "\"spec\"") && strstr(json, "\"blas_core\"") &&
                  strstr(json, "\"train_per_class\": 300"),
              "%s", json);
    free(json);

    /* the same folder again without --resume is refused */
    cr_assert_eq(run(&c, a), 2);
    char *err = tc_slurp(c.err, NULL);
    cr_assert(strstr(err, "--resume"), "%s", err);
    free(err);

    /* B: SIGKILL after the first epoch checkpoint, then --resume */
    const char *b[] = {SMALL_RUN(model, rb), NULL};
    pid_t pid = tc_spawn(c.out, c.err, b);
    wait_for_checkpoint(rb, pid);
    kill(pid, SIGKILL);
    cr_assert_eq(tc_wait(pid), 1000 + SIGKILL);
    int64_t killed_at = ckpt_step(rb);
    cr_assert(killed_at > 0 && killed_at < final_step, "checkpoint step %lld",
              (long long)killed_at);
    const char *b2[] = {SMALL_RUN(model, rb), "--resume", NULL};
    run_ok(&c, b2);
    same_model_file(ra, rb);

    /* a different option is refused on resume */
    const char *b3[] = {SMALL_RUN(model, rb), "--resume", "--wd", "1e-3", NULL};
    cr_assert_eq(run(&c, b3), 1);
    err = tc_slurp(c.err, NULL);
    cr_assert(strstr(err, "options differ"), "%s", err);
    free(err);

    /* C: Ctrl-C during training: checkpoint written, status 130, resume */
    const char *cc[] = {SMALL_RUN(model, rc), NULL};
    pid = tc_spawn(c.out, c.err, cc);
    wait_for_checkpoint(rc, pid);
    kill(pid, SIGINT);
    int st = tc_wait(pid);
    err = tc_slurp(c.err, NULL);
    cr_assert_eq(st, 130, "status %d after SIGINT: %s", st, err);
    cr_assert(strstr(err, "interrupted"), "%s", err);
    free(err);
    int64_t int_at = ckpt_step(rc);
    cr_assert(int_at > 0 && int_at < final_step, "interrupted at step %lld",
              (long long)int_at);
    const char *c2[] = {SMALL_RUN(model, rc), "--resume", NULL};
    run_ok(&c, c2);
    same_model_file(ra, rc);

    /* eval of the run folder: the train accuracy printed by train */
    const char *e[] = {"eval",
                       ra,
                       "--data",
                       "fashion",
                       "--train-per-class",
                       "300",
                       "--test-per-class",
                       "10",
                       "--seed",
                       "7",
                       NULL};
    run_ok(&c, e);
    so = tc_slurp(c.out, NULL);
    double tl, ta, sl, sa;
    char *p = strstr(so, "train loss");
    cr_assert(p && sscanf(p, "train loss %lf acc %lf%%", &tl, &ta) == 2, "%s", so);
    p = strstr(so, "test  loss");
    cr_assert(p && sscanf(p, "test  loss %lf acc %lf%%", &sl, &sa) == 2, "%s", so);
    cr_assert(ta > 50 && ta <= 100 && sa > 30, "train acc %g, test acc %g", ta, sa);
    /* per-class train accuracy: 300 a class, so their mean is the accuracy;
     * the worst class is the smallest of them */
    double pc[10], mean = 0, lo = 101;
    p = strstr(so, "      per class  0-9");
    cr_assert(p && sscanf(p, "      per class  0-9 %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf", pc,
                          pc + 1, pc + 2, pc + 3, pc + 4, pc + 5, pc + 6, pc + 7, pc + 8,
                          pc + 9) == 10,
              "%s", so);
    for (int k = 0; k < 10; k++) {
        mean += pc[k] / 10;
        lo = pc[k] < lo ? pc[k] : lo;
    }
    cr_assert(fabs(mean - ta) < 0.006, "mean of per-class %.4f vs %.4f", mean, ta);
    int wk;
    long long wok, wn;
    double wacc;
    p = strstr(so, "      worst class ");
    cr_assert(p && sscanf(p, "      worst class %d", &wk) == 1 && strchr(p, '%'), "%s", so);
    p = strchr(p, ')') ? strchr(p, ')') + 1 : p; /* past the class name */
    cr_assert(sscanf(p, " %lf%% (%lld of %lld)", &wacc, &wok, &wn) == 3, "%s", so);
    cr_assert(wk >= 0 && wk < 10 && wn == 300 && wacc == lo && fabs(pc[wk] - lo) < 1e-9,
              "worst %d %g (%lld of %lld), min %g", wk, wacc, wok, wn, lo);
    free(so);
    /* without --data the run's own data options (config.json) are used */
    const char *e2[] = {"eval", ra, NULL};
    run_ok(&c, e2);
    so = tc_slurp(c.out, NULL);
    double tl2, ta2, sl2, sa2;
    cr_assert(strstr(so, "config.json"), "%s", so);
    p = strstr(so, "train loss");
    cr_assert(p && sscanf(p, "train loss %lf acc %lf%%", &tl2, &ta2) == 2, "%s", so);
    p = strstr(so, "test  loss");
    cr_assert(p && sscanf(p, "test  loss %lf acc %lf%%", &sl2, &sa2) == 2, "%s", so);
    cr_assert(tl2 == tl && ta2 == ta && sl2 == sl && sa2 == sa, "%s", so);
    free(so);
    ctx_done(&c);
}

/* ResNet-20 on CIFAR-10 at 2 threads: its identity blocks run channel-
 * blocked on AVX-512 (layers/block.c; thread-ordered BN and dW sums), and a
 * run killed after a checkpoint and resumed ends with the same bytes. */
#define R20_RUN(out)                                                                     \
    "train", "--arch", "resnet20", "--data", "cifar10", "--train-per-class", "10",       \
        "--test-per-class", "2", "--batch", "50", "--epochs", "3", "--seed", "5",        \
        "--threads", "2", "--analyze", "none", "--out", out

Test(cli_resume, resnet_blocked_resume_is_bit_exact, .timeout = TC_TIMEOUT)
{
    ctx c;
    ctx_init(&c, "resume_r20");
    char ra[256], rb[256];
    sub(ra, sizeof ra, "%s/a", c.dir);
    sub(rb, sizeof rb, "%s/b", c.dir);
    const char *a[] = {R20_RUN(ra), NULL};
    run_ok(&c, a);
    const char *b[] = {R20_RUN(rb), NULL};
    pid_t pid = tc_spawn(c.out, c.err, b);
    wait_for_checkpoint(rb, pid);
    kill(pid, SIGKILL);
    cr_assert_eq(tc_wait(pid), 1000 + SIGKILL);
    const int64_t killed_at = ckpt_step(rb);
    cr_assert(killed_at > 0 && killed_at < ckpt_step(ra), "checkpoint step %lld",
              (long long)killed_at);
    const char *b2[] = {R20_RUN(rb), "--resume", NULL};
    run_ok(&c, b2);
    same_model_file(ra, rb);
    ctx_done(&c);
}

/* ---- the resume hash: every option that changes a result, not JSON text ---- */

/* A short run with the study on (cheap parts only). */
#define HASH_RUN(model, out)                                                             \
    "train", "--model", model, "--data", "fashion", "--train-per-class", "50",           \
        "--test-per-class", "10", "--batch", "100", "--epochs", "2", "--seed", "3",      \
        "--threads", "1", "--analyze", "all", "--no-plots", "--no-layers",              \
        "--no-features", "--out", out

/* The options_hash string of run/config.json (into h[17]). */
static void options_hash(const char *run_dir, char *h)
{
    char cj[300];
    sub(cj, sizeof cj, "%s/config.json", run_dir);
    char *json = tc_slurp(cj, NULL);
    cr_assert(json, "no %s", cj);
    char *p = strstr(json, "\"options_hash\": \"");
    cr_assert(p, "%s", json);
    memcpy(h, p + 17, 16);
    h[16] = 0;
    free(json);
}

static void refused(ctx *c, const char *const *args, const char *why)
{
    int st = run(c, args);
    char *err = tc_slurp(c->err, NULL);
    cr_assert_eq(st, 1, "%s: status %d: %s", why, st, err);
    cr_assert(strstr(err, "options differ"), "%s: %s", why, err);
    free(err);
}

Test(cli_resume, resume_hash_covers_study_options_not_formatting)
{
    ctx c;
    ctx_init(&c, "hash");
    char model[256], ra[256], rb[256];
    small_model(&c, model, sizeof model);
    sub(ra, sizeof ra, "%s/a", c.dir);
    sub(rb, sizeof rb, "%s/b", c.dir);
    const char *a[] = {HASH_RUN(model, ra), NULL};
    int st = run(&c, a);
    char *err = tc_slurp(c.err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);

    /* study options change the result files: a resume with others is refused */
    const char *bn[] = {HASH_RUN(model, ra), "--resume", "--bn-mode", "train", NULL};
    refused(&c, bn, "--bn-mode train");
    const char *every[] = {HASH_RUN(model, ra), "--resume", NULL};
    cr_assert(!strcmp(every[17], "--analyze"), "%s", every[17]);
    every[17] = "--analyze-every"; /* instead of --analyze all */
    every[18] = "2";
    refused(&c, every, "--analyze-every 2");
    const char *noinit[] = {HASH_RUN(model, ra), "--resume", "--no-initial", NULL};
    refused(&c, noinit, "--no-initial");

    /* config.json's formatting does not matter: reindented, resume still works */
    char cj[300];
    sub(cj, sizeof cj, "%s/config.json", ra);
    char *json = tc_slurp(cj, NULL);
    FILE *f = fopen(cj, "w");
    cr_assert(f);
    fputs("\n\n", f);
    for (char *p = json; *p; p++)
        fputs(*p == '\n' ? "\n\t " : (char[]){*p, 0}, f);
    fclose(f);
    free(json);
    const char *same[] = {HASH_RUN(model, ra), "--resume", NULL};
    st = run(&c, same);
    err = tc_slurp(c.err, NULL);
    cr_assert_eq(st, 0, "resume after reformatting config.json: %d: %s", st, err);
    free(err);
    char *so = tc_slurp(c.out, NULL);
    cr_assert(strstr(so, "already complete"), "%s", so);
    free(so);

    /* the same options spelled differently give the same hash */
    const char *b[] = {"train",     "--model",     model,          "--data=fashion",
                       "--train-per-class=50", "--test-per-class", "10",
                       "--batch=100", "--epochs=2", "--seed=3",     "--threads=1",
                       "--analyze", "all",        "--no-features", "--no-layers",
                       "--no-plots", "--lr", "0.1", "--wd", "5e-4", "--out", rb,
                       "--max-steps", "1", NULL};
    st = run(&c, b);
    err = tc_slurp(c.err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);
    char ha[17], hb[17];
    options_hash(ra, ha);
    options_hash(rb, hb);
    cr_assert(!strcmp(ha, hb), "same options, other spelling: %s vs %s", ha, hb);
    ctx_done(&c);
}

/* The config.json files of the repository (older format) still give eval
 * its data options and loss: results/demo's MNIST subsets and MSE. */
Test(cli_resume, eval_reads_an_older_config_json)
{
    ctx c;
    ctx_init(&c, "oldcfg");
    char model[256], ra[256];
    small_model(&c, model, sizeof model);
    sub(ra, sizeof ra, "%s/a", c.dir);
    const char *a[] = {SMALL_RUN(model, ra), "--max-steps", "1", NULL};
    int st = run(&c, a);
    char *err = tc_slurp(c.err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);
    char cj[300];
    sub(cj, sizeof cj, "%s/config.json", ra);
    char *demo = tc_slurp("../results/demo/config.json", NULL);
    cr_assert(demo && strstr(demo, "\"options\": {\"epochs\""), "not the old one-line format");
    tc_write_text(cj, demo);
    free(demo);
    const char *e[] = {"eval", ra, "--threads", "1", NULL};
    st = run(&c, e);
    err = tc_slurp(c.err, NULL);
    cr_assert_eq(st, 0, "eval status %d: %s", st, err);
    free(err);
    char *so = tc_slurp(c.out, NULL);
    cr_assert(strstr(so, "loss mse=1\n") && strstr(so, "(10000 samples)") &&
                  strstr(so, "(8000 samples)"),
              "%s", so);
    free(so);
    /* a malformed config.json is named with line and column */
    tc_write_text(cj, "{\n  \"data\": {\"data\": \"mnist\", \"seed\": -1}\n}\n");
    st = run(&c, e);
    err = tc_slurp(c.err, NULL);
    cr_assert_eq(st, 1);
    cr_assert(strstr(err, "config.json:2:37: malformed data option 'seed'"), "%s", err);
    free(err);
    /* an unknown random-label mode is an error, not the default mode */
    tc_write_text(cj,
                  "{\n  \"data\": {\"data\": \"mnist\", \"random_labels_mode\": \"swap\"}\n}\n");
    st = run(&c, e);
    err = tc_slurp(c.err, NULL);
    cr_assert_eq(st, 1);
    cr_assert(strstr(err, "config.json:2:51: malformed data option 'random_labels_mode'"), "%s",
              err);
    free(err);
    tc_write_text(cj, "{\n  \"data\": {\"data\": \"mnist\",, }\n}\n");
    st = run(&c, e);
    err = tc_slurp(c.err, NULL);
    cr_assert_eq(st, 1);
    cr_assert(strstr(err, "config.json:2:28: expected a member name"), "%s", err);
    free(err);
    ctx_done(&c);
}

/* ---- non-finite loss stops the run, the last checkpoint stays ---- */

Test(cli_resume, nonfinite_loss_stops_with_a_clear_message)
{
    ctx c;
    ctx_init(&c, "nan");
    char out[256];
    sub(out, sizeof out, "%s/run", c.dir);
    /* MSE with a learning rate warming up to 2 over 10 epochs: the first
     * epochs train (and checkpoint), then the run diverges (epoch 4 today) */
    const char *a[] = {"train",
                       "--model",
                       "../models/mlp_bn.cfg",
                       "--data",
                       "fashion",
                       "--train-per-class",
                       "20",
                       "--test-per-class",
                       "5",
                       "--epochs",
                       "11",
                       "--warmup",
                       "10",
                       "--schedule",
                       "const",
                       "--batch",
                       "20",
                       "--loss",
                       "mse",
                       "--lr",
                       "2",
                       "--threads",
                       "1",
                       "--analyze",
                       "none",
                       "--out",
                       out,
                       NULL};
    int st = run(&c, a);
    char *err = tc_slurp(c.err, NULL);
    cr_assert_eq(st, 1, "status %d: %s", st, err);
    cr_assert(strstr(err, "non-finite") && strstr(err, "epoch") && strstr(err, "step") &&
                  strstr(err, "checkpoint is kept"),
              "%s", err);
    free(err);
    /* the last good checkpoint is complete, at an epoch end before the failure, and loads
     */
    int64_t step = ckpt_step(out);
    cr_assert(step >= 10 && step < 110 && step % 10 == 0, "checkpoint at step %lld",
              (long long)step);
    const char *e[] = {"eval", out, NULL};
    st = run(&c, e);
    err = tc_slurp(c.err, NULL);
    cr_assert_eq(st, 0, "eval of the kept checkpoint: status %d: %s", st, err);
    free(err);
    char *so = tc_slurp(c.out, NULL);
    double tl, ta;
    char *p = strstr(so, "train loss");
    cr_assert(p && sscanf(p, "train loss %lf acc %lf%%", &tl, &ta) == 2 && isfinite(tl),
              "%s", so);
    /* without --loss, eval uses the loss the run was trained with (config.json) */
    cr_assert(strstr(so, "loss mse=1\n"), "%s", so);
    free(so);
    const char *e2[] = {"eval", out, "--loss", "ce", NULL};
    cr_assert_eq(run(&c, e2), 0);
    so = tc_slurp(c.out, NULL);
    double tl2, ta2;
    p = strstr(so, "train loss");
    cr_assert(strstr(so, "loss ce\n") && p &&
                  sscanf(p, "train loss %lf acc %lf%%", &tl2, &ta2) == 2,
              "%s", so);
    cr_assert_neq(tl2, tl, "CE and MSE of the same logits");
    cr_assert_eq(ta2, ta);
    free(so);
    ctx_done(&c);
}
