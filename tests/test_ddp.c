/* Data-parallel training under MPI (issue 12): `mpirun -np 2 --oversubscribe
 * $COLLAPSE_MPI_BIN train ...` against the plain binary ($COLLAPSE_BIN) with
 * the same global batch and seed, the final parameters compared from the
 * checkpoints; --sync-bn on a small ResNet-20; resume after a kill of the
 * whole job (bit-exact at fixed N, a warning at another N); an error on one
 * rank only; Ctrl-C. Every mpirun runs in its own process group under a
 * deadline: a rank that hangs fails the test (the group is killed).
 * Skipped with a message when mpirun or the MPI binary is missing (`make
 * test` builds it when mpicc is installed; CI installs OpenMPI) and under
 * SAN=1 (the MPI binary is not sanitized, and OpenMPI's own allocations
 * would be reported as leaks). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "collapse/ckpt.h"
#include "collapse/comm.h"
#include "collapse/mem.h"
#include "common.h"

#define DDP_DEADLINE 60 /* seconds per mpirun before we call it a hang */

/* The MPI binary, or NULL after skipping the test. */
static const char *mpi_bin(void)
{
    const char *bin = getenv("COLLAPSE_MPI_BIN");
    if (getenv("COLLAPSE_SAN")) {
        cr_skip_test("MPI tests are skipped under SAN=1 (unsanitized MPI binary, OpenMPI leaks)");
        return NULL;
    }
    if (!bin || access(bin, X_OK) != 0) {
        cr_skip_test("no MPI binary ($COLLAPSE_MPI_BIN; `make mpi` needs libopenmpi-dev)");
        return NULL;
    }
    if (system("command -v mpirun >/dev/null 2>&1") != 0) {
        cr_skip_test("mpirun is not installed (openmpi-bin)");
        return NULL;
    }
    return bin;
}

/* Starts `mpirun -np 2 --oversubscribe [extra...] BIN args...` (or, with
 * np = 0, the plain binary) in a new process group, output into c->out/err. */
