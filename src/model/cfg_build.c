/* A parsed model file (modelcfg.h) -> layer specs with the head options
 * applied -> a model; the explicit spec text stored in checkpoints and the
 * rebuild from it. The parser is cfg.c. */
#include <stdio.h>
#include <string.h>

#include "collapse/builders.h"
#include "collapse/etf.h"
#include "collapse/mem.h"
#include "collapse/modelcfg.h"

cl_status cl_modelcfg_format(cl_shape in, const cl_layer_spec *specs, int n, char **text)
{
    size_t cap = 256 + (size_t)n * 256, len = 0;
    char *s = cl_alloc(cap, "model text");
    if (!s) return CL_ENOMEM;
    len += (size_t)snprintf(s + len, cap - len, "[input]\nshape = %d,%d,%d\n", in.c, in.h, in.w);
    for (int i = 0; i < n; i++) {
        const cl_layer_spec *p = &specs[i];
        len += (size_t)snprintf(s + len, cap - len, "\n[%s]\nkind = %s\n", p->name,
                                cl_layer_kind_name(p->kind));
        if (p->out > 0) len += (size_t)snprintf(s + len, cap - len, "out = %d\n", p->out);
        if (p->k > 0) len += (size_t)snprintf(s + len, cap - len, "k = %d\n", p->k);
        len += (size_t)snprintf(s + len, cap - len,
                                "stride = %d\npad = %d\nbias = %d\nfrozen = %d\nclassifier = %d\n",
                                p->stride, p->pad, p->bias, p->frozen, p->classifier);
        if (p->eps > 0) len += (size_t)snprintf(s + len, cap - len, "eps = %.9g\n", p->eps);
        if (p->momentum > 0)
            len += (size_t)snprintf(s + len, cap - len, "momentum = %.9g\n", p->momentum);
        if (p->temperature > 0)
            len += (size_t)snprintf(s + len, cap - len, "temperature = %.9g\n", p->temperature);
        CL_ASSERT(len < cap);
    }
    *text = s;
    return CL_OK;
}

static cl_status apply_head(const char *name, cl_layer_spec *specs, int n, const cl_head_opts *h,
                            const int *out_set, int *ci);

/* Ordinal head: appends the cumlink layer after the classifier unless the
 * specs already end in one (*specs is reallocated). */
static cl_status add_cumlink(cl_layer_spec **specs, int *n, const cl_head_opts *h)
{
    if (!h->clm || (*n > 0 && (*specs)[*n - 1].kind == CL_LAYER_CUMLINK)) return CL_OK;
    cl_layer_spec *s = cl_alloc_array((size_t)*n + 1, sizeof *s, "model specs");
    if (!s) return CL_ENOMEM;
    memcpy(s, *specs, sizeof *s * (size_t)*n);
    cl_layer_spec *t = &s[*n];
    memset(t, 0, sizeof *t);
    t->kind = CL_LAYER_CUMLINK;
    snprintf(t->name, sizeof t->name, "thresholds");
    t->out = h->classes - 1;
    t->frozen = !h->clm_learned;
    cl_free(*specs);
    *specs = s;
    (*n)++;
    return CL_OK;
}

/* Named architectures come from the C builders (builders.h). Keys that the
 * type does not use are errors, not silently ignored. */
static cl_status arch_specs(const cl_modelcfg *cfg, cl_shape in, const cl_head_opts *head,
                            cl_layer_spec **specs, int *n)
{
    (void)in;
    const char *t = cfg->type;
    const cl_arch_info *a = cl_arch_find(t);
    CL_ASSERT(a); /* the parser accepts only known types */
    const char *unused = NULL;
    if (cfg->width && !(a->keys & CL_ARCH_KEY_WIDTH)) unused = "width";
    else if (cfg->depth && !(a->keys & CL_ARCH_KEY_DEPTH)) unused = "depth";
    else if (cfg->bn >= 0 && !(a->keys & CL_ARCH_KEY_BN)) unused = "bn";
    else if (cfg->width_mult > 0 && !(a->keys & CL_ARCH_KEY_WIDTH_MULT)) unused = "width_mult";
    if (unused)
        return cl_error(CL_EINVAL, "%s: key '%s' does not apply to model type '%s'", cfg->name,
                        unused, t);
    cl_arch_opts o = cl_arch_opts_default();
    o.width = cfg->width;
    o.depth = cfg->depth;
    o.bn = cfg->bn;
    o.width_mult = cfg->width_mult;
    o.feature_dim = head->feature_dim;
    cl_layer_spec *s = NULL;
    int ns = 0;
    cl_status st = cl_build_arch(t, &o, head->classes, &s, &ns);
    if (st != CL_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", cl_errmsg());
        return cl_error(st, "%s: %s", cfg->name, msg);
    }
    int ci; /* the builder applied head->feature_dim */
    if ((st = apply_head(cfg->name, s, ns, head, NULL, &ci)) != CL_OK ||
        (st = add_cumlink(&s, &ns, head)) != CL_OK) {
        cl_free(s);
        return st;
    }
    *specs = s;
    *n = ns;
    return CL_OK;
}

