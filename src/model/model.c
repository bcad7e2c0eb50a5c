/* Sequential model: builds layers from specs (shape checks, names, flat
 * parameter layout), allocates storage once per category, and runs
 * forward/backward over the layer list (nn.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../layers/layers.h"
#include "collapse/mem.h"
#include "collapse/nn.h"

#define MODEL_MAX_FLOATS ((int64_t)1 << 40) /* params/bufs: 4 TiB is "too large" */
#define MODEL_MAX_SAMPLE ((int64_t)1 << 30) /* floats per sample of one activation */

static const cl_layer_ops *ops_of(const cl_layer *l) { return cl_layer_ops_table[l->spec.kind]; }

/* Prefix of automatic names ("conv3" = the third conv2d layer). */
static const char *auto_prefix(cl_layer_kind k)
{
    const cl_layer_ops *o = cl_layer_ops_table[k];
    return o->prefix ? o->prefix : o->name;
}

static int name_taken(const cl_layer *ls, int n, const char *name, int except)
{
    for (int i = 0; i < n; i++)
        if (i != except && !strcmp(ls[i].spec.name, name)) return 1;
    return 0;
}

static cl_status check_spec(const cl_layer_spec *s, int i)
{
    if ((int)s->kind < 0 || s->kind >= CL_LAYER_KIND_COUNT)
        return cl_error(CL_EINVAL, "layer %d: unknown kind %d", i, (int)s->kind);
    if (!memchr(s->name, 0, sizeof s->name))
        return cl_error(CL_EINVAL, "layer %d: name is not NUL-terminated (max %d characters)", i,
                        (int)sizeof s->name - 1);
    for (const char *c = s->name; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == '[' || *c == ']' || *c == 127)
            return cl_error(CL_EINVAL, "layer %d: name '%s' has a space, control character or "
                                       "bracket", i, s->name);
    if ((s->frozen != 0 && s->frozen != 1) || (s->classifier != 0 && s->classifier != 1))
        return cl_error(CL_EINVAL, "layer %d ('%s'): frozen and classifier must be 0 or 1", i,
                        s->name);
    return CL_OK;
}

/* Explicit names must be unique; empty names become prefix + the 1-based
 * count of that kind so far, skipping names already in use. */
static cl_status assign_names(cl_layer *ls, int n)
{
    for (int i = 0; i < n; i++)
        if (ls[i].spec.name[0] && name_taken(ls, i, ls[i].spec.name, -1))
            return cl_error(CL_EINVAL, "layer %d: duplicate layer name '%s'", i, ls[i].spec.name);
    int count[CL_LAYER_KIND_COUNT] = {0};
    for (int i = 0; i < n; i++) {
        cl_layer_spec *s = &ls[i].spec;
        int c = ++count[s->kind];
        if (s->name[0]) continue;
        do
            snprintf(s->name, sizeof s->name, "%s%d", auto_prefix(s->kind), c++);
        while (name_taken(ls, n, s->name, i));
    }
    return CL_OK;
}

/* The plan of a model: layers checked, named, shapes inferred, params and
 * bufs laid out and counted; nothing of size nparams/nbufs is allocated. */
