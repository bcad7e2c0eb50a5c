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
#include "ddp_common.h"

/* MNIST subset, MLP without BN: 500 samples, batch 75 (slices of 38 and 37,
 * the last batch 25 + 25: uneven slices are weighted by their size), one
 * epoch. */
#define MLP_RUN(out)                                                                     \
    "train", "--arch", "mlp", "--data", "mnist", "--train-per-class", "50",             \
        "--test-per-class", "5", "--epochs", "1", "--batch", "75", "--seed", "3",       \
        "--threads", "1", "--analyze", "none", "--out", out

Test(ddp, mlp_np2_matches_one_process, .timeout = TC_TIMEOUT)
{
    if (!ddp_mpi_bin()) return;
    ctx c;
    ctx_init(&c, "ddp_mlp");
    char a[128], b[128], cj[160];
    sub(a, sizeof a, "%s/one", c.dir);
    sub(b, sizeof b, "%s/two", c.dir);
    const char *one[] = {MLP_RUN(a), NULL}, *two[] = {MLP_RUN(b), NULL};
    ddp_run_np_ok(&c, 0, one);
    ddp_run_np_ok(&c, 2, two);
    cr_assert(ddp_file_has(c.out, "ddp: 2 ranks") && ddp_file_has(c.out, "hidden"),
              "no allreduce report");
    sub(cj, sizeof cj, "%s/config.json", b);
    cr_assert(ddp_file_has(cj, "\"ranks\": 2"), "config.json lacks the rank count");
    double d = ddp_rel_diff(b, a);
    cr_log_info("MLP np=2 vs one process: max |diff| / max |param| = %g", d);
    cr_assert(d <= 1e-4, "np=2 vs one process: max relative difference %g", d);
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
    if (!ddp_mpi_bin()) return;
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
    ddp_run_np_ok(&c, 0, one);
    ddp_run_np_ok(&c, 2, two);
    double d = ddp_rel_diff(b, a);
    cr_assert(d <= 1e-4, "sync BN np=2 vs one process: max relative difference %g", d);
    ddp_run_np_ok(&c, 2, per);
    double dp = ddp_rel_diff(p, a);
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
    if (!ddp_mpi_bin()) return;
    ctx c;
    ctx_init(&c, "ddp_resume");
    char model[160], a[128], b[128];
    small_model(&c, model, sizeof model);
    sub(a, sizeof a, "%s/a", c.dir);
    sub(b, sizeof b, "%s/b", c.dir);
    const char *ra[] = {RESUME_RUN(model, a), "--sync-bn", NULL};
    const char *rb[] = {RESUME_RUN(model, b), "--sync-bn", NULL};
    const char *rb2[] = {RESUME_RUN(model, b), "--sync-bn", "--resume", NULL};
    ddp_run_np_ok(&c, 2, ra);
    pid_t pid = ddp_spawn_np(&c, 2, NULL, rb);
    wait_ckpt(&c, b, pid);
    kill(-pid, SIGKILL); /* the whole job: mpirun and both ranks */
    ddp_wait_np(&c, pid);
    ddp_run_np_ok(&c, 2, rb2);
    cr_assert(!ddp_file_has(c.out, "no longer bit-exact"), "same N must not warn");
    ddp_same_bytes(a, b);
    ctx_done(&c);
}

Test(ddp, resume_with_other_rank_count_warns, .timeout = TC_TIMEOUT)
{
    if (!ddp_mpi_bin()) return;
    ctx c;
    ctx_init(&c, "ddp_resume_n");
    char model[160], b[128];
    small_model(&c, model, sizeof model);
    sub(b, sizeof b, "%s/b", c.dir);
    const char *rb[] = {RESUME_RUN(model, b), "--max-steps", "7", NULL};
    const char *rb2[] = {RESUME_RUN(model, b), "--resume", NULL};
    ddp_run_np_ok(&c, 2, rb);
    ddp_run_np_ok(&c, 1, rb2);
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
    const char *bin = ddp_mpi_bin();
    if (!bin) return;
    ctx c;
    ctx_init(&c, "ddp_fault");
    char out[128], empty[128], env[200];
    sub(out, sizeof out, "%s/run", c.dir);
    sub(empty, sizeof empty, "%s/nodata", c.dir);
    sub(env, sizeof env, "COLLAPSE_DATA=%s", empty);
    const char *args[] = {MLP_RUN(out), ":", "-np", "1", "-x", env, bin, MLP_RUN(out), NULL};
    /* mpirun -np 1 BIN args : -np 1 -x COLLAPSE_DATA=... BIN args */
    pid_t pid = ddp_spawn_np(&c, 1, NULL, args);
    int st = ddp_wait_np(&c, pid);
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
    if (!ddp_mpi_bin()) return;
    ctx c;
    ctx_init(&c, "ddp_sigint");
    char model[160], b[128];
    sub(model, sizeof model, "%s/wide.cfg", c.dir);
    tc_write_text(model, "[model]\ntype = mlp\nwidth = 256\ndepth = 3\nbn = 1\n");
    sub(b, sizeof b, "%s/b", c.dir);
    const char *rb[] = {"train", "--model", model, "--data", "mnist", "--train-per-class",
                        "60", "--test-per-class", "2", "--epochs", "200", "--batch", "100",
                        "--threads", "1", "--analyze", "none", "--out", b, NULL};
    pid_t pid = ddp_spawn_np(&c, 2, NULL, rb);
    wait_ckpt(&c, b, pid);
    cr_assert_eq(signal_children(pid, SIGINT), 2, "want two ranks under mpirun");
    int st = ddp_wait_np(&c, pid);
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
    const char *bin = ddp_mpi_bin();
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
    pid_t pid = ddp_spawn_np(&c, 1, first, args);
    int st = ddp_wait_np(&c, pid);
    char *err = tc_slurp(c.err, NULL);
    cr_assert(st != 0 && st < 1000, "exit %d:\n%s", st, err ? err : "");
    cr_assert(err && strstr(err, "collapse: study: "), "no line from rank 0:\n%s",
              err ? err : "");
    free(err);
    ctx_done(&c);
}
