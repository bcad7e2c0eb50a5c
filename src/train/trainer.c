/* The training loop: epochs of shuffled mini-batches, eval passes,
 * checkpoints, epoch callbacks. No allocation inside the epoch loop. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "collapse/sys.h"
#include "collapse/ckpt.h"
#include "collapse/mem.h"
#include "collapse/train.h"
#include "ddp.h"
#include "internal.h"

/* ---- dataset view ---- */

static int64_t ds_sample_floats(const cl_train_data *ds) { return cl_shape_size(ds->shape); }

/* Gathers samples idx[0..n) into x [n, dim] and y [n]. */
static void ds_gather(const cl_train_data *ds, const int32_t *idx, int n, float *x, int32_t *y,
                      cl_rng *rng)
{
    if (ds->gather) {
        ds->gather(ds->ctx, idx, n, x, y, rng);
        return;
    }
    const int64_t dim = ds_sample_floats(ds);
    for (int i = 0; i < n; i++) {
        memcpy(x + (int64_t)i * dim, ds->x + (int64_t)idx[i] * dim, sizeof(float) * (size_t)dim);
        y[i] = ds->y[idx[i]];
    }
}

cl_train_config cl_train_config_default(void)
{
    cl_train_config c;
    memset(&c, 0, sizeof c);
    c.epochs = 30;
    c.batch = 128;
    c.loss.kind = CL_LOSS_CE;
    c.optim = cl_optim_cfg_default(CL_OPTIM_SGD);
    c.sched = cl_sched_make(CL_SCHED_MULTISTEP, 0.1, 0);
    c.seed = 1;
    c.eval_train = 1;
    c.eval_test = 1;
    c.check_every = 1;
    c.ckpt_every = 1;
    return c;
}

/* ---- the loop ---- */

typedef struct {
    const cl_train_config *cfg;
    cl_model *m;
    const cl_train_data *train, *test;
    cl_optim *opt;
    cl_train_state st;    /* epoch, pos, step, rngs, perm: exactly what a checkpoint holds */
    float *x, *dlogits;   /* [batch, dim], [batch, K] */
    float *tb;            /* [batch, K] regression targets (regression only) */
    int32_t *y;           /* [batch] */
    uint8_t *yk;          /* [batch, K] K-hot rows of the batch (multi-label data only) */
    int64_t N;
    int K, batches;
    int slot; /* checkpoint slot holding the newest good checkpoint, -1 = unknown */
    cl_ddp ddp; /* data-parallel steps (ddp.h); one process: the plain step */
} trainer;

/* Gradients are checked every check_every steps only: never let a
 * non-finite parameter reach the study or replace the last good checkpoint. */
static cl_status check_params(const trainer *t)
{
    if (cl_all_finite(t->m->params, t->m->nparams)) return CL_OK;
    return cl_error(CL_ENUMERIC, "non-finite parameters at epoch %d, step %lld; stopped, the "
                                 "last checkpoint is kept", t->st.epoch + (t->st.pos > 0),
                    (long long)t->st.step);
}

/* Writes the checkpoint into the slot not holding the newest good one. */
static cl_status save(trainer *t)
{
    if (!t->cfg->ckpt_dir) return CL_OK;
    CL_TRY(check_params(t));
    char dir[CL_CKPT_PATHMAX];
    int slot = cl_ckpt_slot_next(t->cfg->ckpt_dir, t->slot);
    cl_ckpt_slot_dir(t->cfg->ckpt_dir, slot, dir, sizeof dir);
    cl_status st = CL_OK; /* rank 0 writes; every rank learns whether it worked */
    if (cl_comm_rank(t->cfg->comm) == 0)
        st = cl_train_ckpt_save(dir, t->m, t->cfg->model_text ? t->cfg->model_text : "", &t->st,
                                t->opt);
    CL_TRY(cl_comm_agree(t->cfg->comm, st, NULL));
    t->slot = slot;
    return CL_OK;
}

