/* The study of a data-parallel run on a fixed toy problem (issue 12), for
 * tests/test_study_mpi.c. Built twice: plain (build/tests/mpi/study_driver,
 * one process) and with mpicc (build-mpi/tests/mpi/study_driver, run under
 * mpirun). Every rank trains the same MLP on the same data with the same
 * seed, so all ranks hold the same parameters (the trainer is not
 * distributed here) and the study alone is sharded: its files must agree
 * with the one-process run.
 *
 *   study_driver OUT [stream] [gnc] [imbal] [bntrain] [clm] [reg] [bn] [badlabel]
 *     stream    cache budget 0: every tap streamed (two sweeps)
 *     gnc       the gnc keys; imbal: unequal classes (the imbalance keys)
 *     bntrain   BN-free model, but the sweeps in BN train mode (no sharding)
 *     clm       an ordinal head (1-unit classifier + cumlink, --loss clm): the onc keys
 *     reg       --task regression with 2 targets: the NRC study (cl_study_reg)
 *     bn        a BN layer, whose running statistics are perturbed on ranks > 0
 *     badlabel  the last training label is out of range on the last rank only
 *               (only the epoch-0 analysis runs): every rank must fail, none hang
 * Exit 0 on success, 1 with "rank R: message" on stderr. */
#include <stdio.h>
#include <string.h>

#include "collapse/comm.h"
#include "collapse/mem.h"
#include "collapse/study.h"
#include "collapse/sys.h"
#include "collapse/train.h"

#define NTR 403 /* odd: the shards differ in size */
#define NTE 201
#define DIN 12
#define K 4

static void make_data(float *x, int32_t *y, int n, uint64_t seed, int imbal)
{
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) {
        int c = imbal ? (i % 7 < 4 ? 0 : i % 7 - 3) : i % K; /* imbal: class 0 holds 4/7 */
        y[i] = c;
        for (int d = 0; d < DIN; d++)
            x[i * DIN + d] = (float)((d % K == c ? 1.5 : 0.0) + cl_rng_normal(&rng));
    }
}

/* in -> 16 (-> BN with bn) -> 12 -> K, or (clm) -> 1 unit without bias ->
 * K-1 thresholds, or (reg) -> 2 targets; ReLUs between. */
static void add(cl_layer_spec *s, int *n, int kind, int out)
{
    s[*n].kind = kind;
    s[*n].out = out;
    s[*n].bias = 1;
    (*n)++;
}

static cl_model *mlp(uint64_t seed, int clm, int reg, int bn)
{
    cl_layer_spec s[7] = {{0}};
    int n = 0;
    add(s, &n, CL_LAYER_LINEAR, 16);
    if (bn) add(s, &n, CL_LAYER_BATCHNORM, 0);
    add(s, &n, CL_LAYER_RELU, 0);
    add(s, &n, CL_LAYER_LINEAR, 12);
    add(s, &n, CL_LAYER_RELU, 0);
    add(s, &n, CL_LAYER_LINEAR, clm ? 1 : reg ? 2 : K);
    s[n - 1].classifier = 1;
    s[n - 1].bias = !clm; /* the ordinal head has no bias */
    if (clm) add(s, &n, CL_LAYER_CUMLINK, K - 1);
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    cl_model *m = NULL;
    if (cl_model_create(&m, (cl_shape){DIN, 1, 1}, s, n, &rng) != CL_OK) return NULL;
    return m;
}

static int has(int argc, char **argv, const char *flag)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], flag)) return 1;
    return 0;
}

static float xtr[NTR * DIN], xte[NTE * DIN];
static int32_t ytr[NTR], yte[NTE];
static float ttr[NTR * 2], tte[NTE * 2]; /* regression targets (reg) */

/* Two targets, linear in the inputs plus noise. */
static void make_targets(const float *x, float *t, int n, uint64_t seed)
{
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 2; j++) {
            double v = 0.3 * cl_rng_normal(&rng);
            for (int d = 0; d < DIN; d++) v += (d % 3 == j ? 0.5 : -0.1) * x[i * DIN + d];
            t[i * 2 + j] = (float)v;
        }
}

/* cl_train_run with one epoch callback. */
static cl_status train_with(const cl_train_config *cfg, cl_model *m, const cl_train_data *train,
                            const cl_train_data *test, cl_epoch_fn fn, void *study)
{
    cl_train_callback cb = {fn, study};
    cl_train_hooks hooks = {&cb, 1, NULL, NULL};
    cl_train_result res;
    return cl_train_run(cfg, m, train, test, &hooks, &res);
}

