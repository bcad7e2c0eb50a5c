/* INI model files (libinih) -> layer specs; spec text for checkpoints. */
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/builders.h"
#include "collapse/etf.h"
#include "collapse/mem.h"
#include "collapse/modelcfg.h"

/* Section headers found by a pre-scan (inih never reports a section that
 * has no keys, so an empty "[relu]" would silently vanish). */
typedef struct {
    char name[64];
    int line;
} sect;

typedef struct {
    cl_modelcfg *cfg;
    const char *text;
    const char *cursor; /* start of the next unread line */
    int cursor_line;
    sect *sects;
    int nsects, next_sect;
    int cur;            /* -1 none, -2 [input], -3 [model], >= 0 layer index */
    char cur_name[64];
    int kind_set;       /* current layer had a kind key */
    int cur_line;       /* header line of the current section */
    cl_status st;
} parser;

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) e--;
    *e = 0;
    return s;
}

/* Collects "[name]" header lines. */
static int prescan(const char *text, sect **out)
{
    int n = 0, cap = 16, line = 0;
    sect *s = malloc(sizeof *s * cap);
    if (!s) return -1;
    for (const char *p = text; *p;) {
        line++;
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char buf[256];
        if (len >= sizeof buf) len = sizeof buf - 1;
        memcpy(buf, p, len);
        buf[len] = 0;
        char *t = trim(buf);
        if (*t == '[') {
            char *close = strchr(t, ']');
            if (close) {
                *close = 0;
                if (n == cap) {
                    sect *ns = realloc(s, sizeof *s * (cap *= 2));
                    if (!ns) {
                        free(s);
                        return -1;
                    }
                    s = ns;
                }
                snprintf(s[n].name, sizeof s[n].name, "%s", trim(t + 1));
                s[n].line = line;
                n++;
            }
        }
        p = e ? e + 1 : p + len;
    }
    *out = s;
    return n;
}

/* Line number of the next "key = ..." line (inih reports keys in order). */
static int key_line(parser *ps, const char *key)
{
    size_t kl = strlen(key);
    const char *p = ps->cursor;
    int line = ps->cursor_line;
    while (*p) {
        line++;
        const char *e = strchr(p, '\n');
        const char *q = p;
        while (*q == ' ' || *q == '\t') q++;
        const char *next = e ? e + 1 : p + strlen(p);
        if (!strncmp(q, key, kl)) {
            const char *r = q + kl;
            while (*r == ' ' || *r == '\t') r++;
            if (*r == '=' || *r == ':') {
                ps->cursor = next;
                ps->cursor_line = line;
                return line;
            }
        }
        p = next;
    }
    return ps->cursor_line;
}

static int parse_int(const char *v, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return 0;
    *out = (int)x;
    return 1;
}

static int parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x)) return 0;
    *out = x;
    return 1;
}

static int parse_shape(const char *v, cl_shape *s)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", v);
    int d[3], n = 0;
    for (char *tok = strtok(buf, ", x"); tok; tok = strtok(NULL, ", x")) {
        if (n == 3 || !parse_int(tok, 1, 1 << 20, &d[n])) return 0;
        n++;
    }
    if (n == 1) d[1] = d[2] = 1;
    else if (n != 3) return 0;
    *s = (cl_shape){d[0], d[1], d[2]};
    return 1;
}

static int fail(parser *ps, int line, const char *fmt, const char *a, const char *b)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, a, b);
    ps->st = cl_error(CL_EINVAL, "%s:%d: %s", ps->cfg->name, line, msg);
    return 0;
}

/* Closes the current layer section: it must have had a kind. */
static int end_section(parser *ps)
{
    if (ps->cur >= 0 && !ps->kind_set)
        return fail(ps, ps->cur_line, "layer [%s] has no 'kind'%s", ps->cur_name, "");
    return 1;
}