/* At an epoch end after save: the kept copy of this epoch (keep_every). */
static cl_status keep(trainer *t)
{
    const cl_train_config *cfg = t->cfg;
    if (!cfg->ckpt_dir || cfg->keep_every < 1 || t->st.epoch % cfg->keep_every) return CL_OK;
    CL_TRY(check_params(t));
    char dir[CL_CKPT_PATHMAX];
    cl_ckpt_kept_dir(cfg->ckpt_dir, t->st.epoch, dir, sizeof dir);
    cl_status st = CL_OK;
    if (cl_comm_rank(cfg->comm) == 0)
        st = cl_train_ckpt_save(dir, t->m, cfg->model_text ? cfg->model_text : "", &t->st,
                                t->opt);
    return cl_comm_agree(cfg->comm, st, NULL);
}

/* Loads the newest good checkpoint of ckpt_dir; a newer corrupt one is
 * reported through cfg->warn. */
static cl_status load(trainer *t)
{
    const cl_train_config *cfg = t->cfg;
    cl_ckpt_found f;
    CL_TRY(cl_ckpt_find(cfg->ckpt_dir, &f));
    CL_TRY(cl_ckpt_load_params(f.slot, t->m->params, t->m->nparams, t->m->bufs, t->m->nbufs));
    CL_TRY(cl_train_ckpt_load(f.slot, &t->st, t->opt));
    t->slot = f.index;
    if (f.skipped[0] && cfg->warn) {
        char msg[sizeof f.skipped + sizeof f.slot + 64];
        snprintf(msg, sizeof msg, "%s; resuming from %s (epoch %d, step %lld)", f.skipped,
                 f.slot, (int)t->st.epoch, (long long)t->st.step);
        cfg->warn(cfg->warn_user, msg);
    }
    return CL_OK;
}

static void new_permutation(trainer *t)
{
    for (int64_t i = 0; i < t->N; i++) t->st.perm[i] = (int32_t)i;
    cl_rng_shuffle_i32(&t->st.rng_data, t->st.perm, t->N);
}