static pid_t spawn_np(ctx *c, int np, const char *const *pre, const char *const *args)
{
    const char *argv[96];
    int n = 0;
    char nps[8];
    snprintf(nps, sizeof nps, "%d", np);
    if (np) {
        argv[n++] = "mpirun";
        argv[n++] = "-np";
        argv[n++] = nps;
        argv[n++] = "--oversubscribe";
        for (int i = 0; pre && pre[i]; i++) argv[n++] = pre[i];
        argv[n++] = getenv("COLLAPSE_MPI_BIN");
    } else {
        argv[n++] = tc_bin();
    }
    for (int i = 0; args[i]; i++) {
        cr_assert(n < 94);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        FILE *o = freopen(c->out, "w", stdout), *e = freopen(c->err, "w", stderr);
        if (!o || !e) _exit(127);
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
        setenv("OMP_NUM_THREADS", "1", 1);
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* Waits at most DDP_DEADLINE s; a hang kills the whole group and fails. */
static int wait_np(ctx *c, pid_t pid)
{
    struct timespec ts = {0, 20000000};
    for (int i = 0; i < DDP_DEADLINE * 50; i++) {
        int ws;
        pid_t r = waitpid(pid, &ws, WNOHANG);
        cr_assert(r >= 0);
        if (r == pid) return WIFSIGNALED(ws) ? 1000 + WTERMSIG(ws) : WEXITSTATUS(ws);
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char *err = tc_slurp(c->err, NULL);
    cr_assert_fail("mpirun hung for %d s:\n%s", DDP_DEADLINE, err ? err : "");
    return -1;
}

static int run_np(ctx *c, int np, const char *const *pre, const char *const *args)
{
    return wait_np(c, spawn_np(c, np, pre, args));
}

static void run_np_ok(ctx *c, int np, const char *const *args)
{
    int st = run_np(c, np, NULL, args);
    if (st) {
        char *err = tc_slurp(c->err, NULL);
        cr_assert_fail("np=%d exited %d:\n%s", np, st, err ? err : "");
    }
}

/* The newest good checkpoint's parameters of run folder dir. */
static float *final_params(const char *dir, int64_t *n)
{
    char path[512];
    cr_assert_eq(cl_ckpt_resolve(dir, path, sizeof path, NULL), CL_OK, "%s", cl_errmsg());
    char *text;
    float *p, *b;
    int64_t nb, step;
    cr_assert_eq(cl_ckpt_read_model(path, &text, &p, n, &b, &nb, &step), CL_OK, "%s",
                 cl_errmsg());
    cl_free(text);
    cl_free(b);
    return p;
}

/* Max |a - b| over max |b|, the norm of the relative difference. */
static double rel_diff(const char *da, const char *db)
{
    int64_t na, nb;
    float *a = final_params(da, &na), *b = final_params(db, &nb);
    cr_assert_eq(na, nb);
    double dmax = 0, bmax = 0;
    for (int64_t i = 0; i < na; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > dmax) dmax = d;
        if (fabs(b[i]) > bmax) bmax = fabs(b[i]);
    }
    cl_free(a);
    cl_free(b);
    return dmax / bmax;
}

/* Bit-exact: the same parameter count and bytes. */
static void same_bytes(const char *da, const char *db)
{
    int64_t na, nb;
    float *a = final_params(da, &na), *b = final_params(db, &nb);
    int same = na == nb && memcmp(a, b, sizeof(float) * (size_t)na) == 0;
    cl_free(a);
    cl_free(b);
    cr_assert(same, "the parameters of %s and %s differ", da, db);
}

static int file_has(const char *path, const char *s)
{
    char *t = tc_slurp(path, NULL);
    int r = t && strstr(t, s);
    free(t);
    return r;
}

/* MNIST subset, MLP without BN: 500 samples, batch 75 (slices of 38 and 37,
 * the last batch 25 + 25: uneven slices are weighted by their size), one
 * epoch. */
#define MLP_RUN(out)                                                                     \
    "train", "--arch", "mlp", "--data", "mnist", "--train-per-class", "50",             \
        "--test-per-class", "5", "--epochs", "1", "--batch", "75", "--seed", "3",       \
        "--threads", "1", "--analyze", "none", "--out", out

Test(ddp, mlp_np2_matches_one_process, .timeout = TC_TIMEOUT)
{
    if (!mpi_bin()) return;
    ctx c;
    ctx_init(&c, "ddp_mlp");
    char a[128], b[128], cj[160];
    sub(a, sizeof a, "%s/one", c.dir);
    sub(b, sizeof b, "%s/two", c.dir);
    const char *one[] = {MLP_RUN(a), NULL}, *two[] = {MLP_RUN(b), NULL};
    run_np_ok(&c, 0, one);
    run_np_ok(&c, 2, two);
    cr_assert(file_has(c.out, "ddp: 2 ranks") && file_has(c.out, "hidden"),
              "no allreduce report");
    sub(cj, sizeof cj, "%s/config.json", b);
    cr_assert(file_has(cj, "\"ranks\": 2"), "config.json lacks the rank count");
    double d = rel_diff(b, a);
    cr_log_info("MLP np=2 vs one process: max |diff| / max |param| = %g", d);
    cr_assert(d <= 1e-4, "np=2 vs one process: max relative difference %g", d);
    ctx_done(&c);
}

/* Compares two CSV files cell by cell: the same header and row count, text
 * cells equal, numbers within 1e-4 relative (NaN with NaN); the timing
 * columns (header names ending in "_seconds") are skipped. */
static void same_csv(const char *pa, const char *pb)
{
    char *ta = tc_slurp(pa, NULL), *tb = tc_slurp(pb, NULL);
    cr_assert(ta && tb, "cannot read %s or %s", pa, pb);
    char *sa, *sb, *la = strtok_r(ta, "\n", &sa), *lb = strtok_r(tb, "\n", &sb);
    cr_assert(la && lb && !strcmp(la, lb), "%s: another header", pb);
    int skip[256] = {0}, ncol = 0;
    for (char *h = la, *e; h && ncol < 256; h = e ? e + 1 : NULL, ncol++) {
        e = strchr(h, ',');
        size_t len = e ? (size_t)(e - h) : strlen(h);
        skip[ncol] = len >= 8 && !strncmp(h + len - 8, "_seconds", 8);
    }
    int rows = 0;
    double worst = 0;
    while ((la = strtok_r(NULL, "\n", &sa)) != NULL) {
        lb = strtok_r(NULL, "\n", &sb);
        cr_assert(lb, "%s: fewer rows", pb);
        rows++;
        char *ca = la, *cb = lb;
        for (int k = 0; ca && cb; k++) {
            char *ea = strchr(ca, ','), *eb = strchr(cb, ',');
            if (ea) *ea = 0;
            if (eb) *eb = 0;
            char *endx, *endy;
            double x = strtod(ca, &endx), y = strtod(cb, &endy);
            if (k < 256 && skip[k]) {
            } else if (*ca && !*endx && *cb && !*endy) {
                double r = isnan(x) && isnan(y) ? 0 : fabs(x - y) / fmax(fmax(fabs(x), fabs(y)), 1e-12);
                cr_assert(r <= 1e-4, "%s row %d column %d: %s vs %s", pb, rows, k, ca, cb);
                if (r > worst) worst = r;
            } else {
                cr_assert_str_eq(ca, cb, "%s row %d column %d", pb, rows, k);
            }
            ca = ea ? ea + 1 : NULL;
            cb = eb ? eb + 1 : NULL;
        }
        cr_assert(!ca && !cb, "%s row %d: another column count", pb, rows);
    }
    cr_assert_null(strtok_r(NULL, "\n", &sb), "%s: more rows", pb);
    cr_assert(rows > 0, "%s: no rows", pa);
    cr_log_info("%s: %d rows, max relative difference %g", pb, rows, worst);
    free(ta);
    free(tb);
}

/* The study under MPI through the CLI: an MLP with the default study, two
 * epochs (rows 0, 1, 2), np=2 vs one process: metrics.csv and layers.csv to
 * 1e-4 relative in every column but the timings, the same files. */
Test(ddp, study_np2_rows_match_one_process, .timeout = TC_TIMEOUT)
{
    if (!mpi_bin()) return;
    ctx c;
    ctx_init(&c, "ddp_study");
    char a[128], b[128], fa[192], fb[192];
    sub(a, sizeof a, "%s/one", c.dir);
    sub(b, sizeof b, "%s/two", c.dir);
#define STUDY_RUN(out)                                                                   \
    "train", "--arch", "mlp", "--data", "mnist", "--train-per-class", "30",             \
        "--test-per-class", "10", "--epochs", "2", "--batch", "64", "--seed", "4",      \
        "--threads", "1", "--no-plots", "--out", out
    const char *one[] = {STUDY_RUN(a), NULL}, *two[] = {STUDY_RUN(b), NULL};
#undef STUDY_RUN
    run_np_ok(&c, 0, one);
    run_np_ok(&c, 2, two);
    const char *files[] = {"metrics.csv", "layers.csv"};
    for (int i = 0; i < 2; i++) {
        sub(fa, sizeof fa, "%s/%s", a, files[i]);
        sub(fb, sizeof fb, "%s/%s", b, files[i]);
        same_csv(fa, fb);
    }
    const char *npy[] = {"features_train.npy", "labels_train.npy", "W.npy"};
    for (int i = 0; i < 3; i++) {
        sub(fb, sizeof fb, "%s/%s", b, npy[i]);
        cr_assert_eq(access(fb, R_OK), 0, "np=2 did not write %s", npy[i]);
    }
    ctx_done(&c);
}

/* A ResNet-20 of width 4 (BN2d in every block) on an MNIST subset (CIFAR-10
 * would spend seconds in gunzip); 100 samples, batch 50 (25 per rank), sync
 * BN equals one process; per-rank BN does not (so the comparison can fail). */
#define R20_RUN(model, out)                                                              \
    "train", "--model", model, "--data", "mnist", "--train-per-class", "10",            \
        "--test-per-class", "2", "--epochs", "1", "--batch", "50", "--seed", "5",       \
        "--threads", "1", "--lr", "0.05", "--analyze", "none", "--out", out

Test(ddp, resnet_sync_bn_matches_one_process, .timeout = TC_TIMEOUT)
{
    if (!mpi_bin()) return;
    ctx c;
    ctx_init(&c, "ddp_r20");
    char model[128], a[128], b[128], p[128];
    sub(model, sizeof model, "%s/r20.cfg", c.dir);
    tc_write_text(model, "[model]\ntype = resnet20\nwidth = 4\n");
    sub(a, sizeof a, "%s/one", c.dir);
    sub(b, sizeof b, "%s/sync", c.dir);
    sub(p, sizeof p, "%s/perrank", c.dir);
    const char *one[] = {R20_RUN(model, a), "--sync-bn", NULL};
    const char *two[] = {R20_RUN(model, b), "--sync-bn", NULL};
    const char *per[] = {R20_RUN(model, p), NULL};
    run_np_ok(&c, 0, one);
    run_np_ok(&c, 2, two);
    double d = rel_diff(b, a);
    cr_assert(d <= 1e-4, "sync BN np=2 vs one process: max relative difference %g", d);
    run_np_ok(&c, 2, per);
    double dp = rel_diff(p, a);
    cr_log_info("ResNet-20 np=2 vs one process: sync BN %g, per-rank BN %g", d, dp);
    cr_assert(dp > 1e-3, "per-rank BN should differ from global BN (got %g)", dp);
    ctx_done(&c);
}

/* Two epochs of 6 steps (MNIST, small BN MLP); resume after a SIGKILL of the
 * whole job, at the same rank count. */
#define RESUME_RUN(model, out)                                                           \
    "train", "--model", model, "--data", "mnist", "--train-per-class", "60",            \
        "--test-per-class", "2", "--epochs", "3", "--batch", "100", "--seed", "9",      \
        "--threads", "1", "--lr", "0.05", "--analyze", "none", "--out", out

static void wait_ckpt(ctx *c, const char *run, pid_t pid)
{
    char ck[200];
    sub(ck, sizeof ck, "%s/checkpoint", run);
    struct timespec ts = {0, 5000000};
    for (int i = 0; i < 8000 && !cl_ckpt_exists(ck); i++) {
        cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "run ended before its first checkpoint");
        nanosleep(&ts, NULL);
    }
    if (!cl_ckpt_exists(ck)) {
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        cr_assert_fail("no checkpoint after 40 s");
    }
}

Test(ddp, resume_after_kill_is_bit_exact_at_fixed_n, .timeout = TC_TIMEOUT)
{
    if (!mpi_bin()) return;
    ctx c;
    ctx_init(&c, "ddp_resume");
    char model[160], a[128], b[128];
    small_model(&c, model, sizeof model);
    sub(a, sizeof a, "%s/a", c.dir);
    sub(b, sizeof b, "%s/b", c.dir);
    const char *ra[] = {RESUME_RUN(model, a), "--sync-bn", NULL};
    const char *rb[] = {RESUME_RUN(model, b), "--sync-bn", NULL};
    const char *rb2[] = {RESUME_RUN(model, b), "--sync-bn", "--resume", NULL};
    run_np_ok(&c, 2, ra);
    pid_t pid = spawn_np(&c, 2, NULL, rb);
    wait_ckpt(&c, b, pid);
    kill(-pid, SIGKILL); /* the whole job: mpirun and both ranks */
    wait_np(&c, pid);
    run_np_ok(&c, 2, rb2);
    cr_assert(!file_has(c.out, "no longer bit-exact"), "same N must not warn");
    same_bytes(a, b);
    ctx_done(&c);
}

Test(ddp, resume_with_other_rank_count_warns, .timeout = TC_TIMEOUT)
{
    if (!mpi_bin()) return;
    ctx c;
    ctx_init(&c, "ddp_resume_n");
    char model[160], b[128];
    small_model(&c, model, sizeof model);
    sub(b, sizeof b, "%s/b", c.dir);
    const char *rb[] = {RESUME_RUN(model, b), "--max-steps", "7", NULL};
    const char *rb2[] = {RESUME_RUN(model, b), "--resume", NULL};
    run_np_ok(&c, 2, rb);
    run_np_ok(&c, 1, rb2);
    char *o = tc_slurp(c.out, NULL);
    cr_assert(o && strstr(o, "warning: the run used 2 ranks, now 1"), "%s", o ? o : "");
    char *w = strstr(o, "warning: the run used 2 ranks");
    cr_assert(strchr(w, '\n') && !strstr(strchr(w, '\n'), "ranks, now"), "one line only");
    free(o);
    ctx_done(&c);
}

/* Rank 1 alone sees a data folder without MNIST (MPMD: its own environment):
 * every rank stops, rank 0 prints rank 1's line, the exit is non-zero. */
Test(ddp, error_on_one_rank_stops_all, .timeout = TC_TIMEOUT)
{
    const char *bin = mpi_bin();
    if (!bin) return;
    ctx c;
    ctx_init(&c, "ddp_fault");
    char out[128], empty[128], env[200];
    sub(out, sizeof out, "%s/run", c.dir);
    sub(empty, sizeof empty, "%s/nodata", c.dir);
    sub(env, sizeof env, "COLLAPSE_DATA=%s", empty);
    const char *args[] = {MLP_RUN(out), ":", "-np", "1", "-x", env, bin, MLP_RUN(out), NULL};
    /* mpirun -np 1 BIN args : -np 1 -x COLLAPSE_DATA=... BIN args */
    pid_t pid = spawn_np(&c, 1, NULL, args);
    int st = wait_np(&c, pid);
    char *err = tc_slurp(c.err, NULL);
    cr_assert(st != 0 && st < 1000, "exit %d:\n%s", st, err ? err : "");
    cr_assert(err && strstr(err, "collapse: rank 1: "), "no line from rank 1:\n%s",
              err ? err : "");
    free(err);
    char cj[160];
    sub(cj, sizeof cj, "%s/config.json", out);
    cr_assert(!tc_exists(cj), "a failed start leaves no config.json");
    ctx_done(&c);
}

/* SIGINT to every rank (what srun does with Ctrl-C, and what mpirun's
 * ranks get with `pkill -INT -P <mpirun pid>`; OpenMPI's mpirun itself,
 * when signalled, ends the job after odls_base_sigkill_timeout, see
 * docs/training.md): the ranks agree on the stop, rank 0 writes one
 * checkpoint, every rank exits 130, and so does mpirun. */
static int signal_children(pid_t parent, int sig)
{
    DIR *d = opendir("/proc");
    cr_assert(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = 0;
        char *rp = strrchr(buf, ')');
        int pid = atoi(e->d_name), ppid = 0;
        char state;
        if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == parent) {
            kill(pid, sig);
            n++;
        }
    }
    closedir(d);
    return n;
}