static int begin_section(parser *ps, const char *section)
{
    if (!end_section(ps)) return 0;
    /* headers skipped by inih were empty sections */
    while (ps->next_sect < ps->nsects && strcmp(ps->sects[ps->next_sect].name, section)) {
        sect *s = &ps->sects[ps->next_sect];
        return fail(ps, s->line, "section [%s] is empty (a layer needs 'kind = ...')%s", s->name,
                    "");
    }
    int line = ps->next_sect < ps->nsects ? ps->sects[ps->next_sect++].line : 0;
    cl_modelcfg *c = ps->cfg;
    snprintf(ps->cur_name, sizeof ps->cur_name, "%s", section);
    ps->cur_line = line;
    ps->kind_set = 0;
    if (!strcmp(section, "input")) {
        ps->cur = -2;
        return 1;
    }
    if (!strcmp(section, "model")) {
        if (c->nspecs) return fail(ps, line, "[model] cannot be mixed with layer sections%s%s", "", "");
        ps->cur = -3;
        return 1;
    }
    if (c->type[0]) return fail(ps, line, "layer section [%s] after [model]%s", section, "");
    if (strlen(section) >= sizeof c->specs[0].name)
        return fail(ps, line, "layer name '%s' is too long%s", section, "");
    for (int i = 0; i < c->nspecs; i++)
        if (!strcmp(c->specs[i].name, section))
            return fail(ps, line, "duplicate layer name [%s]%s", section, "");
    if (c->nspecs == CL_MODELCFG_MAX_LAYERS) return fail(ps, line, "too many layers%s%s", "", "");
    cl_layer_spec *s = &c->specs[c->nspecs];
    memset(s, 0, sizeof *s);
    c->line[c->nspecs] = line;
    snprintf(s->name, sizeof s->name, "%s", section);
    s->bias = 1;
    c->out_line[c->nspecs] = 0;
    ps->cur = c->nspecs++;
    return 1;
}

static int on_model_key(parser *ps, int line, const char *key, const char *v)
{
    cl_modelcfg *c = ps->cfg;
    if (!strcmp(key, "type")) {
        static const char *types[] = {"mlp", "resnet20", "resnet32", "resnet56",
                                      "resnet18", "resnet34", "convnet"};
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcmp(v, types[i])) {
                snprintf(c->type, sizeof c->type, "%s", v);
                return 1;
            }
        return fail(ps, line, "unknown model type '%s'%s", v, "");
    }
    if (!strcmp(key, "width")) {
        if (!parse_int(v, 1, 1 << 16, &c->width)) return fail(ps, line, "bad width '%s'%s", v, "");
        return 1;
    }
    if (!strcmp(key, "depth")) {
        if (!parse_int(v, 0, 1024, &c->depth)) return fail(ps, line, "bad depth '%s'%s", v, "");
        return 1;
    }
    if (!strcmp(key, "bn")) {
        if (!parse_int(v, 0, 1, &c->bn)) return fail(ps, line, "bad bn '%s' (0 or 1)%s", v, "");
        return 1;
    }
    if (!strcmp(key, "width_mult")) {
        if (!parse_double(v, &c->width_mult) || c->width_mult <= 0)
            return fail(ps, line, "bad width_mult '%s'%s", v, "");
        return 1;
    }
    return fail(ps, line, "unknown key '%s' in [model]%s", key, "");
}