static cl_status setup(trainer *t, const cl_train_config *cfg, cl_model *m,
                       const cl_train_data *train, const cl_train_data *test)
{
    memset(t, 0, sizeof *t);
    t->slot = -1;
    t->cfg = cfg;
    t->m = m;
    t->train = train;
    t->test = test;
    if (cfg->epochs < 1) return cl_error(CL_EINVAL, "--epochs must be >= 1 (got %d)", cfg->epochs);
    if (cfg->batch < 1) return cl_error(CL_EINVAL, "--batch must be >= 1 (got %d)", cfg->batch);
    if (cfg->max_steps < 0) return cl_error(CL_EINVAL, "--max-steps must be >= 0");
    if (cfg->resume && !cfg->ckpt_dir) return cl_error(CL_EINVAL, "--resume needs --out");
    if (!train) return cl_error(CL_EINVAL, "no training set");
    CL_TRY(cl_train_check_fit(m, train, "training"));
    CL_TRY(cl_train_check_fit(m, test, "test"));
    CL_TRY(cl_sched_check(&cfg->sched));
    t->N = train->n;
    CL_TRY(cl_train_check_loss_model(&cfg->loss, m));
    t->K = cl_train_model_width(m); /* the logit width (K-1 for clm) */
    t->batches = (int)((t->N + cfg->batch - 1) / cfg->batch);
    int eb = cfg->eval_batch > 0 ? cfg->eval_batch : cfg->batch;
    CL_TRY(cl_model_alloc(m, eb > cfg->batch ? eb : cfg->batch));
    CL_TRY(cl_optim_create(&t->opt, &cfg->optim, m->nparams, m->ranges, m->nranges));
    int64_t dim = cl_shape_size(m->in);
    t->x = cl_alloc_array((size_t)cfg->batch * (size_t)dim, sizeof(float), "batch inputs");
    t->y = cl_alloc_array((size_t)cfg->batch, sizeof(int32_t), "batch labels");
    t->dlogits = cl_alloc_array((size_t)cfg->batch * (size_t)t->K, sizeof(float), "dlogits");
    if (!t->x || !t->y || !t->dlogits) return CL_ENOMEM;
    if (train->yk) { /* multi-label: the batch's K-hot rows, gathered by index */
        if (cfg->task != CL_TASK_CLASSIFY || cfg->loss.kind != CL_LOSS_PAL)
            return cl_error(CL_EINVAL, "--loss %s cannot train on multi-label (K-hot) data; "
                                       "use --loss pal or pal=mean",
                            cl_loss_kind_name(cfg->loss.kind));
        if (train->classes != t->K || (test && test->yk && test->classes != t->K))
            return cl_error(CL_EINVAL, "multi-label data has %d labels, the model outputs %d",
                            train->classes, t->K);
        t->yk = cl_alloc_array((size_t)cfg->batch * (size_t)t->K, 1, "batch K-hot labels");
        if (!t->yk) return CL_ENOMEM;
    }
    if (cfg->task == CL_TASK_REGRESS) {
        if (!cfg->targets || (test && !cfg->test_targets) || t->K > CL_TRAIN_MAX_TARGETS)
            return cl_error(CL_EINVAL, "regression needs targets for every split and at most "
                                       "%d outputs (the model has %d)",
                            CL_TRAIN_MAX_TARGETS, t->K);
        t->tb = cl_alloc_array((size_t)cfg->batch * (size_t)t->K, sizeof(float), "targets");
        if (!t->tb) return CL_ENOMEM;
    }

    if (cfg->resume) {
        CL_TRY(load(t));
        if (t->st.n != t->N)
            return cl_error(CL_EINVAL, "%s: checkpoint was trained on %lld samples, the data has "
                                       "%lld (data options changed?)",
                            cfg->ckpt_dir, (long long)t->st.n, (long long)t->N);
        if (cfg->config_hash && t->st.config_hash != cfg->config_hash)
            return cl_error(CL_EINVAL, "%s: the options differ from the checkpointed run "
                                       "(see its config.json); resume needs the same options",
                            cfg->ckpt_dir);
        if (t->st.pos < 0 || t->st.pos > t->N)
            return cl_error(CL_EFORMAT, "%s: bad position in checkpoint", cfg->ckpt_dir);
        return CL_OK;
    }
    cl_rng root;
    cl_rng_seed(&root, cfg->seed);
    t->st.rng_data = cl_rng_split(&root);
    t->st.rng_aug = cl_rng_split(&root);
    t->st.config_hash = cfg->config_hash;
    t->st.n = t->N;
    t->st.perm = cl_alloc_array((size_t)t->N, sizeof(int32_t), "data permutation");
    if (!t->st.perm) return CL_ENOMEM;
    return CL_OK;
}

static void teardown(trainer *t)
{
    cl_optim_destroy(t->opt);
    cl_free(t->x);
    cl_free(t->y);
    cl_free(t->dlogits);
    cl_free(t->tb);
    cl_free(t->yk);
    cl_free(t->st.perm);
}

