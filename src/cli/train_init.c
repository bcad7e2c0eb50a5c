/* collapse train --init-from RUN [--freeze-through LAYER [--frozen-bn M]]:
 * fine-tuning from the body of a trained run, with the new run's head.
 *
 * The body of a model is every layer before its classifier
 * (cl_model_classifier_index: the learned, ETF or cosine head, and an
 * ordinal run's cumlink layer after it). The new model is built from the new
 * run's own flags and seed as any run is; then the source's newest good
 * checkpoint is loaded (cl_cli_load_model) and its body must equal the new
 * body layer by layer (name, kind, input and output shape, parameter and
 * buffer counts): the first layer that differs is refused, else every body
 * layer's parameters and buffers (BN running statistics) are copied. The
 * head keeps the new run's initialisation.
 *
 * A resumed run (--resume with a checkpoint) does not read the source: its
 * parameters come from its own checkpoint, and what the source gave is read
 * back from its config.json ("options"."init_from") for the resume hash. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "collapse/ckpt.h"
#include "collapse/mem.h"
#include "train_opts.h"

/* "linear fc1 784x1x1 -> 1024x1x1, 803840 params, 0 bufs" or "no layer". */
static void describe(const cl_model *m, int i, int n, char *buf, size_t cap)
{
    if (i >= n) {
        snprintf(buf, cap, "no layer (body of %d layers)", n);
        return;
    }
    const cl_layer *l = &m->layers[i];
    snprintf(buf, cap, "%s '%s' %dx%dx%d -> %dx%dx%d, %lld params, %lld bufs",
             cl_layer_kind_name(l->spec.kind), l->spec.name, l->in.c, l->in.h, l->in.w,
             l->out.c, l->out.h, l->out.w, (long long)l->nparams, (long long)l->nbufs);
}

static int same_layer(const cl_layer *a, const cl_layer *b)
{
    return a->spec.kind == b->spec.kind && !strcmp(a->spec.name, b->spec.name) &&
           !memcmp(&a->in, &b->in, sizeof a->in) &&
           !memcmp(&a->out, &b->out, sizeof a->out) && a->nparams == b->nparams &&
           a->nbufs == b->nbufs;
}

/* The completed epochs of the checkpoint in `file` (a slot's model.ckpt),
 * from the state.ckpt beside it when it names the same step; else -1. */
static int64_t ckpt_epoch(const char *file, int64_t step)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    cl_train_state st = {0};
    int64_t e = -1;
    if (cl_train_ckpt_load(dir, &st, NULL) == CL_OK && st.step == step) e = st.epoch;
    cl_free(st.perm);
    return e;
}

/* Loads the source, checks the bodies and copies (the new model's body
 * takes the source's parameters and buffers). */
static int init_body(cl_cli_train_opts *o, cl_model *m)
{
    cl_cli_init_info *in = &o->init;
    cl_model *s = NULL;
    if (access(o->init_from, F_OK) != 0)
        return cl_cli_fail(1, "--init-from %s: no such run folder or checkpoint",
                           o->init_from);
    if (cl_ckpt_resolve(o->init_from, in->ckpt, sizeof in->ckpt, NULL) != CL_OK)
        return cl_cli_fail(1, "--init-from %s: %s", o->init_from, cl_errmsg());
    if (cl_cli_load_model(o->init_from, 1, &s, &in->step)) return 1;
    int ns = cl_model_classifier_index(s), nn = cl_model_classifier_index(m);
    if (ns < 0) ns = s->nlayers;
    if (nn < 0) nn = m->nlayers;
    int n = ns > nn ? ns : nn;
    for (int i = 0; i < n; i++) {
        if (i < ns && i < nn && same_layer(&s->layers[i], &m->layers[i])) continue;
        char a[256], b[256];
        describe(s, i, ns, a, sizeof a);
        describe(m, i, nn, b, sizeof b);
        cl_model_destroy(s);
        return cl_cli_fail(
            1,
            "--init-from %s: the body does not match at layer %d: source %s, "
            "new %s",
            o->init_from, i, a, b);
    }
    uint64_t h = CL_FNV_INIT;
    for (int i = 0; i < nn; i++) {
        const cl_layer *ls = &s->layers[i], *l = &m->layers[i];
        size_t np = sizeof(float) * (size_t)l->nparams,
               nb = sizeof(float) * (size_t)l->nbufs;
        if (np) memcpy(m->params + l->param_off, s->params + ls->param_off, np);
        if (nb) memcpy(m->bufs + l->buf_off, s->bufs + ls->buf_off, nb);
        h = cl_fnv1a(h, m->params + l->param_off, np);
        h = cl_fnv1a(h, m->bufs + l->buf_off, nb);
        in->params += l->nparams;
        in->bufs += l->nbufs;
    }
    in->layers = nn;
    in->hash = h;
    in->epoch = ckpt_epoch(in->ckpt, in->step);
    cl_model_destroy(s);
    return 0;
}

/* On --resume: the source's record from OUT/config.json (missing values
 * stay zero, so the resume hash refuses the run). */
