/* collapse train: parse and validate every option; create, probe and lock
 * the results folder (outdir.h: a folder we cannot use, or one another run
 * holds, stops us before any work; one we created is removed again if we
 * fail before writing into it); load the data, build the model, then write
 * config.json and run cl_train_run with the progress printer and the
 * collapse study.
 * The parts: train_opts.c (flags), train_setup.c (options -> config, head,
 * model), train_hash.c (resume hash), train_json.c (config.json). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "collapse/blas.h"
#include "collapse/ckpt.h"
#include "collapse/comm.h"
#include "collapse/etf.h"
#include "collapse/mem.h"
#include "opts.h"
#include "outdir.h"
#include "progress.h"
#include "train_opts.h"

/* The only state a signal handler may touch. */
static volatile sig_atomic_t g_stop;

static void on_sigint(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Everything one training command holds (freed by run_free). */
typedef struct {
    cl_cli_train_opts o;
    cl_train_config cfg;
    cl_study_opts so;
    int use_study;
    cl_modelcfg mc;
    cl_dataset train, test;
    cl_head_opts head;
    cl_model *m;
    char *model_text;
    cl_study *study;
    cl_study_reg *reg; /* the regression study (--task regression) */
    cl_cli_membuf json;
    char ckpt_dir[4200], cj[4200]; /* OUT/checkpoint, OUT/config.json */
    struct sigaction old_int, old_term;
    int handlers;
    cl_cli_outdir od; /* --out, created and locked by check_out */
    int cleaned;      /* report() emptied a folder that held nothing of value */
    int restart;      /* --resume of a run killed before its first checkpoint */
} run;

/* --resume of a run killed before its first checkpoint: start it again. */
static void restart_run(run *r)
{
    r->restart = 1;
    r->cfg.resume = 0;
    r->so.resume = 0;
    r->so.initial = !r->o.no_initial;
}

static int path_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* The results folder: created, probed for writing and locked (outdir.h)
 * before the expensive work, so a second run with the same --out, or one
 * that could not write its results, stops at once. */
static int check_out(run *r)
{
    const cl_cli_train_opts *o = &r->o;
    if (!o->out) return 0;
    snprintf(r->ckpt_dir, sizeof r->ckpt_dir, "%s/checkpoint", o->out);
    snprintf(r->cj, sizeof r->cj, "%s/config.json", o->out);
    if (cl_comm_rank(r->cfg.comm) != 0) return 0; /* rank 0 owns the folder */
    char lock[4300];
    snprintf(lock, sizeof lock, "%s/" CL_CLI_OUTDIR_LOCK, o->out);
    int started = path_exists(r->cj) || path_exists(lock); /* a train ran here */
    if (cl_cli_outdir_open(o->out, o->resume, &r->od)) return 1;
    int no_ckpt = o->resume && !cl_ckpt_exists(r->ckpt_dir);
    int rows = no_ckpt ? cl_cli_outdir_last_epoch(o->out) : -1;
    if (no_ckpt && rows > o->ckpt_every)
        /* a checkpoint was written at the end of epoch ckpt_every at the
         * latest, so it was removed or never copied (checkpoints are not in
         * git): starting over would overwrite the rows */
        return cl_cli_fail(1,
                           "--resume: %s is missing, but %s/metrics.csv has rows up to epoch "
                           "%d: refusing to start the run over them (move the folder away to "
                           "start afresh)",
                           r->ckpt_dir, o->out, rows);
    if (no_ckpt && started) {
        /* killed before its first checkpoint: the run starts again from the
         * beginning (its config.json, if written, has to match: setup
         * checks it; if not, make_out writes it) */
        printf("resume: %s holds no checkpoint yet; the run starts from the beginning\n",
               r->ckpt_dir);
        restart_run(r);
        return 0;
    }
    if (no_ckpt)
        return cl_cli_fail(1, "--resume: %s holds no complete checkpoint", r->ckpt_dir);
    if (!o->resume && (path_exists(r->cj) || path_exists(r->ckpt_dir)))
        return cl_cli_fail(2,
                           "--out %s already holds a run (config.json/checkpoint); use "
                           "--resume to continue it or choose another folder",
                           o->out);
    return 0;
}

/* Model file, data, model, optimizer check, hash and config.json text. */
/* Multi-label data: the first class without a single-label sample, or -1.
 * The study measures the NC keys on those samples (study/mlab.c) and fails
 * on an empty class, so such a split is refused before --out exists. */
static int no_single_label(const cl_dataset *d)
{
    unsigned char seen[CL_DATA_MAX_CLASSES] = {0};
    for (int64_t i = 0; d->yk && i < d->n; i++)
        if (cl_data_label_count(d, i) == 1) seen[d->y[i]] = 1;
    for (int k = 0; d->yk && k < d->classes; k++)
        if (!seen[k]) return k;
    return -1;
}

static int setup(run *r, int argc, char **argv)
{
    const cl_cli_train_opts *o = &r->o;
    cl_status st = o->model_path ? cl_modelcfg_parse_file(o->model_path, &r->mc)
                                 : cl_modelcfg_from_arch(o->arch, &r->mc);
    if (st != CL_OK) return cl_cli_fail(o->model_path ? 1 : 2, "%s", cl_errmsg());
    if (cl_cli_data_load(&o->data, &r->train, &r->test)) return 1;
    int reg = r->cfg.task == CL_TASK_REGRESS;
    if (reg && (!r->train.tdim || r->test.tdim != r->train.tdim))
        return cl_cli_fail(1, "--task regression: the data needs targets on both splits "
                              "(--data mnist-pose, or --targets and --test-targets)");
    if (r->train.yk && (reg || r->cfg.loss.kind != CL_LOSS_PAL)) /* before --out exists */
        return cl_cli_fail(2, "--loss %s cannot train on multi-label data (%s); use --loss pal "
                              "or pal=mean", reg ? "regression" : cl_loss_kind_name(r->cfg.loss.kind),
                           r->train.name);
    if (cl_train_ddp_check(r->cfg.comm, r->cfg.batch, r->train.n) != CL_OK) /* before --out */
        return cl_cli_fail(2, "%s", cl_errmsg());
    for (int k, sp = 0; r->use_study && sp < 2; sp++)
        if ((k = no_single_label(sp ? &r->test : &r->train)) >= 0)
            return cl_cli_fail(1, "--data %s: class %d has no single-label sample in the %s "
                                  "split, and the study measures the NC keys on those (or use "
                                  "--analyze none)",
                               r->train.name, k, sp ? "test" : "training");
    if (o->minority_classes && /* the list against the data's K */
        cl_opt_class_list("--minority-classes", o->minority_classes, r->train.classes, NULL))
        return 1;
    r->head = cl_cli_train_head(o, reg ? r->train.tdim : r->train.classes, r->cfg.seed);
    int rc = cl_cli_train_build(o, &r->mc, r->train.shape, &r->head, r->cfg.seed, &r->m,
                                &r->model_text);
    if (rc || (rc = cl_cli_train_finetune(&r->o, r->m, &r->model_text, r->cfg.resume)))
        return rc;
    int eb = r->cfg.eval_batch > r->cfg.batch ? r->cfg.eval_batch : r->cfg.batch;
    if (cl_model_alloc(r->m, eb) != CL_OK)
        return cl_cli_fail(1, "model buffers for batch %d: %s", eb, cl_errmsg());
    cl_optim *probe = NULL; /* validates the optimizer settings before --out exists */
    if (cl_optim_create(&probe, &r->cfg.optim, r->m->nparams, r->m->ranges,
                        r->m->nranges) != CL_OK)
        return cl_cli_fail(2, "--optimizer: %s", cl_errmsg());
    cl_optim_destroy(probe);
    const cl_study_opts *so = r->use_study ? &r->so : NULL;
    r->cfg.config_hash = cl_cli_train_hash(o, &r->cfg, so, r->model_text);
    r->cfg.model_text = r->model_text;
    if (o->resume && (rc = cl_cli_train_check_resume(o->out, r->cfg.config_hash)))
        return rc;
    return cl_cli_train_config_json(argc, argv, o, &r->cfg, r->model_text, r->m, &r->train,
                                    &r->test, so, &r->json);
}

static void print_schedule(const cl_train_config *cfg)
{
    char loss[64], sched[200];
    cl_loss_format(&cfg->loss, loss, sizeof loss);
    if (cfg->task == CL_TASK_REGRESS) snprintf(loss, sizeof loss, "regression");
    int len = snprintf(sched, sizeof sched, "%s", cl_sched_kind_name(cfg->sched.kind));
    for (int i = 0; cfg->sched.kind == CL_SCHED_MULTISTEP && i < cfg->sched.nmilestones &&
                    len < (int)sizeof sched - 24;
         i++)
        len += snprintf(sched + len, sizeof sched - (size_t)len, "%s%g", i ? "," : " at ",
                        cfg->sched.milestones[i]);
    if (cfg->sched.warmup > 0)
        snprintf(sched + len, sizeof sched - (size_t)len, " warmup %g", cfg->sched.warmup);
    printf("train: %d epochs  batch %d  %s lr %g  momentum %g%s  wd %g (classifier %g)  "
           "schedule %s  loss %s  seed %llu\n",
           cfg->epochs, cfg->batch, cl_optim_kind_name(cfg->optim.kind), cfg->sched.lr,
           cfg->optim.kind == CL_OPTIM_SGD ? cfg->optim.momentum : cfg->optim.beta1,
           cfg->optim.nesterov ? " nesterov" : "", cfg->optim.wd[0], cfg->optim.wd[1], sched,
           loss, (unsigned long long)cfg->seed);
}

/* Model table, data, training and BLAS lines. */
static void print_header(const run *r)
{
    char *buf = cl_alloc(1 << 16, "model table");
    if (buf) {
        int need = cl_model_summary(r->m, buf, 1 << 16);
        fputs(buf, stdout);
        if (need > 0 && need < (1 << 16) && buf[need - 1] != '\n') fputc('\n', stdout);
        cl_free(buf);
    }
    const cl_head_opts *h = &r->head;
    const cl_layer *cl = &r->m->layers[cl_model_classifier_index(r->m)];
    char tbuf[48];
    snprintf(tbuf, sizeof tbuf, "%g", (double)cl->spec.temperature);
    const int cosine = cl->spec.kind == CL_LAYER_COSINE; /* --classifier cosine or a model file */
    const int64_t trained = cl_model_trainable_params(r->m);
    char pbuf[48] = "";
    if (trained != r->m->nparams)
        snprintf(pbuf, sizeof pbuf, " (%lld trained)", (long long)trained);
    printf("model: %s  %lld parameters%s  classifier %s%s%s\n",
           r->o.model_path ? r->o.model_path : r->o.arch, (long long)r->m->nparams, pbuf,
           h->etf   ? "fixed simplex ETF ("
           : h->clm ? "ordinal: 1-unit latent, "
           : cosine ? "cosine, no bias (T = "
                    : "learned",
           h->clm    ? (h->clm_learned ? "learned thresholds" : "fixed thresholds")
           : h->etf  ? cl_etf_mode_name((cl_etf_mode)h->etf_mode)
           : cosine  ? tbuf
           : h->bias ? " with bias"
                     : " without bias",
           h->etf || cosine ? ")" : "");
    if (h->etf) cl_cli_train_etf_report(r->m, h->etf_mode);
    cl_cli_data_print(&r->o.data, &r->train, &r->test);
    print_schedule(&r->cfg);
    printf("OpenBLAS core %s, %s threading, %d threads\n", cl_blas_core(),
           cl_blas_threading(), cl_blas_get_threads());
    if (r->o.resume) {
        int t = cl_cli_train_recorded_threads(r->o.out);
        if (t && t != cl_blas_get_threads())
            printf("warning: the run used %d threads, now %d: the result is no longer "
                   "bit-exact "
                   "with an uninterrupted run\n",
                   t, cl_blas_get_threads());
        cl_cli_train_ranks_warning(r->o.out, cl_comm_size(r->cfg.comm));
    }
    fflush(stdout);
}

/* From here on Ctrl-C stops the run cleanly (checkpoint, status 130). */
static void catch_signals(run *r)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    /* a second Ctrl-C kills at once; not under mpirun, which may forward the
     * terminal's Ctrl-C once more (its own second Ctrl-C ends the job) */
    sa.sa_flags = cl_comm_size(r->cfg.comm) > 1 ? 0 : SA_RESETHAND;
    g_stop = 0;
    sigaction(SIGINT, &sa, &r->old_int);
    sigaction(SIGTERM, &sa, &r->old_term);
    r->handlers = 1;
    r->cfg.stop = &g_stop;
}