/* One optimizer step on samples perm[pos .. pos+n). */
static cl_status train_step(trainer *t, int n, double lr, double *loss, int64_t *correct)
{
    cl_model *m = t->m;
    ds_gather(t->train, t->st.perm + t->st.pos, n, t->x, t->y, &t->st.rng_aug);
    int64_t b0, b1; /* this rank's slice of the batch (all of it in one process) */
    cl_comm_shard(t->cfg->comm, n, &b0, &b1);
    const int nb = n, dim = (int)cl_shape_size(m->in);
    const float *x = t->x + b0 * dim;
    n = (int)(b1 - b0);
    const float *logits = cl_ddp_forward(&t->ddp, x, n);
    cl_status st; /* agreed by every rank before backward (ddp.h) */
    if (t->tb) {
        const int32_t *idx = t->st.perm + t->st.pos + b0;
        for (int i = 0; i < n; i++)
            memcpy(t->tb + (int64_t)i * t->K, t->cfg->targets + (int64_t)idx[i] * t->K,
                   sizeof(float) * (size_t)t->K);
        st = cl_loss_regress(logits, t->tb, n, t->K, loss, t->dlogits, NULL);
        *correct = 0;
    } else if (t->yk) { /* this rank's slice of the batch, like the targets above */
        const int32_t *idx = t->st.perm + t->st.pos + b0;
        for (int i = 0; i < n; i++)
            memcpy(t->yk + (int64_t)i * t->K, t->train->yk + (int64_t)idx[i] * t->K,
                   (size_t)t->K);
        st = cl_loss_compute_khot(&t->cfg->loss, logits, t->yk, n, t->K, loss, t->dlogits,
                                  correct);
    } else {
        st = cl_loss_compute(&t->cfg->loss, logits, t->y + b0, n, t->K, loss, t->dlogits,
                             correct);
    }
    if (st == CL_OK && !isfinite(*loss))
        st = cl_error(CL_ENUMERIC, "non-finite loss (%g) at epoch %d, step %lld (lr %g); "
                                   "stopped, the last checkpoint is kept",
                      *loss, t->st.epoch + 1, (long long)t->st.step + 1, lr);
    CL_TRY(cl_ddp_after_loss(&t->ddp, st, t->cfg->stop, n, nb, t->K, loss, correct,
                             t->dlogits));
    CL_TRY(cl_ddp_backward(&t->ddp, x, t->dlogits, n));
    int ce = t->cfg->check_every > 0 ? t->cfg->check_every : 1;
    if ((t->st.step + 1) % ce == 0 && !cl_all_finite(m->grads, m->nparams))
        return cl_error(CL_ENUMERIC, "non-finite gradient at epoch %d, step %lld (lr %g, loss %g); "
                                     "stopped, the last checkpoint is kept",
                        t->st.epoch + 1, (long long)t->st.step + 1, lr, *loss);
    cl_optim_step(t->opt, m->params, m->grads, lr);
    return CL_OK;
}

static void fill_info(const trainer *t, cl_epoch_info *info);

/* Multi-label data: eval loss, exact-set accuracy and macro-F1 (eval_khot.c). */
static cl_status eval_khot(const trainer *t, cl_epoch_info *info)
{
    const cl_train_config *cfg = t->cfg;
    cl_khot_eval e;
    if (cfg->eval_train) {
        CL_TRY(cl_train_evaluate_khot(t->m, t->train, &cfg->loss, &e));
        info->train_loss = e.loss;
        info->train_acc = e.acc;
        info->train_f1 = e.macro_f1;
    }
    if (cfg->eval_test && t->test && !t->test->yk) /* a single-label test split */
        CL_TRY(cl_train_evaluate(t->m, t->test, &cfg->loss, &info->test_loss, &info->test_acc));
    else if (cfg->eval_test && t->test) {
        CL_TRY(cl_train_evaluate_khot(t->m, t->test, &cfg->loss, &e));
        info->test_loss = e.loss;
        info->test_acc = e.acc;
        info->test_f1 = e.macro_f1;
    }
    return CL_OK;
}

/* The end of an epoch: eval passes, the epoch callbacks (the study writes
 * its rows, .npy files and figures there), then the checkpoint. The
 * checkpoint comes last so that it never runs ahead of the results: a
 * crash before it is written makes a resume redo this epoch and its
 * study work (the study drops rows >= the epoch it resumes at), and a
 * complete final checkpoint means the final study files were written
 * (every result file is written whole: temp + fsync + rename). So a
 * resumed run whose last checkpoint is final has nothing left to do.
 * info carries the epoch's training numbers; fills the eval values. */