/* --task regression: the NRC study (cl_study_reg) on the same data. */
static cl_status run_reg(cl_model *m, cl_train_config *cfg, cl_train_data *train,
                         cl_train_data *test, const char *out, cl_comm *comm)
{
    make_targets(xtr, ttr, NTR, 13);
    make_targets(xte, tte, NTE, 14);
    cfg->task = CL_TASK_REGRESS;
    cfg->targets = ttr;
    cfg->test_targets = tte;
    train->classes = test->classes = 0;
    cl_study_reg *reg = NULL;
    /* the CLI makes the folder of a regression run (rank 0 only) */
    cl_status s = cl_comm_rank(comm) == 0 ? cl_mkdir_p(out) : CL_OK;
    if (s == CL_OK) s = cl_study_reg_create_comm(&reg, m, 2, out, 0, comm);
    if (s == CL_OK) s = train_with(cfg, m, train, test, cl_study_reg_epoch, reg);
    cl_study_reg_destroy(reg);
    return s;
}

/* The classification study: epoch 0, then (unless only_initial) 3 epochs. */
static cl_status run_cls(cl_model *m, cl_train_config *cfg, const cl_study_opts *so,
                         cl_train_data *train, cl_train_data *test, const char *out,
                         int only_initial)
{
    cl_study *st = NULL;
    cl_status s = cl_study_create(&st, so, m, train, test, out, cfg->epochs);
    if (s == CL_OK) {
        cfg->skip_eval = cl_study_skip_eval;
        cfg->skip_eval_user = st;
        s = cl_study_initial(st, m, cfg);
    }
    if (s == CL_OK && !only_initial) s = train_with(cfg, m, train, test, cl_study_epoch, st);
    cl_study_destroy(st);
    return s;
}

int main(int argc, char **argv)
{
    cl_comm *comm = NULL;
    if (cl_comm_init(&comm, &argc, &argv) != CL_OK) {
        fprintf(stderr, "comm: %s\n", cl_errmsg());
        return 1;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: study_driver OUT [stream] [gnc] [imbal] [bntrain] [clm] [reg] "
                        "[bn] [badlabel]\n");
        cl_comm_finalize(comm);
        return 2;
    }
    const int rank = cl_comm_rank(comm), bad = has(argc, argv, "badlabel");
    make_data(xtr, ytr, NTR, 11, has(argc, argv, "imbal"));
    make_data(xte, yte, NTE, 12, 0);
    if (bad && rank == cl_comm_size(comm) - 1) ytr[NTR - 1] = K;
    cl_train_data train = {NTR, {DIN, 1, 1}, K, xtr, ytr, NULL, NULL, NULL};
    cl_train_data test = {NTE, {DIN, 1, 1}, K, xte, yte, NULL, NULL, NULL};
    const int clm = has(argc, argv, "clm"), reg = has(argc, argv, "reg");
    cl_model *m = mlp(5, clm, reg, has(argc, argv, "bn"));
    /* bn: this rank's BN running statistics differ from rank 0's (as per-rank
     * statistics do under DDP): the study must use rank 0's */
    for (int64_t i = 0; m && rank > 0 && i < m->nbufs; i++) m->bufs[i] += 0.5f * (float)(i % 3);
    cl_train_config cfg = cl_train_config_default();
    cfg.epochs = 3;
    cfg.batch = 32;
    cfg.eval_batch = 50; /* several sweep batches per shard */
    cfg.sched = cl_sched_make(CL_SCHED_CONST, 0.1, cfg.epochs);
    if (clm) cfg.loss.kind = CL_LOSS_CLM;
    cl_study_opts so = cl_study_opts_default();
    so.every = 1;
    so.cache_mb = has(argc, argv, "stream") ? 0 : 512;
    so.nc.gnc = has(argc, argv, "gnc");
    so.bn_train = has(argc, argv, "bntrain");
    so.comm = comm;
    cl_status s = m ? cl_model_alloc(m, cfg.eval_batch) : CL_ENOMEM;
    if (s == CL_OK)
        s = reg ? run_reg(m, &cfg, &train, &test, argv[1], comm)
                : run_cls(m, &cfg, &so, &train, &test, argv[1], bad);
    if (s != CL_OK) fprintf(stderr, "rank %d: %s\n", rank, cl_errmsg());
    cl_model_destroy(m);
    cl_comm_finalize(comm);
    return s == CL_OK ? 0 : 1;
}
