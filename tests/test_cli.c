/* The train / eval / features commands, run as a child process
 * ($COLLAPSE_BIN): error messages and exit statuses, config.json,
 * bit-exact resume after SIGKILL and after Ctrl-C (SIGINT), non-finite
 * stop, features/W/b files, fixed ETF heads, and 100% training accuracy
 * of an MLP on a 500-per-class MNIST subset. Small data: Fashion-MNIST
 * (Debian package) subsets; MNIST from $COLLAPSE_DATA (make data). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collapse/mem.h"
#include "collapse/npy.h"

#define MAXARGS 64

static const char *bin(void)
{
    const char *b = getenv("COLLAPSE_BIN");
    cr_assert(b, "COLLAPSE_BIN is not set (run through make test)");
    return b;
}

/* Starts `collapse args...` (NULL-terminated list) with stdout/stderr sent
 * to files; returns the pid. */
static pid_t spawn(const char *out, const char *err, const char *const *args)
{
    const char *argv[MAXARGS + 2];
    int n = 0;
    argv[n++] = bin();
    for (; args[n - 1] && n < MAXARGS; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0) _exit(127);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_status(pid_t pid)
{
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    if (WIFSIGNALED(ws)) return 1000 + WTERMSIG(ws);
    return WEXITSTATUS(ws);
}

typedef struct {
    char dir[128]; /* scratch folder of this test */
    char out[160], err[160];
} ctx;

static void ctx_init(ctx *c, const char *name)
{
    snprintf(c->dir, sizeof c->dir, "/tmp/cl_cli_%s_%d", name, (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", c->dir, c->dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(c->out, sizeof c->out, "%s/stdout", c->dir);
    snprintf(c->err, sizeof c->err, "%s/stderr", c->dir);
}

static void ctx_done(ctx *c)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", c->dir);
    cr_assert_eq(system(cmd), 0);
}

static int run(ctx *c, const char *const *args)
{
    return wait_status(spawn(c->out, c->err, args));
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    cr_assert(s);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return s;
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void sub(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

/* Fashion-MNIST subset + a small BN MLP: every option the resume tests use. */
#define SMALL_RUN(model, out)                                                            \
    "train", "--model", model, "--data", "fashion", "--train-per-class", "300",          \
        "--test-per-class", "10", "--batch", "100", "--epochs", "8", "--lr", "0.05",     \
        "--seed", "7", "--threads", "1", "--analyze", "none", "--out", out

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static const char *small_model(ctx *c, char *buf, size_t cap)
{
    sub(buf, cap, "%s/small.cfg", c->dir);
    write_text(buf,
               "[flatten]\nkind = flatten\n[fc1]\nkind = linear\nout = 64\n[bn1]\n"
               "kind = batchnorm\n[relu1]\nkind = relu\n[fc2]\nkind = linear\nout = 32\n"
               "[relu2]\nkind = relu\n[fc]\nkind = linear\n");
    return buf;
}

/* ---- usage errors: one line naming the flag, status 2, no folder ---- */

Test(cli, bad_flags_name_the_flag_and_leave_no_folder)
{
    ctx c;
    ctx_init(&c, "flags");
    char out[256];
    sub(out, sizeof out, "%s/run", c.dir);
    static const struct {
        const char *a[4];
        const char *want;
    } cases[] = {
        {{"--epochs", "0"}, "--epochs"},
        {{"--lr", "abc"}, "--lr"},
        {{"--batch", "-3"}, "--batch"},
        {{"--loss", "hinge"}, "--loss"},
        {{"--schedule", "sometimes"}, "--schedule"},
        {{"--optimizer", "rmsprop"}, "--optimizer"},
        {{"--classifier", "svm"}, "--classifier"},
        {{"--etf-mode", "pad"}, "--etf-mode"},
        {{"--optimizer", "adam", "--momentum", "0.5"}, "--momentum"},
        {{"--random-labels", "1.5"}, "--random-labels"},
        {{"--random-labels-mode", "shuffle"}, "--random-labels-mode"},
        {{"--resize", "0"}, "--resize"},
        {{"--seed", "-1"}, "--seed"},
        {{"--analyze", "sometimes"}, "--analyze"},
        {{"--bn-mode", "test"}, "--bn-mode"},
        {{"--frobnicate"}, "--frobnicate"},
        {{"--epochs"}, "--epochs needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[16] = {"train",   "--arch", "mlp", "--data",
                                "fashion", "--out",  out};
        int n = 7;
        for (int j = 0; j < 4 && cases[i].a[j]; j++)
            args[n++] = cases[i].a[j];
        args[n] = NULL;
        int st = run(&c, args);
        char *err = slurp(c.err, NULL);
        cr_assert_eq(st, 2, "case %zu (%s): status %d, stderr: %s", i, cases[i].want, st,
                     err);
        cr_assert(strstr(err, cases[i].want), "case %zu: stderr lacks '%s': %s", i,
                  cases[i].want, err);
        cr_assert(strncmp(err, "collapse: ", 10) == 0 &&
                      strchr(err, '\n') == err + strlen(err) - 1,
                  "case %zu: want one line 'collapse: ...': %s", i, err);
        free(err);
        cr_assert(!exists(out), "case %zu left %s behind", i, out);
    }
    /* missing --data, both/neither model options, --resume without --out */
    const char *no_data[] = {"train", "--arch", "mlp", NULL};
    cr_assert_eq(run(&c, no_data), 2);
    char *err = slurp(c.err, NULL);
    cr_assert(strstr(err, "--data"), "%s", err);
    free(err);
    const char *both[] = {"train", "--arch", "mlp",     "--model",
                          "x.cfg", "--data", "fashion", NULL};
    cr_assert_eq(run(&c, both), 2);
    const char *resume[] = {"train",   "--arch",   "mlp", "--data",
                            "fashion", "--resume", NULL};
    cr_assert_eq(run(&c, resume), 2);
    err = slurp(c.err, NULL);
    cr_assert(strstr(err, "--resume"), "%s", err);
    free(err);
    ctx_done(&c);
}

/* ---- bad files: file:line, status 1, no folder ---- */

Test(cli, bad_model_file_and_data_name_the_file)
{
    ctx c;
    ctx_init(&c, "files");
    char cfg[256], out[256];
    sub(cfg, sizeof cfg, "%s/bad.cfg", c.dir);
    sub(out, sizeof out, "%s/run", c.dir);
    write_text(cfg, "[flatten]\nkind = flatten\n[fc1]\nkind = linear\nwidht = 3\n");
    const char *a1[] = {"train", "--model", cfg, "--data", "fashion", "--out", out, NULL};
    cr_assert_eq(run(&c, a1), 1);
    char *err = slurp(c.err, NULL), want[300];
    sub(want, sizeof want, "%s:5:", cfg);
    cr_assert(strstr(err, want) && strstr(err, "widht"), "want '%s' naming 'widht': %s",
              want, err);
    free(err);
    cr_assert(!exists(out));

    /* a model that does not fit the data: the model file is named */
    write_text(cfg, "[model]\ntype = resnet20\ndepth = 2\n");
    cr_assert_eq(run(&c, a1), 1);
    err = slurp(c.err, NULL);
    cr_assert(strstr(err, cfg) && strstr(err, "depth"), "%s", err);
    free(err);
    cr_assert(!exists(out));

    /* a layer that does not fit its input: file:line of the layer's section */
    write_text(cfg,
               "[conv1]\nkind = conv2d\nout = 8\nk = 3\n\n[big]\nkind = conv2d\nout = 8\n"
               "k = 40\n[flatten]\nkind = flatten\n[fc]\nkind = linear\n");
    cr_assert_eq(run(&c, a1), 1);
    err = slurp(c.err, NULL);
    sub(want, sizeof want, "%s:6: layer 'big'", cfg);
    cr_assert(strstr(err, want), "want '%s': %s", want, err);
    free(err);
    cr_assert(!exists(out));

    const char *a2[] = {"train",   "--model", "no/such.cfg", "--data",
                        "fashion", "--out",   out,           NULL};
    cr_assert_eq(run(&c, a2), 1);
    err = slurp(c.err, NULL);
    cr_assert(strstr(err, "no/such.cfg"), "%s", err);
    free(err);

    const char *a3[] = {"train", "--arch", "mlp", "--data", "/no/such/dataset",
                        "--out", out,      NULL};
    cr_assert_eq(run(&c, a3), 1);
    err = slurp(c.err, NULL);
    cr_assert(strstr(err, "/no/such/dataset"), "%s", err);
    free(err);
    cr_assert(!exists(out));

    const char *a4[] = {"train", "--arch", "resnet99", "--data", "fashion", NULL};
    cr_assert_eq(run(&c, a4), 2);
    err = slurp(c.err, NULL);
    cr_assert(strstr(err, "--arch") && strstr(err, "resnet99"), "%s", err);
    free(err);
    ctx_done(&c);
}

/* ---- resume: SIGKILL after an epoch checkpoint, and Ctrl-C ---- */

static void wait_for_checkpoint(const char *run_dir, pid_t pid)
{
    char marker[300];
    sub(marker, sizeof marker, "%s/checkpoint/ckpt.done", run_dir);
    struct timespec ts = {0, 1000000};
    for (int i = 0; i < 60000 && !exists(marker); i++) {
        int ws;
        cr_assert_eq(waitpid(pid, &ws, WNOHANG), 0,
                     "run ended before its first checkpoint");
        nanosleep(&ts, NULL);
    }
    cr_assert(exists(marker), "no checkpoint after 60 s");
}

static int64_t ckpt_step(const char *run_dir)
{
    char marker[300];
    sub(marker, sizeof marker, "%s/checkpoint/ckpt.done", run_dir);
    char *s = slurp(marker, NULL);
    cr_assert(s);
    char *p = strstr(s, "step=");
    cr_assert(p, "%s", s);
    int64_t step = atoll(p + 5);
    free(s);
    return step;
}

static void same_model_file(const char *a, const char *b)
{
    char pa[300], pb[300];
    sub(pa, sizeof pa, "%s/checkpoint/model.ckpt", a);
    sub(pb, sizeof pb, "%s/checkpoint/model.ckpt", b);
    size_t la, lb;
    char *x = slurp(pa, &la), *y = slurp(pb, &lb);
    cr_assert(x && y, "missing %s or %s", pa, pb);
    cr_assert_eq(la, lb);
    cr_assert(memcmp(x, y, la) == 0, "%s and %s differ", pa, pb);
    free(x);
    free(y);
}

Test(cli, resume_after_sigkill_and_sigint_is_bit_exact, .timeout = 300)
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
    int st = run(&c, a);
    char *err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);
    char *so = slurp(c.out, NULL);
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
    char *json = slurp(cj, NULL);
    cr_assert(json, "no config.json");
    cr_assert(strstr(json, "\"options_hash\"") && strstr(json, "\"command\"") &&
                  strstr(json, "\"spec\"") && strstr(json, "\"blas_core\"") &&
                  strstr(json, "\"train_per_class\": 300"),
              "%s", json);
    free(json);

    /* the same folder again without --resume is refused */
    cr_assert_eq(run(&c, a), 2);
    err = slurp(c.err, NULL);
    cr_assert(strstr(err, "--resume"), "%s", err);
    free(err);

    /* B: SIGKILL after the first epoch checkpoint, then --resume */
    const char *b[] = {SMALL_RUN(model, rb), NULL};
    pid_t pid = spawn(c.out, c.err, b);
    wait_for_checkpoint(rb, pid);
    kill(pid, SIGKILL);
    cr_assert_eq(wait_status(pid), 1000 + SIGKILL);
    int64_t killed_at = ckpt_step(rb);
    cr_assert(killed_at > 0 && killed_at < final_step, "checkpoint step %lld",
              (long long)killed_at);
    const char *b2[] = {SMALL_RUN(model, rb), "--resume", NULL};
    st = run(&c, b2);
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "resume status %d: %s", st, err);
    free(err);
    same_model_file(ra, rb);

    /* a different option is refused on resume */
    const char *b3[] = {SMALL_RUN(model, rb), "--resume", "--wd", "1e-3", NULL};
    cr_assert_eq(run(&c, b3), 1);
    err = slurp(c.err, NULL);
    cr_assert(strstr(err, "options differ"), "%s", err);
    free(err);

    /* C: Ctrl-C during training: checkpoint written, status 130, resume */
    const char *cc[] = {SMALL_RUN(model, rc), NULL};
    pid = spawn(c.out, c.err, cc);
    wait_for_checkpoint(rc, pid);
    kill(pid, SIGINT);
    st = wait_status(pid);
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 130, "status %d after SIGINT: %s", st, err);
    cr_assert(strstr(err, "interrupted"), "%s", err);
    free(err);
    int64_t int_at = ckpt_step(rc);
    cr_assert(int_at > 0 && int_at < final_step, "interrupted at step %lld",
              (long long)int_at);
    const char *c2[] = {SMALL_RUN(model, rc), "--resume", NULL};
    st = run(&c, c2);
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "resume status %d: %s", st, err);
    free(err);
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
    st = run(&c, e);
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "eval status %d: %s", st, err);
    free(err);
    so = slurp(c.out, NULL);
    double tl, ta, sl, sa;
    char *p = strstr(so, "train loss");
    cr_assert(p && sscanf(p, "train loss %lf acc %lf%%", &tl, &ta) == 2, "%s", so);
    p = strstr(so, "test  loss");
    cr_assert(p && sscanf(p, "test  loss %lf acc %lf%%", &sl, &sa) == 2, "%s", so);
    cr_assert(ta > 50 && ta <= 100 && sa > 30, "train acc %g, test acc %g", ta, sa);
    free(so);
    /* without --data the run's own data options (config.json) are used */
    const char *e2[] = {"eval", ra, NULL};
    st = run(&c, e2);
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "eval status %d: %s", st, err);
    free(err);
    so = slurp(c.out, NULL);
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
    char *json = slurp(cj, NULL);
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
    char *err = slurp(c->err, NULL);
    cr_assert_eq(st, 1, "%s: status %d: %s", why, st, err);
    cr_assert(strstr(err, "options differ"), "%s: %s", why, err);
    free(err);
}