static cl_status end_epoch(trainer *t, cl_epoch_info *info, const cl_train_hooks *hooks,
                           cl_train_result *res)
{
    const cl_train_config *cfg = t->cfg;
    info->epoch = t->st.epoch;
    info->batch_index = t->batches;
    CL_TRY(check_params(t));
    int skip = cfg->skip_eval && cfg->skip_eval(cfg->skip_eval_user, t->st.epoch);
    if (!skip && t->yk) {
        CL_TRY(eval_khot(t, info));
        skip = 1;
    }
    if (!skip && cfg->eval_train && cfg->task == CL_TASK_REGRESS)
        CL_TRY(cl_train_evaluate_reg(t->m, t->train, cfg->targets, &info->train_loss,
                                     &info->train_acc, NULL, NULL));
    else if (!skip && cfg->eval_train)
        CL_TRY(cl_train_evaluate(t->m, t->train, &cfg->loss, &info->train_loss,
                                 &info->train_acc));
    if (!skip && cfg->eval_test && t->test && cfg->task == CL_TASK_REGRESS)
        CL_TRY(cl_train_evaluate_reg(t->m, t->test, cfg->test_targets, &info->test_loss,
                                     &info->test_acc, NULL, NULL));
    else if (!skip && cfg->eval_test && t->test)
        CL_TRY(cl_train_evaluate(t->m, t->test, &cfg->loss, &info->test_loss,
                                 &info->test_acc));
    res->train_loss = info->train_loss;
    res->train_acc = info->train_acc;
    res->test_loss = info->test_loss;
    res->test_acc = info->test_acc;
    for (int i = 0; hooks && i < hooks->nepoch_cbs; i++)
        CL_TRY(hooks->epoch_cbs[i].fn(info, hooks->epoch_cbs[i].user));
    int last = t->st.epoch == cfg->epochs;
    int stop = cl_ddp_stop(&t->ddp, cfg->stop, 1);
    int limit = cfg->max_steps && t->st.step >= cfg->max_steps;
    if (last || stop || limit || t->st.epoch % cfg->ckpt_every == 0) CL_TRY(save(t));
    CL_TRY(keep(t));
    if (stop)
        return cl_error(CL_EINTERRUPT, "interrupted after epoch %d; checkpoint written%s%s",
                        t->st.epoch, cfg->ckpt_dir ? " to " : "",
                        cfg->ckpt_dir ? cfg->ckpt_dir : "");
    return CL_OK;
}

static void fill_info(const trainer *t, cl_epoch_info *info)
{
    memset(info, 0, sizeof *info);
    info->epochs = t->cfg->epochs;
    info->batches = t->batches;
    info->model = t->m;
    info->train = t->train;
    info->test = t->test;
    info->out_dir = t->cfg->out_dir;
    info->cfg = t->cfg;
    info->train_loss = info->train_acc = info->test_loss = info->test_acc = NAN;
    info->train_f1 = info->test_f1 = NAN;
}

