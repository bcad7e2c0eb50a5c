/* INI model files (libinih) -> cl_modelcfg. Resolving a cfg into specs and
 * a model, and the checkpoint spec text: cfg_build.c. */
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/builders.h"
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

/* Counts the "[name]" header lines and, if s != NULL, stores them. */
static int scan_headers(const char *text, sect *s)
{
    int n = 0, line = 0;
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
                if (s) {
                    snprintf(s[n].name, sizeof s[n].name, "%s", trim(t + 1));
                    s[n].line = line;
                }
                n++;
            }
        }
        p = e ? e + 1 : p + len;
    }
    return n;
}

/* Collects the header lines into *out (cl_alloc'ed); -1 when out of memory. */
static int prescan(const char *text, sect **out)
{
    int n = scan_headers(text, NULL);
    *out = cl_alloc_array((size_t)n, sizeof **out, "model file sections");
    if (!*out) return -1;
    return scan_headers(text, *out);
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
    c->out_set[c->nspecs] = 0;
    ps->cur = c->nspecs++;
    return 1;
}

static int on_model_key(parser *ps, int line, const char *key, const char *v)
{
    cl_modelcfg *c = ps->cfg;
    if (!strcmp(key, "type")) {
        if (!cl_arch_find(v)) return fail(ps, line, "unknown model type '%s'%s", v, "");
        snprintf(c->type, sizeof c->type, "%s", v);
        return 1;
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
        if (cl_layer_kind_parse(v, &s->kind) != CL_OK)
            return fail(ps, line, "unknown layer kind '%s' in [%s]", v, s->name);
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
            if (!strcmp(key, "out")) ps->cfg->out_set[ps->cur] = 1;
            return 1;
        }
    if (!strcmp(key, "temperature")) {
        if (!parse_double(v, &d) || !(d > 0) || d > 1e6)
            return fail(ps, line, "bad value '%s' for '%s' (> 0)", v, key);
        s->temperature = (float)d;
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
    cl_free(ps.sects);
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
    text = cl_alloc((size_t)len + 1, "model file");
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
    cl_free(text);
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
    if (!cl_arch_find(arch)) {
        memset(cfg, 0, sizeof *cfg);
        char names[128];
        cl_arch_names(names, sizeof names, ", ");
        return cl_error(CL_EINVAL, "--arch: unknown architecture '%s' (%s)", arch, names);
    }
    char text[128];
    snprintf(text, sizeof text, "[model]\ntype = %s\n", arch);
    return cl_modelcfg_parse_text(text, "--arch", cfg); /* only CL_ENOMEM can fail */
}