/* Everything is validated: create the results folder and config.json. */
static int make_out(run *r)
{
    const cl_cli_train_opts *o = &r->o;
    if (!o->out) return 0;
    int rc;
    if (cl_comm_rank(r->cfg.comm) == 0 && (!o->resume || (r->restart && !path_exists(r->cj))) &&
        (rc = cl_cli_write_file(r->cj, r->json.text, r->json.len)))
        return rc;
    r->cfg.out_dir = o->out;
    r->cfg.ckpt_dir = r->ckpt_dir;
    return 0;
}

static void print_study(const cl_study_opts *so, int epochs)
{
    int sched[64], ns = cl_study_schedule(so, epochs, NULL);
    printf("study: analyzed epochs ");
    if (ns <= 64) {
        cl_study_schedule(so, epochs, sched);
        for (int i = 0; i < ns; i++)
            printf("%s%d", i ? "," : "", sched[i]);
    } else {
        printf("%d of %d", ns, epochs);
    }
    printf("%s; BN %s mode in sweeps; mu_G %s mean of class means; NC4 %s bias; "
           "layers %s; "
           "plots %s\n",
           so->initial ? " (and 0)" : "", so->bn_train ? "train (batch statistics)" : "eval",
           so->nc.weighted_mean ? "weighted" : "unweighted",
           so->nc.nc4_bias ? "with" : "without", so->layers ? "on" : "off",
           so->plots ? "on" : "off");
    fflush(stdout);
}