cl_status cl_train_run(const cl_train_config *cfg_in, cl_model *m, const cl_train_data *train,
                       const cl_train_data *test, const cl_train_hooks *hooks,
                       cl_train_result *result)
{
    cl_train_config cfg = *cfg_in;
    if (cfg.sched.total <= 0) cfg.sched.total = cfg.epochs;
    if (cfg.ckpt_every < 1) cfg.ckpt_every = 1;
    trainer t;
    double t_start = cl_clock_seconds();
    cl_status st = setup(&t, &cfg, m, train, test);
    cl_train_result res;
    memset(&res, 0, sizeof res);
    res.train_loss = res.train_acc = res.test_loss = res.test_acc = NAN;
    if ((st = cl_comm_agree(cfg.comm, st, NULL)) != CL_OK ||
        (st = cl_comm_agree(cfg.comm, cl_ddp_init(&t.ddp, &cfg, m, t.N), NULL)) != CL_OK)
        goto done;

    cl_epoch_info info;
    fill_info(&t, &info);
    int64_t steps_at_start = t.st.step;
    double run_t0 = cl_clock_seconds();
    while (t.st.epoch < cfg.epochs && !(cfg.max_steps && t.st.step >= cfg.max_steps)) {
        if (t.st.pos == 0) new_permutation(&t);
        double loss_sum = 0, t0 = cl_clock_seconds();
        int64_t correct = 0, seen = 0, epoch_start_pos = t.st.pos;
        double lr = 0;
        while (t.st.pos < t.N) {
            int n = (int)(t.N - t.st.pos < cfg.batch ? t.N - t.st.pos : cfg.batch);
            int bi = (int)(t.st.pos / cfg.batch);
            lr = cl_sched_lr(&cfg.sched, t.st.epoch + (double)bi / t.batches);
            double l;
            int64_t c;
            if ((st = train_step(&t, n, lr, &l, &c)) != CL_OK) goto done;
            t.st.pos += n;
            t.st.step++;
            loss_sum += l * n;
            correct += c;
            seen += n;
            if (hooks && hooks->progress) {
                double el = cl_clock_seconds() - t0, run_el = cl_clock_seconds() - run_t0;
                int64_t done_steps = t.st.step - steps_at_start;
                int64_t left = (int64_t)(cfg.epochs - t.st.epoch) * t.batches - (bi + 1);
                if (cfg.max_steps && cfg.max_steps - t.st.step < left) left = cfg.max_steps - t.st.step;
                info.epoch = t.st.epoch + 1;
                info.step = t.st.step;
                info.batch_index = bi + 1;
                info.lr = lr;
                info.run_loss = loss_sum / (double)seen;
                info.run_acc = (double)correct / (double)seen;
                info.img_per_s = el > 0 ? (double)(t.st.pos - epoch_start_pos) / el : 0;
                info.eta_seconds = done_steps > 0 ? run_el / (double)done_steps * (double)left : 0;
                hooks->progress(&info, hooks->progress_user);
            }
            int stop = cl_ddp_stop(&t.ddp, cfg.stop, 0);
            int limit = cfg.max_steps && t.st.step >= cfg.max_steps;
            if ((stop || limit) && t.st.pos < t.N) {
                if ((st = save(&t)) != CL_OK) goto done;
                if (stop) {
                    st = cl_error(CL_EINTERRUPT, "interrupted at epoch %d, step %lld; checkpoint "
                                                 "written%s%s", t.st.epoch + 1,
                                  (long long)t.st.step, cfg.ckpt_dir ? " to " : "",
                                  cfg.ckpt_dir ? cfg.ckpt_dir : "");
                }
                goto done;
            }
        }
        t.st.epoch++;
        t.st.pos = 0;
        fill_info(&t, &info);
        info.step = t.st.step;
        info.lr = lr;
        info.run_loss = loss_sum / (double)(seen ? seen : 1);
        info.run_acc = (double)correct / (double)(seen ? seen : 1);
        if (cfg.task == CL_TASK_REGRESS) info.run_acc = NAN;
        info.seconds = cl_clock_seconds() - t0;
        info.img_per_s = info.seconds > 0 ? (double)seen / info.seconds : 0;
        if ((st = end_epoch(&t, &info, hooks, &res)) != CL_OK) goto done;
        int limit = cfg.max_steps && t.st.step >= cfg.max_steps;
        if (limit) break;
    }
done:
    res.epochs_done = t.st.epoch;
    res.steps = t.st.step;
    res.seconds = cl_clock_seconds() - t_start;
    cl_ddp_finish(&t.ddp, &res);
    if (result) *result = res;
    teardown(&t);
    return st;
}
