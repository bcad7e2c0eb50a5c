/* The regression study: after every epoch, NRC1-NRC3 (Andriopoulos et al.,
 * NeurIPS 2024; analysis/nrc.c) of the classifier input on the training and
 * test splits, NRC1 of every other tap of at most CL_NRC_MAX_DIM features,
 * and the test MSE / R^2 per target, one metrics.csv row per epoch. Two
 * eval-mode sweeps per split (the analyzer's two passes). Then the figures
 * (nrc.png, r2.png: cl_study_plot_runs), as the classification study draws
 * its own. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/nrc.h"
#include "collapse/study.h"
#include "collapse/sys.h"
#include "study_internal.h"

struct cl_study_reg {
    const cl_model *m;
    int ntaps, cls, n; /* taps, classifier layer, targets */
    cl_study_tap *taps;
    cl_nrc_stream **streams; /* [ntaps], NULL for a tap not analyzed */
    cl_csv_log log;
    int opened; /* metrics.csv started (a resumed run starts it at its first epoch) */
    int plots, plot_failed;
    double plot_seconds; /* the last drawing's time, -1 = none yet */
    char path[4200], dir[4096];
    cl_comm *comm; /* data-parallel run (NULL = one process): sharded sweeps, rank 0 writes */
    int root, shared; /* shared: a failure was agreed on this call (shard.c) */
};

void cl_study_reg_plots(cl_study_reg *s, int on) { s->plots = on; }

/* As the classification study: after the last epoch always; otherwise only
 * while drawing costs under 10% of an epoch, and once drawing has failed
 * not before the last epoch. A failure is a warning (cfg->warn). */
static void draw_figures(cl_study_reg *s, const cl_epoch_info *info)
{
    int final = info->epoch == info->epochs;
    if (!s->root || !s->plots || !(final || (!s->plot_failed && (s->plot_seconds < 0 ||
                                                      s->plot_seconds < 0.1 * info->seconds))))
        return;
    const char *runs[1] = {s->dir};
    double t0 = cl_clock_seconds();
    cl_status st = cl_study_plot_runs(runs, 1, s->dir);
    s->plot_seconds = cl_clock_seconds() - t0;
    if (st == CL_OK) return;
    s->plot_failed = 1;
    const cl_train_config *cfg = info->cfg;
    if (cfg && cfg->warn) {
        char msg[768];
        snprintf(msg, sizeof msg, "epoch %d: figures not drawn (%s); the study goes on%s",
                 info->epoch, cl_errmsg(), final ? "" : ", next try after the last epoch");
        cfg->warn(cfg->warn_user, msg);
    }
    cl_errclear();
}

void cl_study_reg_destroy(cl_study_reg *s)
{
    if (!s) return;
    for (int i = 0; s->streams && i < s->ntaps; i++)
        cl_nrc_stream_destroy(s->streams[i]);
    cl_free(s->streams);
    cl_free(s->taps);
    cl_csv_log_free(&s->log);
    cl_free(s);
}

/* The header: epoch, lr, losses and mean R^2, per split nrc keys, per
 * target test mse/r2, then nrc1 of each tap. */
static void header(const cl_study_reg *s, char *h, size_t cap)
{
    snprintf(h, cap, "epoch,lr,train_loss,train_r2,test_loss,test_r2");
    static const char *split[2] = {"train", "test"};
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < cl_nrc_nkeys(); k++)
            snprintf(h + strlen(h), cap - strlen(h), ",%s_%s", cl_nrc_key_name(k), split[p]);
    for (int j = 0; j < s->n; j++)
        snprintf(h + strlen(h), cap - strlen(h), ",test_mse_%d,test_r2_%d", j, j);
    for (int i = 0; i < s->ntaps; i++)
        snprintf(h + strlen(h), cap - strlen(h), ",nrc1_train_L%d", i);
}

cl_status cl_study_reg_create(cl_study_reg **out, const cl_model *m, int n, const char *out_dir,
                              int resume)
{
    return cl_study_reg_create_comm(out, m, n, out_dir, resume, NULL);
}

/* The status of this rank and of the others (shard.c); a failure is
 * remembered until the end of the call (agree_exit). */
static cl_status agree(cl_study_reg *s, cl_status st)
{
    st = cl_study_agree_comm(s->comm, st);
    if (st != CL_OK) s->shared = 1;
    return st;
}

static cl_status agree_exit(cl_study_reg *s, cl_status st)
{
    if (!s->shared) st = agree(s, st);
    s->shared = 0;
    return st;
}

static cl_status reg_init(cl_study_reg *s, const cl_model *m, int n, const char *out_dir,
                          int resume);