/* Creates the study, analyzes epoch 0 and puts it first in the callbacks:
 * on analyzed epochs its sweeps replace the trainer's eval passes, and the
 * epoch line reads its values. */
static int start_study(run *r, cl_train_callback *cbs, int *ncb, cl_cli_progress *prog,
                       const cl_train_data *tv, const cl_train_data *sv)
{
    if (!r->use_study) {
        if (r->o.out) printf("study: off (--analyze none)\n");
        return 0;
    }
    if (r->cfg.task == CL_TASK_REGRESS) { /* NRC rows every epoch (study.h) */
        if (cl_study_reg_create_comm(&r->reg, r->m, r->train.tdim, r->o.out, r->o.resume,
                                     r->so.comm) != CL_OK)
            return cl_cli_fail(1, "study: %s", cl_errmsg());
        cl_study_reg_plots(r->reg, r->so.plots);
        printf("study: regression (NRC1-3 every epoch into %s/metrics.csv)\n", r->o.out);
        cbs[1] = cbs[0];
        cbs[0] = (cl_train_callback){cl_study_reg_epoch, r->reg};
        (*ncb)++;
        return 0;
    }
    if (cl_study_create(&r->study, &r->so, r->m, tv, sv, r->o.out, r->cfg.epochs) != CL_OK)
        return cl_cli_fail(1, "study: %s", cl_errmsg());
    print_study(&r->so, r->cfg.epochs);
    if (cl_study_initial(r->study, r->m, &r->cfg) != CL_OK)
        return cl_cli_fail(1, "study (epoch 0): %s", cl_errmsg());
    cbs[1] = cbs[0];
    cbs[0] = (cl_train_callback){cl_study_epoch, r->study};
    (*ncb)++;
    prog->study = r->study;
    r->cfg.skip_eval = cl_study_skip_eval;
    r->cfg.skip_eval_user = r->study;
    return 0;
}