Test(cli, resume_hash_covers_study_options_not_formatting)
{
    ctx c;
    ctx_init(&c, "hash");
    char model[256], ra[256], rb[256];
    small_model(&c, model, sizeof model);
    sub(ra, sizeof ra, "%s/a", c.dir);
    sub(rb, sizeof rb, "%s/b", c.dir);
    const char *a[] = {HASH_RUN(model, ra), NULL};
    int st = run(&c, a);
    char *err = slurp(c.err, NULL);
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
    char *json = slurp(cj, NULL);
    FILE *f = fopen(cj, "w");
    cr_assert(f);
    fputs("\n\n", f);
    for (char *p = json; *p; p++)
        fputs(*p == '\n' ? "\n\t " : (char[]){*p, 0}, f);
    fclose(f);
    free(json);
    const char *same[] = {HASH_RUN(model, ra), "--resume", NULL};
    st = run(&c, same);
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "resume after reformatting config.json: %d: %s", st, err);
    free(err);
    char *so = slurp(c.out, NULL);
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
    err = slurp(c.err, NULL);
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
Test(cli, eval_reads_an_older_config_json)
{
    ctx c;
    ctx_init(&c, "oldcfg");
    char model[256], ra[256];
    small_model(&c, model, sizeof model);
    sub(ra, sizeof ra, "%s/a", c.dir);
    const char *a[] = {SMALL_RUN(model, ra), "--max-steps", "1", NULL};
    int st = run(&c, a);
    char *err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);
    char cj[300];
    sub(cj, sizeof cj, "%s/config.json", ra);
    char *demo = slurp("../results/demo/config.json", NULL);
    cr_assert(demo && strstr(demo, "\"options\": {\"epochs\""), "not the old one-line format");
    write_text(cj, demo);
    free(demo);
    const char *e[] = {"eval", ra, "--threads", "1", NULL};
    st = run(&c, e);
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "eval status %d: %s", st, err);
    free(err);
    char *so = slurp(c.out, NULL);
    cr_assert(strstr(so, "loss mse=1\n") && strstr(so, "(10000 samples)") &&
                  strstr(so, "(8000 samples)"),
              "%s", so);
    free(so);
    /* a malformed config.json is named with line and column */
    write_text(cj, "{\n  \"data\": {\"data\": \"mnist\", \"seed\": -1}\n}\n");
    st = run(&c, e);
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 1);
    cr_assert(strstr(err, "config.json:2:37: malformed data option 'seed'"), "%s", err);
    free(err);
    write_text(cj, "{\n  \"data\": {\"data\": \"mnist\",, }\n}\n");
    st = run(&c, e);
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 1);
    cr_assert(strstr(err, "config.json:2:28: expected a member name"), "%s", err);
    free(err);
    ctx_done(&c);
}