/* Applies the head options but feature_dim to specs[0..n): the classifier
 * *ci is the last linear layer (or the one marked classifier). */
static cl_status apply_head(const char *name, cl_layer_spec *specs, int n, const cl_head_opts *h,
                            const int *out_set, int *ci)
{
    *ci = -1;
    for (int i = n - 1; i >= 0 && *ci < 0; i--)
        if (specs[i].classifier) *ci = i;
    for (int i = n - 1; i >= 0 && *ci < 0; i--)
        if (specs[i].kind == CL_LAYER_LINEAR || specs[i].kind == CL_LAYER_COSINE) *ci = i;
    if (*ci < 0) return cl_error(CL_EINVAL, "%s: no linear classifier layer", name);
    cl_layer_spec *c = &specs[*ci];
    c->classifier = 1;
    for (int i = 0; i < n; i++)
        if (specs[i].kind == CL_LAYER_CUMLINK && (!h->clm || i != n - 1 || *ci != n - 2))
            return cl_error(CL_EINVAL, "%s: layer [%s] (cumlink) %s", name, specs[i].name,
                            h->clm ? "must be the last layer, right after the classifier"
                                   : "needs --loss clm");
    if (h->clm) {
        if (out_set && out_set[*ci] && c->out != 1)
            return cl_error(CL_EINVAL,
                            "%s: classifier [%s] has out = %d but --loss clm needs the 1-unit "
                            "latent z = w^T h (out = 1)",
                            name, c->name, c->out);
        c->out = 1;
        c->bias = 0; /* confounded with the thresholds */
        if (*ci == n - 2) { /* the model declares its cumlink layer */
            cl_layer_spec *t = &specs[n - 1];
            if (t->out == 0) t->out = h->classes - 1;
            if (t->out != h->classes - 1)
                return cl_error(CL_EINVAL,
                                "%s: cumlink [%s] has out = %d thresholds but the data's %d "
                                "classes need %d",
                                name, t->name, t->out, h->classes, h->classes - 1);
            t->frozen = !h->clm_learned;
        }
        return CL_OK;
    }
    if (!out_set || !out_set[*ci]) c->out = h->classes;
    if (c->out != h->classes)
        return cl_error(CL_EINVAL, "%s: classifier [%s] has out = %d but the data has %d classes",
                        name, c->name, c->out, h->classes);
    if (h->etf) {
        c->frozen = 1;
        c->bias = 0;
    } else if (h->cosine) { /* the linear classifier becomes a cosine one */
        c->kind = CL_LAYER_COSINE;
        c->bias = 0;
        c->temperature = (float)h->temperature;
    } else if (c->kind == CL_LAYER_COSINE) {
        c->bias = 0; /* a cosine layer of the model file never has a bias */
    } else if (!h->bias) {
        c->bias = 0;
    }
    return CL_OK;
}