static int on_layer_key(parser *ps, int line, const char *key, const char *v)
{
    cl_layer_spec *s = &ps->cfg->specs[ps->cur];
    double d;
    if (!strcmp(key, "kind")) {
        int k = cl_layer_kind_parse(v);
        if (k < 0) return fail(ps, line, "unknown layer kind '%s' in [%s]", v, s->name);
        s->kind = (cl_layer_kind)k;
        ps->kind_set = 1;
        return 1;
    }
    struct {
        const char *key;
        int *dst, lo, hi;
    } ints[] = {{"out", &s->out, 1, 1 << 24},        {"k", &s->k, 1, 1024},
                {"stride", &s->stride, 0, 1024},     {"pad", &s->pad, 0, 1024},
                {"bias", &s->bias, 0, 1},            {"frozen", &s->frozen, 0, 1},
                {"classifier", &s->classifier, 0, 1}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (!strcmp(key, ints[i].key)) {
            if (!parse_int(v, ints[i].lo, ints[i].hi, ints[i].dst))
                return fail(ps, line, "bad value '%s' for '%s'", v, key);
            if (!strcmp(key, "out")) ps->cfg->out_line[ps->cur] = 1;
            return 1;
        }
    if (!strcmp(key, "eps") || !strcmp(key, "momentum")) {
        if (!parse_double(v, &d) || d < 0 || d > 1)
            return fail(ps, line, "bad value '%s' for '%s'", v, key);
        *(!strcmp(key, "eps") ? &s->eps : &s->momentum) = (float)d;
        return 1;
    }
    return fail(ps, line, "unknown key '%s' in layer [%s]", key, s->name);
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
    parser *ps = user;
    if (ps->st != CL_OK) return 0;
    if (ps->cur == -1 || strcmp(section, ps->cur_name))
        if (!begin_section(ps, section)) return 0;
    int line = key_line(ps, key);
    char vbuf[256];
    snprintf(vbuf, sizeof vbuf, "%s", value);
    char *v = trim(vbuf);
    if (ps->cur == -2) {
        if (strcmp(key, "shape")) return fail(ps, line, "unknown key '%s' in [input]%s", key, "");
        if (!parse_shape(v, &ps->cfg->in))
            return fail(ps, line, "bad shape '%s' (want C,H,W)%s", v, "");
        return 1;
    }
    if (ps->cur == -3) return on_model_key(ps, line, key, v);
    return on_layer_key(ps, line, key, v);
}

cl_status cl_modelcfg_parse_text(const char *text, const char *name, cl_modelcfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bn = -1;
    snprintf(cfg->name, sizeof cfg->name, "%s", name ? name : "<text>");
    cfg->specs = cl_alloc_array(CL_MODELCFG_MAX_LAYERS, sizeof *cfg->specs, "model specs");
    if (!cfg->specs) return CL_ENOMEM;
    parser ps = {.cfg = cfg, .text = text, .cursor = text, .cur = -1, .st = CL_OK};
    ps.nsects = prescan(text, &ps.sects);
    if (ps.nsects < 0) {
        cl_modelcfg_free(cfg);
        return cl_error(CL_ENOMEM, "%s: out of memory", cfg->name);
    }
    int rc = ini_parse_string(text, handler, &ps);
    if (ps.st == CL_OK && rc > 0)
        ps.st = cl_error(CL_EINVAL, "%s:%d: syntax error (want [section] or key = value)",
                         cfg->name, rc);
    if (ps.st == CL_OK) end_section(&ps);
    if (ps.st == CL_OK && ps.next_sect < ps.nsects)
        fail(&ps, ps.sects[ps.next_sect].line, "section [%s] is empty%s",
             ps.sects[ps.next_sect].name, "");
    if (ps.st == CL_OK && !cfg->type[0] && cfg->nspecs == 0)
        ps.st = cl_error(CL_EINVAL, "%s: no [model] section and no layers", cfg->name);
    free(ps.sects);
    if (ps.st != CL_OK) {
        cl_status st = ps.st;
        cl_modelcfg_free(cfg);
        return st;
    }
    return CL_OK;
}

cl_status cl_modelcfg_parse_file(const char *path, cl_modelcfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    FILE *f = fopen(path, "rb");
    if (!f) return cl_error(CL_EIO, "%s: cannot open model file", path);
    char *text = NULL;
    cl_status st = CL_OK;
    if (fseek(f, 0, SEEK_END) != 0) {
        st = cl_error(CL_EIO, "%s: cannot read", path);
        goto done;
    }
    long len = ftell(f);
    if (len < 0 || len > (1 << 20)) {
        st = cl_error(CL_EINVAL, "%s: not a model file (size %ld)", path, len);
        goto done;
    }
    rewind(f);
    text = malloc((size_t)len + 1);
    if (!text) {
        st = cl_error(CL_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fread(text, 1, (size_t)len, f) != (size_t)len) {
        st = cl_error(CL_EIO, "%s: read failed", path);
        goto done;
    }
    text[len] = 0;
    if (strlen(text) != (size_t)len) {
        st = cl_error(CL_EINVAL, "%s: not a text file", path);
        goto done;
    }
    st = cl_modelcfg_parse_text(text, path, cfg);
done:
    free(text);
    fclose(f);
    return st;
}

void cl_modelcfg_free(cl_modelcfg *cfg)
{
    if (!cfg) return;
    cl_free(cfg->specs);
    cfg->specs = NULL;
    cfg->nspecs = 0;
}

cl_status cl_modelcfg_from_arch(const char *arch, cl_modelcfg *cfg)
{
    char text[128];
    snprintf(text, sizeof text, "[model]\ntype = %s\n", arch);
    cl_status st = cl_modelcfg_parse_text(text, "--arch", cfg);
    if (st != CL_OK)
        return cl_error(CL_EINVAL, "--arch: unknown architecture '%s' (mlp, resnet20, resnet32, "
                                   "resnet56, resnet18, resnet34, convnet)", arch);
    return CL_OK;
}

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
        CL_ASSERT(len < cap);
    }
    *text = s;
    return CL_OK;
}