Test(ddp, ctrl_c_checkpoints_once, .timeout = TC_TIMEOUT)
{
    if (!mpi_bin()) return;
    ctx c;
    ctx_init(&c, "ddp_sigint");
    char model[160], b[128];
    sub(model, sizeof model, "%s/wide.cfg", c.dir);
    tc_write_text(model, "[model]\ntype = mlp\nwidth = 256\ndepth = 3\nbn = 1\n");
    sub(b, sizeof b, "%s/b", c.dir);
    const char *rb[] = {"train", "--model", model, "--data", "mnist", "--train-per-class",
                        "60", "--test-per-class", "2", "--epochs", "200", "--batch", "100",
                        "--threads", "1", "--analyze", "none", "--out", b, NULL};
    pid_t pid = spawn_np(&c, 2, NULL, rb);
    wait_ckpt(&c, b, pid);
    cr_assert_eq(signal_children(pid, SIGINT), 2, "want two ranks under mpirun");
    int st = wait_np(&c, pid);
    char *err = tc_slurp(c.err, NULL);
    cr_assert(st == 130, "exit %d:\n%s", st, err ? err : "");
    cr_assert(err && strstr(err, "interrupted"), "exit %d:\n%s", st, err ? err : "");
    cr_assert(!strstr(strstr(err, "interrupted") + 1, "interrupted"), "one line:\n%s", err);
    free(err);
    char ck[200];
    sub(ck, sizeof ck, "%s/checkpoint", b);
    cl_ckpt_found f;
    cr_assert_eq(cl_ckpt_find(ck, &f), CL_OK, "%s", cl_errmsg());
    cr_assert(f.step > 0 && f.step < 200 * 6, "checkpoint at step %lld", (long long)f.step);
    ctx_done(&c);
}