static cl_status plan(cl_model **out, cl_shape in, const cl_layer_spec *specs, int n)
{
    *out = NULL;
    if (n < 1 || n > CL_MODEL_MAX_LAYERS || !specs)
        return cl_error(CL_EINVAL, "model: need 1..%d layers (got %d)", CL_MODEL_MAX_LAYERS, n);
    if (in.c < 1 || in.h < 1 || in.w < 1 || cl_shape_size(in) > MODEL_MAX_SAMPLE)
        return cl_error(CL_EINVAL, "model: bad input shape %dx%dx%d", in.c, in.h, in.w);
    cl_status st = CL_ENOMEM;
    cl_model *m = cl_alloc(sizeof *m, "model");
    if (!m) return CL_ENOMEM;
    m->in = in;
    m->layers = cl_alloc_array((size_t)n, sizeof *m->layers, "model layers");
    if (!m->layers) goto fail;
    m->nlayers = n;
    for (int i = 0; i < n; i++) {
        if ((st = check_spec(&specs[i], i)) != CL_OK) goto fail;
        m->layers[i].spec = specs[i];
    }
    if ((st = assign_names(m->layers, n)) != CL_OK) goto fail;

    cl_shape cur = in;
    int64_t np = 0, nb = 0;
    for (int i = 0; i < n; i++) {
        cl_layer *l = &m->layers[i];
        l->in = cur;
        if ((st = ops_of(l)->infer(l, cur)) != CL_OK) goto fail;
        st = CL_EINVAL;
        if (l->out.c < 1 || l->out.h < 1 || l->out.w < 1 ||
            cl_shape_size(l->out) > MODEL_MAX_SAMPLE) {
            cl_error(st, "layer '%s' (%s): output %dx%dx%d is empty or too large", l->spec.name,
                     cl_layer_kind_name(l->spec.kind), l->out.c, l->out.h, l->out.w);
            goto fail;
        }
        if (l->nparams < 0 || l->nbufs < 0 || l->nparams > MODEL_MAX_FLOATS - np ||
            l->nbufs > MODEL_MAX_FLOATS - nb) {
            cl_error(st, "layer '%s' (%s): too many parameters in the model", l->spec.name,
                     cl_layer_kind_name(l->spec.kind));
            goto fail;
        }
        if (l->spec.classifier && !l->nparams) {
            cl_error(st, "layer '%s' (%s): has no parameters, cannot be the classifier",
                     l->spec.name, cl_layer_kind_name(l->spec.kind));
            goto fail;
        }
        l->param_off = np;
        l->buf_off = nb;
        np += l->nparams;
        nb += l->nbufs;
        if (l->nparams) m->nranges++;
        cur = l->out;
    }
    m->nparams = np;
    m->nbufs = nb;
    *out = m;
    return CL_OK;
fail:
    cl_model_destroy(m);
    return st;
}

cl_status cl_model_count(cl_shape in, const cl_layer_spec *specs, int n, int64_t *nparams,
                         int64_t *nbufs)
{
    cl_model *m;
    CL_TRY(plan(&m, in, specs, n));
    *nparams = m->nparams;
    *nbufs = m->nbufs;
    cl_model_destroy(m);
    return CL_OK;
}

cl_status cl_model_create(cl_model **out, cl_shape in, const cl_layer_spec *specs, int n,
                          cl_rng *rng)
{
    CL_ASSERT(out && rng);
    *out = NULL;
    cl_model *m;
    CL_TRY(plan(&m, in, specs, n));
    int64_t np = m->nparams, nb = m->nbufs;
    cl_status st = CL_ENOMEM;
    m->params = cl_alloc_array((size_t)np, sizeof(float), "model parameters");
    m->grads = cl_alloc_array((size_t)np, sizeof(float), "model gradients");
    m->bufs = cl_alloc_array((size_t)nb, sizeof(float), "model buffers");
    m->ranges = cl_alloc_array((size_t)m->nranges, sizeof *m->ranges, "model parameter ranges");
    if (!m->params || !m->grads || !m->bufs || !m->ranges) goto fail;
    int r = 0;
    for (int i = 0; i < n; i++) {
        cl_layer *l = &m->layers[i];
        ops_of(l)->init(l, m->params + l->param_off, m->bufs + l->buf_off, rng);
        if (l->nparams)
            m->ranges[r++] = (cl_param_range){l->param_off, l->nparams, l->spec.classifier,
                                              l->spec.frozen};
    }
    *out = m;
    return CL_OK;
fail:
    cl_model_destroy(m);
    return st;
}