/* ---- non-finite loss stops the run, the last checkpoint stays ---- */

Test(cli, nonfinite_loss_stops_with_a_clear_message)
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
    char *err = slurp(c.err, NULL);
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
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "eval of the kept checkpoint: status %d: %s", st, err);
    free(err);
    char *so = slurp(c.out, NULL);
    double tl, ta;
    char *p = strstr(so, "train loss");
    cr_assert(p && sscanf(p, "train loss %lf acc %lf%%", &tl, &ta) == 2 && isfinite(tl),
              "%s", so);
    /* without --loss, eval uses the loss the run was trained with (config.json) */
    cr_assert(strstr(so, "loss mse=1\n"), "%s", so);
    free(so);
    const char *e2[] = {"eval", out, "--loss", "ce", NULL};
    cr_assert_eq(run(&c, e2), 0);
    so = slurp(c.out, NULL);
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

/* ---- features, W, b; fixed ETF head ---- */

static float *read_f32(const char *dir, const char *name, int *ndim, int64_t *shape)
{
    char path[300];
    sub(path, sizeof path, "%s/%s", dir, name);
    float *x;
    cr_assert_eq(cl_npy_read_f32(path, &x, ndim, shape), CL_OK, "%s", path);
    return x;
}

Test(cli, etf_head_and_features_agree_with_eval, .timeout = 120)
{
    ctx c;
    ctx_init(&c, "etf");
    char model[256], out[256], feat[256];
    small_model(&c, model, sizeof model);
    sub(out, sizeof out, "%s/run", c.dir);
    sub(feat, sizeof feat, "%s/feat", c.dir);
    const char *a[] = {"train",   "--model",
                       model,     "--data",
                       "fashion", "--train-per-class",
                       "30",      "--test-per-class",
                       "10",      "--epochs",
                       "3",       "--batch",
                       "25",      "--classifier",
                       "etf",     "--etf-mode",
                       "rotate",  "--analyze",
                       "none",    "--out",
                       out,       NULL};
    int st = run(&c, a);
    char *err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);
    const char *f[] = {"features",
                       out,
                       "--data",
                       "fashion",
                       "--train-per-class",
                       "30",
                       "--test-per-class",
                       "10",
                       "--out",
                       feat,
                       NULL};
    st = run(&c, f);
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);
    int nd;
    int64_t sh[8], shw[8], shb[8];
    float *H = read_f32(feat, "features.npy", &nd, sh);
    cr_assert(nd == 2 && sh[0] == 300 && sh[1] == 32, "features [%lld, %lld]",
              (long long)sh[0], (long long)sh[1]);
    float *W = read_f32(feat, "W.npy", &nd, shw);
    cr_assert(nd == 2 && shw[0] == 10 && shw[1] == 32);
    float *b = read_f32(feat, "b.npy", &nd, shb);
    cr_assert(nd == 1 && shb[0] == 10);
    char path[300];
    sub(path, sizeof path, "%s/labels.npy", feat);
    int32_t *y;
    cr_assert_eq(cl_npy_read_i32(path, &y, &nd, sh), CL_OK);
    /* the trained ETF is still a simplex ETF: W W^T = I - (1 - I)/(K-1) */
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(b[i], 0.0f);
        for (int j = 0; j < 10; j++) {
            double d = 0;
            for (int k = 0; k < 32; k++)
                d += (double)W[i * 32 + k] * W[j * 32 + k];
            cr_assert_float_eq(d, i == j ? 1.0 : -1.0 / 9, 1e-5, "[%d][%d] %g", i, j, d);
        }
    }
    /* the accuracy of argmax(W h + b) on the features equals eval's */
    int correct = 0;
    for (int n = 0; n < 300; n++) {
        int best = 0;
        double bv = -INFINITY;
        for (int k = 0; k < 10; k++) {
            double z = b[k];
            for (int d = 0; d < 32; d++)
                z += (double)W[k * 32 + d] * H[n * 32 + d];
            if (z > bv) bv = z, best = k;
        }
        correct += best == y[n];
    }
    const char *e[] = {"eval",
                       out,
                       "--data",
                       "fashion",
                       "--train-per-class",
                       "30",
                       "--test-per-class",
                       "10",
                       "--split",
                       "train",
                       NULL};
    cr_assert_eq(run(&c, e), 0);
    char *so = slurp(c.out, NULL);
    double tl, ta;
    char *p = strstr(so, "train loss");
    cr_assert(p && sscanf(p, "train loss %lf acc %lf%%", &tl, &ta) == 2, "%s", so);
    cr_assert_float_eq(ta, 100.0 * correct / 300, 1e-3, "eval %g%%, features %d/300", ta,
                       correct);
    free(so);

    /* --layer picks a named hidden layer; unknown names list the layers */
    const char *f2[] = {"features",
                        out,
                        "--data",
                        "fashion",
                        "--train-per-class",
                        "30",
                        "--test-per-class",
                        "10",
                        "--layer",
                        "bn1",
                        "--out",
                        feat,
                        NULL};
    cr_assert_eq(run(&c, f2), 0);
    float *H2 = read_f32(feat, "features.npy", &nd, sh);
    cr_assert(nd == 2 && sh[0] == 300 && sh[1] == 64);
    const char *f3[] = {"features", out,     "--data", "fashion", "--layer",
                        "fc9",      "--out", feat,     NULL};
    cr_assert_eq(run(&c, f3), 2);
    err = slurp(c.err, NULL);
    cr_assert(strstr(err, "fc9") && strstr(err, "relu2"), "%s", err);
    free(err);
    cl_free(H);
    cl_free(H2);
    cl_free(W);
    cl_free(b);
    cl_free(y);
    ctx_done(&c);
}