/* The one-process group (plain build, NULL): the new collectives are
 * identities, so the trainer's data-parallel path reduces to the plain step. */
Test(ddp, one_process_collectives_are_identities)
{
    cl_comm *c;
    cr_assert_eq(cl_comm_init(&c, NULL, NULL), CL_OK);
    cl_comm *groups[2] = {NULL, cl_comm_is_mpi_build() ? NULL : c};
    for (int g = 0; g < 2; g++) {
        cl_comm *cm = groups[g];
        float buf[3] = {1, 2, 3};
        cr_assert_eq(cl_comm_isum_f32(cm, buf, 3), CL_OK);
        cl_comm_progress(cm);
        cr_assert_eq(cl_comm_wait_all(cm), CL_OK);
        cr_assert(buf[0] == 1 && buf[1] == 2 && buf[2] == 3);
        int flag = 1, who = -1;
        cr_assert_eq(cl_comm_agree(cm, CL_OK, &flag), CL_OK);
        cr_assert_eq(flag, 1);
        cl_error(CL_EIO, "disk full");
        cr_assert_eq(cl_comm_agree(cm, CL_EIO, NULL), CL_EIO);
        cr_assert_str_eq(cl_errmsg(), "disk full"); /* no "rank R:" for oneself */
        char msg[16] = "x";
        cr_assert_eq(cl_comm_agree_code(cm, 2, msg, sizeof msg, NULL, &who), 2);
        cr_assert_eq(who, 0);
        cr_assert_eq(cl_comm_stopping(cm), 0);
        int64_t b, e;
        cl_comm_shard(cm, 7, &b, &e);
        cr_assert(b == 0 && e == 7);
    }
    cl_comm_finalize(c);
}

