/* Checkpoints and resume under faults, through the train/eval/analyze
 * commands run as a child process ($COLLAPSE_BIN): a checkpoint write that
 * fails keeps the previous checkpoint, a corrupt newest checkpoint falls
 * back to the older slot with a message, a study that fails at the last
 * epoch is redone on resume, one run per --out (lock), output folder
 * problems before any work, a diverging learning rate (NaN in input data:
 * test_cli_input.c).
 * Small data: Fashion-MNIST (Debian package) subsets, 10 steps per epoch. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "common.h"

/* 200 training samples, batch 20: 10 steps per epoch. */
#define RUN(model, out, epochs)                                                          \
    "train", "--model", model, "--data", "fashion", "--train-per-class", "20",           \
        "--test-per-class", "5", "--batch", "20", "--epochs", epochs, "--lr", "0.05",    \
        "--seed", "7", "--threads", "1", "--analyze", "none", "--out", out

/* The marker step of one checkpoint folder (-1 if none). */
static int64_t marker_step(const char *dir)
{
    char p[400];
    sub(p, sizeof p, "%s/ckpt.done", dir);
    char *s = tc_slurp(p, NULL);
    if (!s) return -1;
    char *q = strstr(s, "step=");
    int64_t step = q ? atoll(q + 5) : -1;
    free(s);
    return step;
}

/* The folder of the run's newest complete checkpoint, read from the markers
 * only (any layout: checkpoint/ itself, checkpoint/a, checkpoint/b); its
 * step is returned, -1 if there is none. */
static int64_t any_checkpoint(const char *run_dir, char *dir, size_t cap)
{
    static const char *const where[3] = {"", "/a", "/b"};
    int64_t best = -1;
    for (int i = 0; i < 3; i++) {
        char d[400];
        sub(d, sizeof d, "%s/checkpoint%s", run_dir, where[i]);
        int64_t s = marker_step(d);
        if (s > best) {
            best = s;
            sub(dir, cap, "%s", d);
        }
    }
    return best;
}

static int64_t newest(const char *run_dir, char *dir, size_t cap)
{
    int64_t step = any_checkpoint(run_dir, dir, cap);
    cr_assert(step >= 0, "%s holds no complete checkpoint", run_dir);
    return step;
}

static void same_file(const char *pa, const char *pb)
{
    size_t la, lb;
    char *x = tc_slurp(pa, &la), *y = tc_slurp(pb, &lb);
    cr_assert(x && y, "missing %s or %s", pa, pb);
    cr_assert(la == lb && memcmp(x, y, la) == 0, "%s and %s differ", pa, pb);
    free(x);
    free(y);
}

/* The newest checkpoints of two runs hold the same model bytes. */
static void same_model(const char *ra, const char *rb)
{
    char da[400], db[400], pa[420], pb[420];
    cr_assert_eq(newest(ra, da, sizeof da), newest(rb, db, sizeof db));
    sub(pa, sizeof pa, "%s/model.ckpt", da);
    sub(pb, sizeof pb, "%s/model.ckpt", db);
    same_file(pa, pb);
}

static char *run_err(ctx *c, const char *const *args, int want)
{
    int st = run(c, args);
    char *err = tc_slurp(c->err, NULL);
    cr_assert_eq(st, want, "status %d, want %d: %s", st, want, err);
    return err;
}

static void run_want(ctx *c, const char *const *args, int want)
{
    free(run_err(c, args, want));
}

/* The scratch folder, the small model file (model[256]) and the run folders
 * ra[256] = DIR/a and (unless NULL) rb[256] = DIR/b in it. */
static void start(ctx *c, const char *name, char *model, char *ra, char *rb)
{
    ctx_init(c, name);
    small_model(c, model, 256);
    sub(ra, 256, "%s/a", c->dir);
    if (rb) sub(rb, 256, "%s/b", c->dir);
}

/* A checkpoint write that fails (here: its temp file cannot be created)
 * stops the run and leaves the previous checkpoint intact: the resume
 * continues from it bit-exactly (issue 11: the marker was removed first). */