static void free_acts(cl_model *m)
{
    if (m->acts) cl_free(m->acts[0]);
    cl_free(m->acts);
    cl_free(m->saved);
    cl_free(m->ws);
    cl_free(m->dbuf[0]);
    cl_free(m->act_blocked);
    m->act_blocked = NULL;
    m->acts = NULL;
    m->saved = m->ws = m->dbuf[0] = m->dbuf[1] = NULL;
    m->max_n = 0;
}

void cl_model_destroy(cl_model *m)
{
    if (!m) return;
    free_acts(m);
    for (int i = 0; i < m->nlayers; i++)
        if (ops_of(&m->layers[i])->destroy) ops_of(&m->layers[i])->destroy(&m->layers[i]);
    cl_free(m->layers);
    cl_free(m->params);
    cl_free(m->grads);
    cl_free(m->bufs);
    cl_free(m->ranges);
    cl_free(m);
}

/* Rounds a float count up to a multiple of 16 (64 bytes). */
static int add16(size_t *total, int64_t v)
{
    size_t r = ((size_t)v + 15) & ~(size_t)15;
    return v >= 0 && cl_add_ok(*total, r, total);
}

cl_status cl_model_alloc(cl_model *m, int max_n)
{
    if (max_n < 1) return cl_error(CL_EINVAL, "model: batch size must be >= 1 (got %d)", max_n);
    if (m->acts && max_n <= m->max_n) return CL_OK;
    free_acts(m);
    size_t nact = 0, nsaved = 0, nws = 0, big = 0;
    int ok = cl_mul_ok((size_t)max_n, (size_t)cl_shape_size(m->in), &big);
    for (int i = 0; i < m->nlayers && ok; i++) {
        cl_layer *l = &m->layers[i];
        size_t a;
        if (!cl_mul_ok((size_t)max_n, (size_t)cl_shape_size(l->out), &a)) {
            ok = 0; /* a is unset on overflow: do not read it */
            break;
        }
        ok = add16(&nact, (int64_t)a);
        if (a > big) big = a;
        l->saved_off = (int64_t)nsaved;
        ok = ok && add16(&nsaved, ops_of(l)->saved_floats(l, max_n));
        int64_t w = ops_of(l)->ws_floats(l, max_n);
        if (w < 0) ok = 0;
        if ((size_t)w > nws) nws = (size_t)w;
    }
    size_t nd;
    if (!ok || !cl_mul_ok(big, 2, &nd))
        return cl_error(CL_ENOMEM, "model: activations for batch %d overflow", max_n);
    m->acts = cl_alloc_array((size_t)m->nlayers, sizeof *m->acts, "activation table");
    float *act = m->acts ? cl_alloc_array(nact, sizeof(float), "activations") : NULL;
    m->saved = cl_alloc_array(nsaved, sizeof(float), "saved state");
    m->ws = cl_alloc_array(nws, sizeof(float), "workspace");
    m->dbuf[0] = cl_alloc_array(nd, sizeof(float), "activation gradients");
    m->act_blocked = cl_alloc((size_t)m->nlayers, "activation layouts");
    if (!m->acts || !act || !m->saved || !m->ws || !m->dbuf[0] || !m->act_blocked) {
        if (m->acts) m->acts[0] = act;
        free_acts(m);
        return CL_ENOMEM;
    }
    m->dbuf[1] = m->dbuf[0] + big;
    size_t off = 0;
    for (int i = 0; i < m->nlayers; i++) {
        m->acts[i] = act + off;
        add16(&off, (int64_t)max_n * cl_shape_size(m->layers[i].out));
    }
    m->max_n = max_n;
    return CL_OK;
}

static int tapped(const int *taps, int ntaps, int i)
{
    for (int k = 0; k < ntaps; k++)
        if (taps[k] == i) return 1;
    return 0;
}

/* What layer i can take and give blocked in this run (CL_BLOCKED_*; r as
 * the layer will see it, without the layout fields). */
static int can_block(const cl_model *m, int i, const cl_run *r)
{
    const cl_layer *l = &m->layers[i];
    return ops_of(l)->blocked_io ? ops_of(l)->blocked_io(l, r) : 0;
}