cl_status cl_study_reg_create_comm(cl_study_reg **out, const cl_model *m, int n,
                                   const char *out_dir, int resume, cl_comm *comm)
{
    *out = NULL;
    cl_study_reg *s = cl_alloc(sizeof *s, "regression study");
    if (s) {
        s->comm = comm;
        s->root = cl_comm_rank(comm) == 0;
    }
    cl_status st = s ? reg_init(s, m, n, out_dir, resume) : CL_ENOMEM;
    if ((st = cl_study_agree_comm(comm, st)) != CL_OK) { /* rank 0 alone opened the file */
        cl_study_reg_destroy(s);
        return st;
    }
    *out = s;
    return CL_OK;
}

static cl_status reg_init(cl_study_reg *s, const cl_model *m, int n, const char *out_dir,
                          int resume)
{
    s->m = m;
    s->n = n;
    s->plots = 1;
    s->plot_seconds = -1;
    snprintf(s->dir, sizeof s->dir, "%s", out_dir);
    s->cls = cl_model_classifier_index(m);
    CL_TRY(cl_study_taps_alloc(m, &s->taps, &s->ntaps));
    s->streams = cl_alloc_array((size_t)s->ntaps, sizeof *s->streams, "nrc streams");
    if (!s->streams) return CL_ENOMEM;
    const cl_layer *head = &m->layers[s->cls];
    const int pen = s->ntaps - 1, dim = s->taps[pen].dim;
    if (cl_shape_size(head->out) != n || dim > CL_NRC_MAX_DIM)
        return cl_error(CL_EINVAL, "study: the regression head must map %d <= %d features to %d "
                                   "targets",
                        dim, CL_NRC_MAX_DIM, n);
    for (int i = 0; i < s->ntaps; i++) {
        int d = s->taps[i].dim;
        if (d > CL_NRC_MAX_DIM || d < n) continue; /* too wide (or narrow) to be cheap */
        CL_TRY(cl_nrc_stream_create(&s->streams[i], d, n, NULL, NULL, NULL));
    }
    char h[8192];
    snprintf(s->path, sizeof s->path, "%s/metrics.csv", out_dir);
    header(s, h, sizeof h);
    if (!resume) {
        s->opened = 1; /* on every rank; rank 0 alone has the file */
        if (s->root) return cl_csv_log_open(&s->log, s->path, h, 0, 0);
    }
    return CL_OK;
}

typedef struct {
    cl_study_reg *s;
    cl_nrc_stream *head; /* the classifier input's stream with W, b */
    const float *t;      /* the split's targets */
    int pass;
} sweep;

static cl_status feed(void *user, const cl_model *m, const cl_batch *b)
{
    sweep *w = user;
    cl_study_reg *s = w->s;
    float tb[4096];
    const float *Y = NULL;
    if (!b->idx && (int64_t)b->n * s->n <= 4096) {
        Y = w->t + b->first * s->n;
    } else if ((int64_t)b->n * s->n <= 4096) {
        for (int i = 0; i < b->n; i++)
            memcpy(tb + i * s->n, w->t + (int64_t)b->idx[i] * s->n, sizeof(float) * s->n);
        Y = tb;
    } else {
        return cl_error(CL_EINVAL, "study: eval batch too large for the regression study");
    }
    for (int i = 0; i <= s->ntaps; i++) {
        cl_nrc_stream *st = i < s->ntaps ? s->streams[i] : w->head;
        const cl_study_tap *tap = &s->taps[i < s->ntaps ? i : s->ntaps - 1];
        if (!st) continue;
        const float *h = tap->layer < 0 ? b->x : m->acts[tap->layer];
        const float *y = i < s->ntaps ? NULL : Y;
        CL_TRY(w->pass == 1 ? cl_nrc_stream_feed1(st, h, b->n, tap->dim, y)
                            : cl_nrc_stream_feed2(st, h, b->n, tap->dim, y));
    }
    return CL_OK;
}

/* Both passes over ds; the head stream (W, b of the model) into *r, the
 * per-tap NRC1 into nrc1 [ntaps] (train only: taps = 1). */