Test(cli_ckpt, failed_checkpoint_write_keeps_the_previous_one, .timeout = TC_TIMEOUT)
{
    ctx c;
    char model[256], ra[256], rb[256], blk[3][300];
    start(&c, "ckfail", model, ra, rb);
    const char *a[] = {RUN(model, ra, "4"), NULL};
    run_ok(&c, a);
    const char *b[] = {RUN(model, rb, "4"), "--max-steps", "20", NULL};
    run_ok(&c, b);
    char d[400];
    cr_assert_eq(newest(rb, d, sizeof d), 20);
    /* every place the next model.ckpt could be written to is blocked */
    static const char *const where[3] = {"", "/a", "/b"};
    for (int i = 0; i < 3; i++) {
        char slot[300];
        sub(slot, sizeof slot, "%s/checkpoint%s", rb, where[i]);
        mkdir(slot, 0777);
        sub(blk[i], sizeof blk[i], "%s/model.ckpt.tmp", slot);
        cr_assert_eq(mkdir(blk[i], 0777), 0);
    }
    const char *b2[] = {RUN(model, rb, "4"), "--resume", NULL};
    char *err = run_err(&c, b2, 1);
    cr_assert(strstr(err, "model.ckpt.tmp"), "%s", err);
    free(err);
    for (int i = 0; i < 3; i++) cr_assert_eq(rmdir(blk[i]), 0);
    cr_assert_eq(newest(rb, d, sizeof d), 20, "the step-20 checkpoint is kept");
    run_want(&c, b2, 0);
    same_model(ra, rb);
    ctx_done(&c);
}

/* A corrupt newest checkpoint: eval and --resume use the previous one and
 * say so in one line; the resumed run still ends bit-exact. */
Test(cli_ckpt, corrupt_newest_checkpoint_falls_back_with_a_message, .timeout = TC_TIMEOUT)
{
    ctx c;
    char model[256], ra[256], rb[256];
    start(&c, "ckcorrupt", model, ra, rb);
    const char *a[] = {RUN(model, ra, "4"), NULL};
    run_ok(&c, a);
    const char *b[] = {RUN(model, rb, "4"), "--max-steps", "30", NULL};
    run_ok(&c, b);
    char d[400], p[420];
    cr_assert_eq(newest(rb, d, sizeof d), 30);
    sub(p, sizeof p, "%s/model.ckpt", d);
    size_t len;
    char *bytes = tc_slurp(p, &len);
    cr_assert(bytes && len > 1000);
    bytes[len / 2] ^= 0x10;
    tc_write_file(p, bytes, len);
    free(bytes);

    const char *e[] = {"eval", rb, "--threads", "1", NULL};
    run_want(&c, e, 0);
    char *so = tc_slurp(c.out, NULL);
    cr_assert(strstr(so, "checksum mismatch") && strstr(so, "step 20"), "%s", so);
    free(so);

    const char *b2[] = {RUN(model, rb, "4"), "--resume", NULL};
    run_want(&c, b2, 0);
    so = tc_slurp(c.out, NULL);
    char *w = strstr(so, "warning: ");
    cr_assert(w && strstr(w, "checksum mismatch") && strstr(w, "resuming from") &&
                  strstr(w, "(epoch 2, step 20)"),
              "%s", so);
    cr_assert(strchr(w, '\n') < strstr(so, "epoch   3/4"), "one line: %s", so);
    free(so);
    same_model(ra, rb);
    ctx_done(&c);
}

/* A short study run: every analyzed epoch, features at the last. */
#define STUDY_RUN(model, out)                                                            \
    "train", "--model", model, "--data", "fashion", "--train-per-class", "20",           \
        "--test-per-class", "5", "--batch", "20", "--epochs", "3", "--seed", "5",        \
        "--threads", "1", "--analyze", "all", "--no-plots", "--out", out

/* metrics.csv without its two timing columns (epoch_seconds, analysis_seconds). */
static char *metrics_untimed(const char *run_dir)
{
    char p[300];
    sub(p, sizeof p, "%s/metrics.csv", run_dir);
    char *s = tc_slurp(p, NULL);
    cr_assert(s, "no %s", p);
    char *out = malloc(strlen(s) + 1), *o = out;
    for (char *line = s; *line;) {
        char *nl = strchr(line, '\n');
        cr_assert(nl, "unfinished line in %s", p);
        char *cut = nl;
        for (int k = 0; k < 2; k++) {
            while (cut > line && cut[-1] != ',') cut--;
            cut--;
        }
        memcpy(o, line, (size_t)(cut - line));
        o += cut - line;
        *o++ = '\n';
        line = nl + 1;
    }
    *o = 0;
    free(s);
    return out;
}

/* Two runs' results agree: metrics.csv without its timing columns,
 * layers.csv and the .npy files byte for byte, and the newest model. */