/* Layer i's run: batch, mode, workspace, BN group (no layouts) */
static cl_run plain_run(const cl_model *m, int i, int n, int train)
{
    return (cl_run){n, train && i >= m->eval_prefix, m->ws, m->bn_comm, 0, 0};
}

/* ... and the layouts of its x and y from the last forward */
static cl_run layer_run(const cl_model *m, int i, int n, int train)
{
    cl_run r = plain_run(m, i, n, train);
    r.in_blocked = i > 0 && m->act_blocked[i - 1];
    r.out_blocked = m->act_blocked[i];
    return r;
}

static const float *forward(cl_model *m, const float *x, int n, int train, int all,
                            const int *taps, int ntaps)
{
    CL_ASSERT(n >= 1 && n <= m->max_n);
    /* the layouts first: acts[i] stays blocked when layers i and i + 1
     * both support it and the caller does not read it */
    int next = 0; /* what layer i + 1 can take and give */
    for (int i = m->nlayers - 1; i >= 0; i--) {
        cl_run r = plain_run(m, i, n, train);
        int can = all ? 0 : can_block(m, i, &r);
        m->act_blocked[i] = (can & CL_BLOCKED_OUT) && (next & CL_BLOCKED_IN) &&
                            !tapped(taps, ntaps, i);
        next = can;
    }
    const float *in = x;
    for (int i = 0; i < m->nlayers; i++) {
        cl_layer *l = &m->layers[i];
        cl_run r = layer_run(m, i, n, train);
        ops_of(l)->forward(l, &r, m->params + l->param_off, m->bufs + l->buf_off, in, m->acts[i],
                           m->saved + l->saved_off);
        in = m->acts[i];
    }
    return m->acts[m->nlayers - 1];
}

const float *cl_model_forward(cl_model *m, const float *x, int n, int train)
{
    return forward(m, x, n, train, 1, NULL, 0);
}

const float *cl_model_forward_taps(cl_model *m, const float *x, int n, int train,
                                   const int *taps, int ntaps)
{
    return forward(m, x, n, train, 0, taps, ntaps);
}

/* Whether the backward runs ReLU layer i and the batch norm i - 1 before
 * it as one fused kernel (cl_bn_backward_relu_layer with the ReLU's output
 * as the mask: the same bits as the two backwards, one pass over memory
 * less). Not with synchronised BN (its fused path needs a buffer for the
 * masked gradient) and not when the BN gets no backward. */
static int fuse_bn_relu(const cl_model *m, int i, int first)
{
    return i - 1 >= first && m->layers[i].spec.kind == CL_LAYER_RELU &&
           m->layers[i - 1].spec.kind == CL_LAYER_BATCHNORM && !m->bn_comm;
}

void cl_model_backward(cl_model *m, const float *x, const float *dlogits, int n, int train)
{
    CL_ASSERT(n >= 1 && n <= m->max_n);
    /* layers before the first trained one (with parameters, not frozen)
     * need no backward: no dx, and gradients that no optimizer reads */
    int first = 0;
    while (first < m->nlayers && (!m->layers[first].nparams || m->layers[first].spec.frozen))
        first++;
    const float *dy = dlogits;
    for (int i = m->nlayers - 1; i >= first; i--) {
        cl_layer *l = &m->layers[i];
        /* dx goes to the gradient buffer that does not hold dy */
        float *dx = i == first ? NULL : m->dbuf[(i & 1) ^ (dy == m->dbuf[i & 1])];
        if (fuse_bn_relu(m, i, first)) { /* ReLU i and BN i - 1 in one kernel */
            l = &m->layers[--i];
            cl_run r = layer_run(m, i, n, train);
            CL_ASSERT(!r.in_blocked && !r.out_blocked && !m->act_blocked[i + 1]);
            dx = i == first ? NULL : dx;
            cl_bn_backward_relu_layer(l, &r, m->params + l->param_off, i ? m->acts[i - 1] : x,
                                      m->acts[i + 1], m->saved + l->saved_off, dy, NULL, 0, dx,
                                      m->grads + l->param_off);
        } else {
            cl_run r = layer_run(m, i, n, train);
            ops_of(l)->backward(l, &r, m->params + l->param_off, i ? m->acts[i - 1] : x,
                                m->acts[i], m->saved + l->saved_off, dy, dx,
                                m->grads + l->param_off);
        }
        if (m->grad_ready && l->nparams) m->grad_ready(m->grad_ready_user, l);
        dy = dx;
    }
}