/* ---- the README's MNIST claim: an MLP interpolates a 500-per-class subset ---- */

Test(cli, mnist_mlp_reaches_100_percent_train_accuracy, .timeout = 300)
{
    const char *root = getenv("COLLAPSE_DATA");
    char probe[512];
    sub(probe, sizeof probe, "%s/mnist/train-images-idx3-ubyte.gz", root ? root : "data");
    if (!exists(probe)) cr_skip_test("MNIST is not in %s (make data)", probe);
    ctx c;
    ctx_init(&c, "mnist");
    char model[256], out[256];
    sub(model, sizeof model, "%s/mlp.cfg", c.dir);
    write_text(model, "[model]\ntype = mlp\nwidth = 256\ndepth = 2\n");
    sub(out, sizeof out, "%s/run", c.dir);
    const char *a[] = {"train",      "--model",
                       model,        "--data",
                       "mnist",      "--train-per-class",
                       "500",        "--test-per-class",
                       "100",        "--epochs",
                       "15",         "--batch",
                       "32",         "--lr",
                       "0.05",       "--schedule",
                       "step=10,13", "--threads",
                       "1",          "--analyze",
                       "none",       "--out",
                       out,          NULL};
    int st = run(&c, a);
    char *err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);
    const char *e[] = {
        "eval", out, "--data", "mnist", "--train-per-class", "500", "--test-per-class",
        "100",  NULL};
    cr_assert_eq(run(&c, e), 0);
    char *so = slurp(c.out, NULL);
    double tl, ta, sl, sa;
    char *p = strstr(so, "train loss");
    cr_assert(p && sscanf(p, "train loss %lf acc %lf%%", &tl, &ta) == 2, "%s", so);
    p = strstr(so, "test  loss");
    cr_assert(p && sscanf(p, "test  loss %lf acc %lf%%", &sl, &sa) == 2, "%s", so);
    cr_assert_eq(ta, 100.0, "train accuracy %.4f%% (loss %g), want 100%%", ta, tl);
    cr_assert(sa > 85, "test accuracy %.2f%%", sa);
    free(so);
    ctx_done(&c);
}