static cl_status split(cl_study_reg *s, cl_model *m, const cl_train_data *ds, const float *t,
                       int taps, cl_nrc_result *r, double *nrc1)
{
    const cl_layer *head = &m->layers[s->cls];
    const int dim = s->taps[s->ntaps - 1].dim;
    const float *W = m->params + head->param_off;
    const float *bias = head->spec.bias ? W + (int64_t)s->n * dim : NULL;
    /* under MPI this rank sweeps its shard; the streams' sums are reduced */
    cl_train_data view;
    int64_t lo;
    const int shard = cl_study_shard(s->comm, 0, ds, &view, &lo);
    sweep w = {s, NULL, t + lo * s->n, 1};
    cl_status st = cl_nrc_stream_create(&w.head, dim, s->n, W, bias, NULL);
    cl_nrc_stream *saved[256];
    int nt = s->ntaps < 256 ? s->ntaps : 256;
    for (int i = 0; i < nt; i++) {
        saved[i] = s->streams[i];
        if (!taps) s->streams[i] = NULL;
        else if (s->streams[i]) cl_nrc_stream_reset(s->streams[i]);
    }
    if (st == CL_OK && view.n > 0) st = cl_train_forward_each(m, &view, 0, feed, &w);
    if (shard) st = agree(s, st);
    for (int i = 0; st == CL_OK && i <= nt; i++) { /* the taps, then the head */
        cl_nrc_stream *x = i < nt ? s->streams[i] : w.head;
        if (x && (st = cl_nrc_stream_reduce1(x, s->comm)) == CL_OK) st = cl_nrc_stream_end1(x);
    }
    w.pass = 2;
    if (st == CL_OK && view.n > 0) st = cl_train_forward_each(m, &view, 0, feed, &w);
    if (shard && !s->shared) st = agree(s, st); /* end1 fails on every rank or on none */
    for (int i = 0; st == CL_OK && i <= nt; i++) {
        cl_nrc_stream *x = i < nt ? s->streams[i] : w.head;
        if (x) st = cl_nrc_stream_reduce2(x, s->comm);
    }
    if (st == CL_OK) st = cl_nrc_stream_result(w.head, r);
    for (int i = 0; i < nt; i++) {
        cl_nrc_result ri;
        if (nrc1) nrc1[i] = NAN;
        if (st == CL_OK && s->streams[i] && nrc1 &&
            (st = cl_nrc_stream_result(s->streams[i], &ri)) == CL_OK)
            nrc1[i] = ri.nrc1;
        s->streams[i] = saved[i];
    }
    cl_nrc_stream_destroy(w.head);
    return st;
}

static cl_status reg_epoch(cl_study_reg *s, const cl_epoch_info *info);

cl_status cl_study_reg_epoch(const cl_epoch_info *info, void *user)
{
    cl_study_reg *s = user;
    /* every rank returns the same status (rank 0 alone writes) */
    return agree_exit(s, reg_epoch(s, info));
}

static cl_status reg_epoch(cl_study_reg *s, const cl_epoch_info *info)
{
    cl_nrc_result rt, rs;
    double nrc1[256];
    if (!s->opened) { /* resumed: keep the rows of the epochs before this one */
        char h[8192];
        header(s, h, sizeof h);
        s->opened = 1;
        if (s->root) CL_TRY(cl_csv_log_open(&s->log, s->path, h, 1, info->epoch));
    }
    float *own = NULL; /* under MPI: rank 0's BN statistics for the sweeps (shard.c) */
    cl_status st = cl_study_bufs_share(s->comm, 0, info->model, &own, &s->shared);
    if (st == CL_OK) st = split(s, info->model, info->train, info->cfg->targets, 1, &rt, nrc1);
    if (st == CL_OK && info->test && info->cfg->test_targets)
        st = split(s, info->model, info->test, info->cfg->test_targets, 0, &rs, NULL);
    cl_study_bufs_restore(info->model, own);
    CL_TRY(st);
    if (!info->test || !info->cfg->test_targets) {
        memset(&rs, 0, sizeof rs);
        rs.nrc1 = rs.nrc2 = rs.nrc3 = rs.nrc3_gamma = rs.mse = rs.r2 = NAN;
        for (int j = 0; j < CL_NRC_MAX_TARGETS; j++)
            rs.mse_t[j] = rs.r2_t[j] = NAN;
    }
    char row[8192];
    snprintf(row, sizeof row, "%d", info->epoch);
    double lead[5] = {info->lr, info->train_loss, info->train_acc, info->test_loss,
                      info->test_acc};
    for (int i = 0; i < 5; i++)
        cl_csv_put(row, sizeof row, lead[i], 0);
    const cl_nrc_result *r[2] = {&rt, &rs};
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < cl_nrc_nkeys(); k++)
            cl_csv_put(row, sizeof row, cl_nrc_key_value(r[p], k), 0);
    for (int j = 0; j < s->n; j++) {
        cl_csv_put(row, sizeof row, rs.mse_t[j], 0);
        cl_csv_put(row, sizeof row, rs.r2_t[j], 0);
    }
    for (int i = 0; i < s->ntaps; i++)
        cl_csv_put(row, sizeof row, i < 256 ? nrc1[i] : NAN, 0);
    if (s->root) CL_TRY(cl_csv_log_write_row(&s->log, row));
    draw_figures(s, info);
    return CL_OK;
}