static void same_study(const char *ra, const char *rb)
{
    static const char *const same[] = {"W.npy", "b.npy", "features_train.npy",
                                       "labels_train.npy", "layers.csv"};
    for (int i = 0; i < 5; i++) {
        char pa[300], pb[300];
        sub(pa, sizeof pa, "%s/%s", ra, same[i]);
        sub(pb, sizeof pb, "%s/%s", rb, same[i]);
        same_file(pa, pb);
    }
    char *ma = metrics_untimed(ra), *mb = metrics_untimed(rb);
    cr_assert_str_eq(ma, mb);
    free(ma);
    free(mb);
    same_model(ra, rb);
}

/* The last command's stdout holds text (want = 1) or not (want = 0). */
static void out_has(ctx *c, const char *text, int want)
{
    char *so = tc_slurp(c->out, NULL);
    cr_assert(so && !strstr(so, text) == !want, "%s '%s' in:\n%s", want ? "no" : "unwanted",
              text, so);
    free(so);
}

/* The study fails at the last epoch (W.npy cannot be written): the final
 * checkpoint is not written before the study's files, so the resume redoes
 * that epoch and writes what was missing, identical to an uninterrupted
 * run (issue 11: the resume said "already complete" without W.npy). */
Test(cli_ckpt, study_failure_at_the_last_epoch_is_redone_on_resume, .timeout = TC_TIMEOUT)
{
    ctx c;
    char model[256], ra[256], rb[256], blk[300];
    start(&c, "ckstudy", model, ra, rb);
    const char *a[] = {STUDY_RUN(model, ra), NULL};
    run_ok(&c, a);
    cr_assert_eq(mkdir(rb, 0777), 0);
    sub(blk, sizeof blk, "%s/W.npy", rb);
    cr_assert_eq(mkdir(blk, 0777), 0);
    char inside[320]; /* a folder that is not empty: neither remove() nor rename() replaces it */
    sub(inside, sizeof inside, "%s/keep", blk);
    tc_write_text(inside, "x");
    const char *b[] = {STUDY_RUN(model, rb), NULL};
    char *err = run_err(&c, b, 1);
    cr_assert(strstr(err, "W.npy"), "%s", err);
    free(err);
    cr_assert_eq(unlink(inside), 0);
    cr_assert_eq(rmdir(blk), 0);
    const char *b2[] = {STUDY_RUN(model, rb), "--resume", NULL};
    run_want(&c, b2, 0);
    out_has(&c, "already complete", 0);
    out_has(&c, "epoch   3/3", 1);
    same_study(ra, rb);
    ctx_done(&c);
}

/* Drops the lines of path that start with prefix. */
static void drop_lines(const char *path, const char *prefix)
{
    char *s = tc_slurp(path, NULL);
    cr_assert(s, "no %s", path);
    char *out = malloc(strlen(s) + 1), *o = out;
    for (char *line = s; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
        if (strncmp(line, prefix, strlen(prefix))) {
            memcpy(o, line, len);
            o += len;
        }
        line += len;
    }
    *o = 0;
    tc_write_text(path, out);
    free(out);
    free(s);
}

/* A final checkpoint whose study files are missing (written by a version
 * that saved the checkpoint before the study, or files deleted): --resume
 * writes them, identical to an uninterrupted run, instead of "already
 * complete". */
Test(cli_ckpt, missing_final_study_files_are_written_on_resume, .timeout = TC_TIMEOUT)
{
    ctx c;
    char model[256], ra[256], rb[256], p[300];
    start(&c, "ckfinish", model, ra, rb);
    const char *a[] = {STUDY_RUN(model, ra), NULL};
    run_ok(&c, a);
    const char *b[] = {STUDY_RUN(model, rb), NULL};
    run_ok(&c, b);
    static const char *const gone[3] = {"W.npy", "b.npy", "features_train.npy"};
    for (int i = 0; i < 3; i++) {
        sub(p, sizeof p, "%s/%s", rb, gone[i]);
        cr_assert_eq(remove(p), 0);
    }
    sub(p, sizeof p, "%s/metrics.csv", rb);
    drop_lines(p, "3,");
    sub(p, sizeof p, "%s/layers.csv", rb);
    drop_lines(p, "3,");
    const char *b2[] = {STUDY_RUN(model, rb), "--resume", NULL};
    run_want(&c, b2, 0);
    out_has(&c, "already complete", 0);
    out_has(&c, "written now", 1);
    same_study(ra, rb);
    /* now nothing is missing */
    run_want(&c, b2, 0);
    out_has(&c, "already complete", 1);
    ctx_done(&c);
}