/* ---- --feature-dim and --no-classifier-bias reach the built model ---- */

Test(cli, feature_dim_and_no_bias)
{
    ctx c;
    ctx_init(&c, "fdim");
    char out[256], feat[256];
    sub(out, sizeof out, "%s/run", c.dir);
    sub(feat, sizeof feat, "%s/feat", c.dir);
    const char *a[] = {"train",     "--arch",
                       "mlp",       "--data",
                       "fashion",   "--train-per-class",
                       "10",        "--test-per-class",
                       "2",         "--epochs",
                       "1",         "--batch",
                       "50",        "--feature-dim",
                       "16",        "--no-classifier-bias",
                       "--analyze", "none",
                       "--out",     out,
                       NULL};
    int st = run(&c, a);
    char *err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);
    char *so = slurp(c.out, NULL);
    cr_assert(strstr(so, "without bias"), "%s", so);
    free(so);
    const char *f[] = {"features", out, "--out", feat, NULL};
    cr_assert_eq(run(&c, f), 0);
    int nd;
    int64_t sh[8];
    float *H = read_f32(feat, "features.npy", &nd, sh);
    cr_assert(nd == 2 && sh[0] == 100 && sh[1] == 16, "[%lld, %lld]", (long long)sh[0],
              (long long)sh[1]);
    float *W = read_f32(feat, "W.npy", &nd, sh);
    cr_assert(nd == 2 && sh[0] == 10 && sh[1] == 16);
    float *b = read_f32(feat, "b.npy", &nd, sh);
    for (int k = 0; k < 10; k++)
        cr_assert_eq(b[k], 0.0f);
    cl_free(H);
    cl_free(W);
    cl_free(b);
    /* an ETF needs D >= K: a clear error, no folder */
    char out2[256];
    sub(out2, sizeof out2, "%s/run2", c.dir);
    const char *a2[] = {"train",   "--arch",        "mlp", "--data",
                        "fashion", "--feature-dim", "5",   "--classifier",
                        "etf",     "--out",         out2,  NULL};
    cr_assert_eq(run(&c, a2), 1);
    err = slurp(c.err, NULL);
    cr_assert(strstr(err, "--feature-dim") && strstr(err, "D=5"), "%s", err);
    free(err);
    cr_assert(!exists(out2));
    ctx_done(&c);
}