/* The last line (and exit status) of a finished, stopped or failed run. */
static int report(run *r, cl_status st, cl_train_result *res)
{
    const cl_cli_train_opts *o = &r->o;
    double ev[4];
    if (r->study && isnan(res->train_loss) &&
        cl_study_eval_values(r->study, res->epochs_done, ev)) {
        res->train_loss = ev[0];
        res->train_acc = ev[1];
        res->test_loss = ev[2];
        res->test_acc = ev[3];
    }
    char took[32];
    cl_cli_format_duration(res->seconds, took, sizeof took);
    if (st == CL_OK && isnan(res->train_loss) && o->resume &&
        res->epochs_done >= r->cfg.epochs) {
        printf("done: the run in %s was already complete (%d epochs, %lld steps)\n", o->out,
               res->epochs_done, (long long)res->steps);
        return 0;
    }
    if (st == CL_OK) {
        printf("done: %d epochs, %lld steps in %s; train %.4f/%.2f%%  test "
               "%.4f/%.2f%%%s%s\n",
               res->epochs_done, (long long)res->steps, took, res->train_loss,
               100 * res->train_acc, res->test_loss, 100 * res->test_acc,
               o->out ? "; results in " : "", o->out ? o->out : "");
        return 0;
    }
    fflush(stdout);
    if (st == CL_EINTERRUPT)
        return cl_cli_fail(130, "%s%s", cl_errmsg(), o->out ? " (continue with --resume)" : "");
    int rc = cl_cli_fail(1, "%s", cl_errmsg());
    /* a run that failed before its first step leaves no folder behind */
    if (o->out && r->od.created && res->steps == 0 && !cl_ckpt_exists(r->ckpt_dir) &&
        !r->use_study) {
        unlink(r->cj);
        rmdir(r->ckpt_dir);
        r->cleaned = 1; /* the lock and the folder go in cl_cli_outdir_close */
    }
    return rc;
}