/* A run killed before its first checkpoint (config.json and the epoch-0
 * study rows written, no checkpoint; or only the lock file, killed while
 * loading): --resume starts it again from the beginning and ends identical
 * to an uninterrupted run. */
Test(cli_ckpt, resume_before_the_first_checkpoint_starts_over, .timeout = TC_TIMEOUT)
{
    ctx c;
    char model[256], ra[256], rb[256], ck[300];
    start(&c, "ckfirst", model, ra, rb);
    const char *a[] = {STUDY_RUN(model, ra), NULL};
    run_ok(&c, a);
    const char *b[] = {STUDY_RUN(model, rb), "--max-steps", "5", NULL};
    run_ok(&c, b);
    sub(ck, sizeof ck, "%s/checkpoint", rb);
    tc_tmpdir_remove(ck);
    const char *b2[] = {STUDY_RUN(model, rb), "--resume", NULL};
    run_want(&c, b2, 0);
    out_has(&c, "starts from the beginning", 1);
    same_study(ra, rb);
    /* killed even before config.json was written: only the lock file */
    char rc[256], lock[300];
    sub(rc, sizeof rc, "%s/c", c.dir);
    cr_assert_eq(mkdir(rc, 0777), 0);
    sub(lock, sizeof lock, "%s/train.lock", rc);
    tc_write_text(lock, "");
    const char *c2[] = {STUDY_RUN(model, rc), "--resume", NULL};
    run_want(&c, c2, 0);
    out_has(&c, "starts from the beginning", 1);
    same_study(ra, rc);
    /* a finished run whose checkpoint is gone (a fresh clone: checkpoints
     * are not in git): refused, its rows kept */
    char cka[300], ma[300];
    sub(cka, sizeof cka, "%s/checkpoint", ra);
    sub(ma, sizeof ma, "%s/metrics.csv", ra);
    tc_tmpdir_remove(cka);
    char *before = tc_slurp(ma, NULL);
    const char *a2[] = {STUDY_RUN(model, ra), "--resume", NULL};
    char *err = run_err(&c, a2, 1);
    cr_assert(strstr(err, "rows up to epoch 3"), "%s", err);
    free(err);
    char *after = tc_slurp(ma, NULL);
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
    /* other options are still refused */
    char rd[256];
    sub(rd, sizeof rd, "%s/d", c.dir);
    const char *d1[] = {STUDY_RUN(model, rd), "--max-steps", "5", NULL};
    run_ok(&c, d1);
    sub(ck, sizeof ck, "%s/checkpoint", rd);
    tc_tmpdir_remove(ck);
    const char *b3[] = {STUDY_RUN(model, rd), "--resume", "--lr", "0.01", NULL};
    err = run_err(&c, b3, 1);
    cr_assert(strstr(err, "options differ"), "%s", err);
    free(err);
    ctx_done(&c);
}

/* A second train with the same --out refuses at once (lock); once the
 * first is killed (-9), its lock is gone and --resume works. */
Test(cli_ckpt, second_run_on_the_same_out_is_refused, .timeout = TC_TIMEOUT)
{
    ctx c;
    char model[256], ra[256], o1[300], e1[300];
    start(&c, "cklock", model, ra, NULL);
    sub(o1, sizeof o1, "%s/first.out", c.dir);
    sub(e1, sizeof e1, "%s/first.err", c.dir);
    const char *a[] = {RUN(model, ra, "100000"), NULL};
    pid_t pid = tc_spawn(o1, e1, a);
    struct timespec ts = {0, 1000000};
    char d[400];
    int64_t at = -1;
    for (int i = 0; i < 60000 && at < 0; i++) {
        nanosleep(&ts, NULL);
        at = any_checkpoint(ra, d, sizeof d);
    }
    if (at < 0) kill(pid, SIGKILL);
    cr_assert(at >= 0, "no checkpoint after 60 s");
    /* with and without --resume (a resume would otherwise train alongside) */
    const char *b0[] = {RUN(model, ra, "100000"), "--resume", "--max-steps", "1", NULL};
    const char *b1[] = {RUN(model, ra, "100000"), "--max-steps", "1", NULL};
    for (int k = 0; k < 2; k++) {
        int st = run(&c, k ? b1 : b0);
        char *err = tc_slurp(c.err, NULL), *so = tc_slurp(c.out, NULL);
        int ok = st == 1 && strstr(err, ra) && strstr(err, "locked") && !strchr(err, '\n')[1] &&
                 !strstr(so, "data:");
        if (!ok) { /* the first run must not outlive the test */
            kill(pid, SIGKILL);
            tc_wait(pid);
        }
        cr_assert(ok, "status %d (want 1, at once, naming the folder): %s%s", st, err, so);
        free(err);
        free(so);
    }
    kill(pid, SIGKILL);
    cr_assert_eq(tc_wait(pid), 1000 + SIGKILL);
    char steps[32];
    sub(steps, sizeof steps, "%lld", (long long)newest(ra, d, sizeof d) + 1);
    const char *r[] = {RUN(model, ra, "100000"), "--resume", "--max-steps", steps, NULL};
    run_want(&c, r, 0);
    cr_assert_eq(newest(ra, d, sizeof d), atoll(steps));
    ctx_done(&c);
}