/* ---- eval / features: usage and file errors ---- */

Test(cli, eval_and_features_errors)
{
    ctx c;
    ctx_init(&c, "everr");
    static const struct {
        const char *a[10];
        int status;
        const char *want;
    } cases[] = {
        {{"eval", "/no/such/run", "--data", "fashion"}, 1, "/no/such/run"},
        {{"eval", "--data", "fashion"}, 2, "checkpoint"},
        {{"eval", "x", "--data", "fashion", "--split", "dev"}, 2, "--split"},
        {{"eval", "x", "--data", "fashion", "--loss", "l1"}, 2, "--loss"},
        {{"eval", "x", "y", "--data", "fashion"}, 2, "'y'"},
        {{"features", "x", "--data", "fashion"}, 2, "--out"},
        {{"features", "x", "--data", "fashion", "--out", "o", "--bn-mode", "z"},
         2,
         "--bn-mode"},
        {{"features", "/no/such/run", "--data", "fashion", "--out", "o"},
         1,
         "/no/such/run"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = run(&c, cases[i].a);
        char *err = slurp(c.err, NULL);
        cr_assert_eq(st, cases[i].status, "case %zu: status %d: %s", i, st, err);
        cr_assert(strstr(err, cases[i].want), "case %zu: want '%s': %s", i, cases[i].want,
                  err);
        free(err);
    }
    cr_assert(!exists("o"), "features created its --out on an error");
    ctx_done(&c);
}

/* ---- conv models end to end: ResNet-20 with an ETF head, ConvNet; layer taps ---- */

Test(cli, resnet20_etf_and_convnet_end_to_end, .timeout = 300)
{
    ctx c;
    ctx_init(&c, "conv");
    char out[256], feat[256];
    sub(out, sizeof out, "%s/r20", c.dir);
    sub(feat, sizeof feat, "%s/feat", c.dir);
    const char *a[] = {"train",
                       "--model",
                       "../models/resnet20.cfg",
                       "--data",
                       "cifar10",
                       "--train-per-class",
                       "2",
                       "--test-per-class",
                       "1",
                       "--epochs",
                       "2",
                       "--batch",
                       "10",
                       "--classifier",
                       "etf",
                       "--analyze",
                       "none",
                       "--out",
                       out,
                       NULL};
    int st = run(&c, a);
    char *err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);
    char *so = slurp(c.out, NULL);
    /* 272474 parameters less the classifier bias the ETF head drops */
    cr_assert(strstr(so, "stem_conv") && strstr(so, "block9") &&
                  strstr(so, "272464 parameters") && strstr(so, "simplex ETF"),
              "%s", so);
    free(so);
    const char *f[] = {"features", out, "--layer", "block9", "--out", feat, NULL};
    st = run(&c, f);
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);
    int nd;
    int64_t sh[8];
    float *H = read_f32(feat, "features.npy", &nd, sh);
    cr_assert(nd == 2 && sh[0] == 20 && sh[1] == 64 * 8 * 8, "[%lld, %lld]",
              (long long)sh[0], (long long)sh[1]);
    cl_free(H);

    sub(out, sizeof out, "%s/cn", c.dir);
    const char *b[] = {"train",   "--arch",
                       "convnet", "--data",
                       "fashion", "--train-per-class",
                       "5",       "--test-per-class",
                       "1",       "--epochs",
                       "2",       "--batch",
                       "25",      "--feature-dim",
                       "16",      "--analyze",
                       "none",    "--out",
                       out,       NULL};
    st = run(&c, b);
    err = slurp(c.err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);
    const char *f2[] = {"features", out, "--out", feat, NULL};
    cr_assert_eq(run(&c, f2), 0);
    H = read_f32(feat, "features.npy", &nd, sh);
    cr_assert(nd == 2 && sh[0] == 50 && sh[1] == 16, "[%lld, %lld]", (long long)sh[0],
              (long long)sh[1]);
    cl_free(H);
    ctx_done(&c);
}