static int init_recorded(cl_cli_train_opts *o)
{
    char cfg[4200];
    cl_json_value *root;
    if (cl_cli_run_config(o->out, cfg, sizeof cfg, &root)) return 1;
    const cl_json_value *r = cl_json_get(cl_json_get(root, "options"), "init_from");
    const char *ck = cl_json_as_str(cl_json_get(r, "checkpoint"));
    const char *hs = cl_json_as_str(cl_json_get(r, "body_fnv1a"));
    cl_cli_init_info *in = &o->init;
    if (ck) snprintf(in->ckpt, sizeof in->ckpt, "%s", ck);
    if (!cl_json_as_i64(cl_json_get(r, "epoch"), &in->epoch)) in->epoch = -1;
    (void)cl_json_as_i64(cl_json_get(r, "step"), &in->step);
    if (hs) (void)sscanf(hs, "%16" SCNx64, &in->hash);
    cl_json_value_free(root);
    in->recorded = 1;
    return 0;
}

/* Marks layers 0..LAYER frozen (spec and range), sets the BN mode of the
 * frozen part and rewrites the spec text, so checkpoints and the resume
 * hash carry the frozen flags. */
static int freeze(cl_cli_train_opts *o, cl_model *m, char **model_text)
{
    int ci = cl_model_classifier_index(m), L = cl_model_find(m, o->freeze_through);
    if (ci < 0) ci = m->nlayers;
    if (L < 0 || L >= ci) {
        char names[1024];
        size_t len = 0;
        names[0] = 0;
        for (int i = 0; i < ci && len + 40 < sizeof names; i++)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? " " : "",
                                    m->layers[i].spec.name);
        return cl_cli_fail(2,
                           "--freeze-through: '%s' is not a layer before the classifier "
                           "(%s)",
                           o->freeze_through, names);
    }
    int r = 0;
    cl_layer_spec *specs =
        cl_alloc_array((size_t)m->nlayers, sizeof *specs, "model specs");
    if (!specs) return cl_cli_fail(1, "%s", cl_errmsg());
    for (int i = 0; i < m->nlayers; i++) {
        cl_layer *l = &m->layers[i];
        if (i <= L) {
            l->spec.frozen = 1;
            o->init.frozen += l->nparams;
            o->init.frozen_bufs += l->nbufs;
        }
        if (l->nparams) m->ranges[r++].frozen = l->spec.frozen;
        specs[i] = l->spec;
    }
    m->eval_prefix = o->frozen_bn && !strcmp(o->frozen_bn, "train") ? 0 : L + 1;
    char *text = NULL;
    cl_status st = cl_modelcfg_format(m->in, specs, m->nlayers, &text);
    cl_free(specs);
    if (st != CL_OK) return cl_cli_fail(1, "%s", cl_errmsg());
    cl_free(*model_text);
    *model_text = text;
    return 0;
}

int cl_cli_train_finetune(cl_cli_train_opts *o, cl_model *m, char **model_text,
                          int restore)
{
    int rc = 0;
    if (o->init_from) rc = restore ? init_recorded(o) : init_body(o, m);
    if (!rc && o->freeze_through) rc = freeze(o, m, model_text);
    if (rc) return rc;
    const cl_cli_init_info *in = &o->init;
    int ci = cl_model_classifier_index(m);
    if (o->init_from && !in->recorded)
        printf(
            "init: body of %s (%s, epoch %lld, step %lld): %d layers, %lld params, %lld "
            "bufs copied (fnv1a %016" PRIx64 "); head '%s' from the seed\n",
            o->init_from, in->ckpt, (long long)in->epoch, (long long)in->step, in->layers,
            (long long)in->params, (long long)in->bufs, in->hash,
            ci >= 0 ? m->layers[ci].spec.name : "?");
    if (o->init_from && in->recorded)
        printf("init: --resume restores the run's own checkpoint (source %s not read)\n",
               o->init_from);
    if (o->freeze_through)
        printf("freeze: layers %s..%s frozen (%lld params)%s\n", m->layers[0].spec.name,
               o->freeze_through, (long long)in->frozen,
               !in->frozen_bufs ? ""
               : m->eval_prefix ? "; their BN in eval mode (running statistics kept)"
                                : "; their BN in train mode (batch statistics, updated)");
    return 0;
}

void cl_cli_train_finetune_fields(cl_cli_fields *f, const cl_cli_train_opts *o)
{
    if (o->init_from) {
        const cl_cli_init_info *in = &o->init;
        char h[24];
        snprintf(h, sizeof h, "%016" PRIx64, in->hash);
        f->begin(f, "init_from", '{');
        f->str(f, "run", o->init_from);
        f->str(f, "checkpoint", in->ckpt);
        f->i64(f, "epoch", in->epoch);
        f->i64(f, "step", in->step);
        f->str(f, "body_fnv1a", h);
        f->end(f, '{');
    }
    if (o->freeze_through) {
        f->str(f, "freeze_through", o->freeze_through);
        f->str(f, "frozen_bn", o->frozen_bn ? o->frozen_bn : "eval");
    }
}