int cl_model_classifier_index(const cl_model *m)
{
    for (int i = m->nlayers - 1; i >= 0; i--)
        if (m->layers[i].spec.classifier) return i;
    for (int i = m->nlayers - 1; i >= 0; i--)
        if (m->layers[i].spec.kind == CL_LAYER_LINEAR) return i;
    return -1;
}

/* ---- resolving and building ---- */

static cl_status apply_head(const char *name, cl_layer_spec *specs, int n, const cl_head_opts *h,
                            const int *out_set);

/* Named architectures come from the C builders (builders.h). Keys that the
 * type does not use are errors, not silently ignored. */
static cl_status arch_specs(const cl_modelcfg *cfg, cl_shape in, const cl_head_opts *head,
                            cl_layer_spec **specs, int *n)
{
    (void)in;
    const char *t = cfg->type;
    int mlp = !strcmp(t, "mlp"), conv = !strcmp(t, "convnet"), r18 = !strcmp(t, "resnet18") ||
                                                                      !strcmp(t, "resnet34");
    const char *unused = NULL;
    if (cfg->depth && !mlp && !conv) unused = "depth";
    else if (cfg->bn >= 0 && !mlp && !conv) unused = "bn";
    else if (cfg->width_mult > 0 && !r18) unused = "width_mult";
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
    if ((st = apply_head(cfg->name, s, ns, head, NULL)) != CL_OK) {
        cl_free(s);
        return st;
    }
    *specs = s;
    *n = ns;
    return CL_OK;
}

static int is_shape_preserving(cl_layer_kind k)
{
    return k == CL_LAYER_BATCHNORM || k == CL_LAYER_RELU || k == CL_LAYER_FLATTEN;
}

/* Applies the head options to specs[0..n): the classifier is the last
 * linear layer (or the one marked classifier). */
static cl_status apply_head(const char *name, cl_layer_spec *specs, int n, const cl_head_opts *h,
                            const int *out_set)
{
    int ci = -1;
    for (int i = n - 1; i >= 0 && ci < 0; i--)
        if (specs[i].classifier) ci = i;
    for (int i = n - 1; i >= 0 && ci < 0; i--)
        if (specs[i].kind == CL_LAYER_LINEAR) ci = i;
    if (ci < 0) return cl_error(CL_EINVAL, "%s: no linear classifier layer", name);
    cl_layer_spec *c = &specs[ci];
    c->classifier = 1;
    if (!out_set || !out_set[ci]) c->out = h->classes;
    if (c->out != h->classes)
        return cl_error(CL_EINVAL, "%s: classifier [%s] has out = %d but the data has %d classes",
                        name, c->name, c->out, h->classes);
    if (h->etf) {
        c->frozen = 1;
        c->bias = 0;
    } else if (!h->bias) {
        c->bias = 0;
    }
    if (h->feature_dim > 0) {
        int j = ci - 1;
        while (j >= 0 && is_shape_preserving(specs[j].kind)) j--;
        if (j < 0 || specs[j].kind != CL_LAYER_LINEAR)
            return cl_error(CL_EINVAL, "%s: --feature-dim needs a linear layer before the "
                                       "classifier (only batchnorm/relu/flatten in between)", name);
        specs[j].out = h->feature_dim;
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
    cl_status st = apply_head(cfg->name, s, cfg->nspecs, head, cfg->out_line);
    if (st != CL_OK) {
        cl_free(s);
        return st;
    }
    *specs = s;
    *n = cfg->nspecs;
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
        int D = (int)cl_shape_size(l->in), K = (int)cl_shape_size(l->out);
        if ((st = cl_etf_fill(m->params + l->param_off, K, D, (cl_etf_mode)head->etf_mode,
                              head->etf_seed)) != CL_OK)
            goto fail;
        for (int64_t i = (int64_t)K * D; i < l->nparams; i++) m->params[l->param_off + i] = 0;
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

cl_status cl_modelcfg_rebuild(const char *text, const char *name, cl_model **model)
{
    cl_modelcfg c;
    *model = NULL;
    CL_TRY(cl_modelcfg_parse_text(text, name, &c));
    cl_status st = CL_OK;
    if (c.type[0] || !c.in.c)
        st = cl_error(CL_EFORMAT, "%s: model text lacks the explicit layer list", name);
    cl_rng rng;
    cl_rng_seed(&rng, 0);
    if (st == CL_OK) st = cl_model_create(model, c.in, c.specs, c.nspecs, &rng);
    cl_modelcfg_free(&c);
    return st;
}