/* An output folder that cannot be created or written to: one line, before
 * the model or the data are loaded; nothing is left behind. */
Test(cli_ckpt, output_folder_problems_come_before_any_work)
{
    ctx c;
    ctx_init(&c, "ckout");
    char model[256], file[300], below[300], missing[300];
    small_model(&c, model, sizeof model);
    sub(file, sizeof file, "%s/plain", c.dir);
    tc_write_text(file, "x");
    sub(below, sizeof below, "%s/plain/run", c.dir);
    sub(missing, sizeof missing, "%s/missing", c.dir);
    const char *outs[4] = {below, "/proc/self/run", "/proc/self", file};
    const char *whys[4] = {"Not a directory", "cannot create", "cannot write", "not a folder"};
    for (int i = 0; i < 4; i++) {
        const char *a[] = {RUN(model, outs[i], "1"), NULL};
        char *err = run_err(&c, a, 1);
        cr_assert(strstr(err, outs[i]) && strstr(err, whys[i]) && !strchr(err, '\n')[1],
                  "%s: %s", outs[i], err);
        free(err);
        char *so = tc_slurp(c.out, NULL);
        cr_assert_str_eq(so, "", "work done before the check:\n%s", so);
        free(so);
    }
    const char *r[] = {RUN(model, missing, "1"), "--resume", NULL};
    char *err = run_err(&c, r, 1);
    cr_assert(strstr(err, missing), "%s", err);
    free(err);
    cr_assert(!tc_exists(missing));
    /* a run that fails at setup leaves no folder behind */
    const char *m[] = {RUN("no-such-model.cfg", missing, "1"), NULL};
    cr_assert_neq(run(&c, m), 0);
    cr_assert(!tc_exists(missing), "%s left behind", missing);
    ctx_done(&c);
}

/* --lr 1e6 diverges: the run stops naming epoch and step (status 1), the
 * last finite checkpoint stays and loads (eval), and a resume starts from
 * it (one more step is still finite: the loss turns NaN at step 3). */
Test(cli_ckpt, diverging_learning_rate_keeps_a_resumable_checkpoint, .timeout = TC_TIMEOUT)
{
    ctx c;
    char model[256], ra[256];
    start(&c, "ckdiverge", model, ra, NULL);
#define DIVERGE(model, out)                                                              \
    "train", "--model", model, "--data", "fashion", "--train-per-class", "20",           \
        "--test-per-class", "5", "--batch", "20", "--epochs", "3", "--lr", "1e6",        \
        "--threads", "1", "--analyze", "none", "--out", out
    const char *a[] = {DIVERGE(model, ra), "--max-steps", "1", NULL};
    run_ok(&c, a);
    char d[400];
    cr_assert_eq(newest(ra, d, sizeof d), 1);
    const char *r[] = {DIVERGE(model, ra), "--resume", NULL};
    char *err = run_err(&c, r, 1);
    cr_assert(strstr(err, "non-finite") && strstr(err, "at epoch 1, step ") &&
                  strstr(err, "checkpoint is kept") && !strchr(err, '\n')[1],
              "%s", err);
    free(err);
    cr_assert_eq(newest(ra, d, sizeof d), 1, "the last finite checkpoint is kept");
    const char *e[] = {"eval", ra, "--threads", "1", NULL};
    run_want(&c, e, 0);
    char *so = tc_slurp(c.out, NULL);
    cr_assert(strstr(so, "(step 1, "), "%s", so);
    free(so);
    const char *r3[] = {DIVERGE(model, ra), "--resume", "--max-steps", "2", NULL};
    run_want(&c, r3, 0);
    cr_assert_eq(newest(ra, d, sizeof d), 2);
    ctx_done(&c);
}