/* A write failure on rank 0 alone (the study's files, which rank 0 alone
 * writes: tests/faultshim.c preloaded on rank 0 only, every write from the
 * 11th on fails): the study's agreement (cl_comm_agree) stops rank 1 too,
 * rank 0 prints its own line, the job exits non-zero without hanging. (A
 * failure outside every agreement ends the job with MPI_Abort, main.c.) */
Test(ddp, write_failure_on_rank0_stops_every_rank, .timeout = TC_TIMEOUT)
{
    const char *bin = mpi_bin();
    const char *shim = getenv("COLLAPSE_FAULTSHIM");
    if (!bin) return;
    if (!shim || access(shim, R_OK) != 0) {
        cr_skip_test("no $COLLAPSE_FAULTSHIM");
        return;
    }
    ctx c;
    ctx_init(&c, "ddp_abort");
    char model[160], out[128], pre[300];
    small_model(&c, model, sizeof model);
    sub(out, sizeof out, "%s/run", c.dir);
    sub(pre, sizeof pre, "LD_PRELOAD=%s", shim);
#define STUDY_RUN                                                                            \
    "train", "--model", model, "--data", "mnist", "--train-per-class", "20",                \
        "--test-per-class", "2", "--epochs", "2", "--batch", "50", "--threads", "1",        \
        "--no-plots", "--out", out
    /* mpirun -np 1 --oversubscribe -x (preload) BIN args : -np 1 BIN args */
    const char *first[] = {"-x", pre, "-x", "COLLAPSE_FAULT_WRITE=11", "-x",
                           "COLLAPSE_FAULT_STICKY=1", NULL};
    const char *args[] = {STUDY_RUN, ":", "-np", "1", bin, STUDY_RUN, NULL};
#undef STUDY_RUN
    pid_t pid = spawn_np(&c, 1, first, args);
    int st = wait_np(&c, pid);
    char *err = tc_slurp(c.err, NULL);
    cr_assert(st != 0 && st < 1000, "exit %d:\n%s", st, err ? err : "");
    cr_assert(err && strstr(err, "collapse: study: "), "no line from rank 0:\n%s",
              err ? err : "");
    free(err);
    ctx_done(&c);
}