static void run_free(run *r)
{
    if (r->handlers) {
        sigaction(SIGINT, &r->old_int, NULL);
        sigaction(SIGTERM, &r->old_term, NULL);
    }
    if (r->study) cl_study_destroy(r->study);
    cl_study_reg_destroy(r->reg);
    free(r->json.text); /* open_memstream allocates with malloc */
    cl_free(r->model_text);
    cl_model_destroy(r->m);
    cl_dataset_free(&r->train);
    cl_dataset_free(&r->test);
    cl_modelcfg_free(&r->mc);
}

int cl_cmd_train(int argc, char **argv)
{
    run *r = cl_alloc(sizeof *r, "train command");
    if (!r) return cl_cli_fail(1, "%s", cl_errmsg());
    r->od.fd = -1;
    int rc = cl_cli_train_parse(argc, argv, &r->o);
    if (rc) {
        cl_free(r);
        return rc < 0 ? 0 : rc;
    }
    if ((rc = cl_cli_train_config(&r->o, &r->cfg)) ||
        (rc = cl_cli_train_study_opts(&r->o, &r->so, &r->use_study)))
        goto done;
    if (r->o.threads) cl_blas_set_threads(r->o.threads);
    r->cfg.comm = cl_cli_comm();
    r->so.comm = r->cfg.comm; /* every rank sweeps its shard (study.h) */
    int restart = 0; /* rank 0 decides whether a --resume starts again */
    if ((rc = cl_cli_agree(check_out(r))) ||
        (restart = r->restart, cl_comm_bcast(r->cfg.comm, &restart, sizeof restart)) != CL_OK)
        goto done;
    if (restart && !r->restart) restart_run(r);
    if ((rc = cl_cli_agree(setup(r, argc, argv)))) goto done;
    print_header(r);
    cl_data_aug aug = {.d = &r->train, .pad = 4, .flip = 1};
    cl_train_data tv, sv;
    cl_data_view(&r->train, r->o.data.opts.augment ? &aug : NULL, &tv);
    cl_data_view(&r->test, NULL, &sv);
    if (r->cfg.task == CL_TASK_REGRESS) { /* targets instead of labels */
        r->cfg.targets = r->train.t;
        r->cfg.test_targets = r->test.t;
        tv.classes = sv.classes = 0;
    }
    catch_signals(r);
    if ((rc = cl_cli_agree(make_out(r)))) goto done;
    cl_cli_progress prog;
    cl_cli_progress_init(&prog);
    cl_train_callback cbs[3] = {{cl_cli_progress_epoch, &prog}};
    int ncb = 1;
    if ((rc = start_study(r, cbs, &ncb, &prog, &tv, &sv))) goto done;
    cl_cli_etf_watch watch = {0};
    if (r->head.etf && cl_comm_rank(r->cfg.comm) == 0 && r->cfg.task != CL_TASK_REGRESS) {
        int on = cl_cli_train_etf_watch_init(&watch, r->m, &r->train, r->cfg.epochs);
        if (on < 0) {
            rc = cl_cli_fail(1, "%s", cl_errmsg());
            goto done;
        }
        if (on) cbs[ncb++] = (cl_train_callback){cl_cli_train_etf_epoch, &watch};
    }
    cl_train_hooks hooks = {cbs, ncb, cl_cli_progress_update, &prog};
    cl_train_result res;
    cl_status st = cl_train_run(&r->cfg, r->m, &tv, &sv, &hooks, &res);
    cl_cli_progress_clear(&prog);
    cl_cli_train_etf_watch_free(&watch);
    cl_cli_train_ddp_report(&res);
    int finished = 0; /* a final checkpoint without the final study files */
    if (st == CL_OK && r->study && r->o.resume && res.epochs_done >= r->cfg.epochs &&
        (st = cl_study_finish(r->study, r->m, &r->cfg, &finished)) == CL_OK && finished)
        printf("study: the results of epoch %d were missing; written now\n", r->cfg.epochs);
    rc = report(r, st, &res);
done:
    /* a folder this run created and never wrote to goes away again */
    if (r->o.out) cl_cli_outdir_close(r->o.out, &r->od, r->cleaned || (rc && !r->cfg.out_dir));
    run_free(r);
    cl_free(r);
    return rc;
}