cl_status cl_modelcfg_specs(const cl_modelcfg *cfg, cl_shape in, const cl_head_opts *head,
                            cl_layer_spec **specs, int *n)
{
    if (cfg->in.c && (cfg->in.c != in.c || cfg->in.h != in.h || cfg->in.w != in.w))
        return cl_error(CL_EINVAL, "%s: [input] shape %dx%dx%d does not match the data (%dx%dx%d)",
                        cfg->name, cfg->in.c, cfg->in.h, cfg->in.w, in.c, in.h, in.w);
    if (head->classes < 2) return cl_error(CL_EINVAL, "%s: need at least 2 classes", cfg->name);
    if (cfg->type[0]) return arch_specs(cfg, in, head, specs, n);
    cl_layer_spec *s = cl_alloc_array((size_t)cfg->nspecs, sizeof *s, "model specs");
    if (!s) return CL_ENOMEM;
    memcpy(s, cfg->specs, sizeof *s * (size_t)cfg->nspecs);
    int ci;
    cl_status st = apply_head(cfg->name, s, cfg->nspecs, head, cfg->out_set, &ci);
    if (st == CL_OK && head->feature_dim > 0 &&
        cl_specs_set_feature_dim(s, ci, head->feature_dim) != CL_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", cl_errmsg());
        st = cl_error(CL_EINVAL, "%s: %s", cfg->name, msg);
    }
    int ns = cfg->nspecs;
    if (st == CL_OK) st = add_cumlink(&s, &ns, head);
    if (st != CL_OK) {
        cl_free(s);
        return st;
    }
    *specs = s;
    *n = ns;
    return CL_OK;
}

cl_status cl_modelcfg_build(const cl_modelcfg *cfg, cl_shape in, const cl_head_opts *head,
                            cl_rng *rng, cl_model **model, char **text)
{
    cl_layer_spec *specs = NULL;
    int n = 0;
    cl_model *m = NULL;
    *model = NULL;
    if (text) *text = NULL;
    cl_status st = cl_modelcfg_specs(cfg, in, head, &specs, &n);
    if (st != CL_OK) return st;
    if ((st = cl_model_create(&m, in, specs, n, rng)) != CL_OK) goto fail;
    if (head->etf) {
        int ci = cl_model_classifier_index(m);
        CL_ASSERT(ci >= 0);
        const cl_layer *l = &m->layers[ci];
        int dim = (int)cl_shape_size(l->in), K = (int)cl_shape_size(l->out);
        if ((st = cl_etf_fill(m->params + l->param_off, K, dim, head->etf_mode,
                              head->etf_seed)) != CL_OK)
            goto fail;
        for (int64_t i = (int64_t)K * dim; i < l->nparams; i++) m->params[l->param_off + i] = 0;
    }
    if (head->clm) { /* the thresholds, evenly spaced by the head's spacing */
        const cl_layer *t = &m->layers[m->nlayers - 1];
        CL_ASSERT(t->spec.kind == CL_LAYER_CUMLINK);
        cl_cumlink_set_even(m->params + t->param_off, (int)t->nparams,
                            head->clm_spacing > 0 ? head->clm_spacing : CL_CUMLINK_SPACING);
    }
    if (text) {
        /* the names cl_model_create assigned, so the text rebuilds the same model */
        for (int i = 0; i < n; i++) specs[i] = m->layers[i].spec;
        if ((st = cl_modelcfg_format(in, specs, n, text)) != CL_OK) goto fail;
    }
    cl_free(specs);
    *model = m;
    return CL_OK;
fail:
    cl_model_destroy(m);
    cl_free(specs);
    return st;
}

/* nparams < 0: no count check. */
static cl_status rebuild(const char *text, const char *name, int64_t nparams, int64_t nbufs,
                         cl_model **model)
{
    cl_modelcfg c;
    *model = NULL;
    CL_TRY(cl_modelcfg_parse_text(text, name, &c));
    cl_status st = CL_OK;
    if (c.type[0] || !c.in.c)
        st = cl_error(CL_EFORMAT, "%s: model text lacks the explicit layer list", name);
    int64_t np, nb;
    if (st == CL_OK && nparams >= 0 &&
        (st = cl_model_count(c.in, c.specs, c.nspecs, &np, &nb)) == CL_OK &&
        (np != nparams || nb != nbufs))
        st = cl_error(CL_EFORMAT, "%s: %lld params/%lld bufs stored, the model text needs %lld/%lld",
                      name, (long long)nparams, (long long)nbufs, (long long)np, (long long)nb);
    cl_rng rng;
    cl_rng_seed(&rng, 0);
    if (st == CL_OK) st = cl_model_create(model, c.in, c.specs, c.nspecs, &rng);
    cl_modelcfg_free(&c);
    return st;
}

cl_status cl_modelcfg_rebuild(const char *text, const char *name, cl_model **model)
{
    return rebuild(text, name, -1, -1, model);
}

cl_status cl_modelcfg_rebuild_sized(const char *text, const char *name, int64_t nparams,
                                    int64_t nbufs, cl_model **model)
{
    return rebuild(text, name, nparams, nbufs, model);
}