void cl_model_zero_grad(cl_model *m)
{
    if (m->nparams) memset(m->grads, 0, sizeof(float) * (size_t)m->nparams);
}

int cl_model_find(const cl_model *m, const char *name)
{
    for (int i = 0; i < m->nlayers; i++)
        if (!strcmp(m->layers[i].spec.name, name)) return i;
    return -1;
}

int cl_model_classifier_index(const cl_model *m)
{
    for (int i = m->nlayers - 1; i >= 0; i--)
        if (m->layers[i].spec.classifier) return i;
    for (int i = m->nlayers - 1; i >= 0; i--)
        if (m->layers[i].spec.kind == CL_LAYER_LINEAR || m->layers[i].spec.kind == CL_LAYER_COSINE)
            return i;
    return -1;
}

int64_t cl_model_trainable_params(const cl_model *m)
{
    int64_t n = 0;
    for (int r = 0; r < m->nranges; r++)
        if (!m->ranges[r].frozen) n += m->ranges[r].len;
    return n;
}

int cl_model_features_nonneg(const cl_model *m)
{
    int i = cl_model_classifier_index(m) - 1;
    while (i >= 0) {
        cl_layer_kind k = m->layers[i].spec.kind;
        if (k == CL_LAYER_RELU || k == CL_LAYER_BLOCK) return 1; /* a block ends with ReLU */
        if (k != CL_LAYER_FLATTEN && k != CL_LAYER_GAP && k != CL_LAYER_AVGPOOL &&
            k != CL_LAYER_MAXPOOL)
            return 0;
        i--;
    }
    return 0;
}

int64_t cl_model_flops(const cl_model *m)
{
    int64_t f = 0;
    for (int i = 0; i < m->nlayers; i++) f += ops_of(&m->layers[i])->flops(&m->layers[i]);
    return f;
}

/* Appends to buf like snprintf, counting what would have been written. */
typedef struct {
    char *buf;
    size_t cap, len;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->len < b->cap ? b->cap - b->len : 0;
    int k = vsnprintf(room ? b->buf + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (k > 0) b->len += (size_t)k;
}

int cl_model_summary(const cl_model *m, char *buf, int cap)
{
    sbuf b = {buf, cap > 0 ? (size_t)cap : 0, 0};
    if (b.cap) buf[0] = 0;
    sb_printf(&b, "%4s  %-9s  %-20s  %-26s  %10s\n", "#", "kind", "name", "in -> out", "params");
    for (int i = 0; i < m->nlayers; i++) {
        const cl_layer *l = &m->layers[i];
        char io[64];
        snprintf(io, sizeof io, "%dx%dx%d -> %dx%dx%d", l->in.c, l->in.h, l->in.w, l->out.c,
                 l->out.h, l->out.w);
        sb_printf(&b, "%4d  %-9s  %-20s  %-26s  %10lld%s\n", i, cl_layer_kind_name(l->spec.kind),
                  l->spec.name, io, (long long)l->nparams, l->spec.frozen ? " (frozen)" : "");
    }
    sb_printf(&b, "total: %d layers, %lld params, %lld bufs, %.2f M multiply-adds per sample\n",
              m->nlayers, (long long)m->nparams, (long long)m->nbufs,
              (double)cl_model_flops(m) / 1e6);
    return b.len > (size_t)0x7fffffff ? 0x7fffffff : (int)b.len;
}
