/* Checkpoint files: temp name + fsync + rename, completion marker. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collapse/sys.h"
#include "collapse/ckpt.h"
#include "collapse/mem.h"

#define PATHMAX 4096

uint64_t cl_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A checked, checksummed writer / reader. */
typedef struct {
    FILE *f;
    const char *path;
    uint64_t h;
    int err;
} wstream;

static void w(wstream *s, const void *p, size_t n)
{
    if (s->err || n == 0) return;
    if (fwrite(p, 1, n, s->f) != n) s->err = 1;
    s->h = cl_fnv1a(s->h, p, n);
}

static void w64(wstream *s, int64_t v) { w(s, &v, 8); }
static void w32(wstream *s, int32_t v) { w(s, &v, 4); }

typedef struct {
    FILE *f;
    const char *path;
    uint64_t h;
    int err;
} rstream;

static void r(rstream *s, void *p, size_t n)
{
    if (s->err || n == 0) return;
    if (fread(p, 1, n, s->f) != n) {
        s->err = 1;
        memset(p, 0, n);
        return;
    }
    s->h = cl_fnv1a(s->h, p, n);
}

static int64_t r64(rstream *s)
{
    int64_t v = 0;
    r(s, &v, 8);
    return v;
}

static int32_t r32(rstream *s)
{
    int32_t v = 0;
    r(s, &v, 4);
    return v;
}

static void w_rng(wstream *s, const cl_rng *g)
{
    w(s, g->s, sizeof g->s);
    w(s, &g->spare, sizeof g->spare);
    w32(s, g->has_spare);
    w32(s, 0);
}

static void r_rng(rstream *s, cl_rng *g)
{
    r(s, g->s, sizeof g->s);
    r(s, &g->spare, sizeof g->spare);
    g->has_spare = r32(s);
    (void)r32(s);
}


static cl_status open_w(wstream *s, const char *tmp)
{
    memset(s, 0, sizeof *s);
    s->path = tmp;
    s->h = CL_FNV_INIT;
    s->f = fopen(tmp, "wb");
    if (!s->f) return cl_error(CL_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    return CL_OK;
}

/* Appends the checksum, flushes, fsyncs, closes and renames tmp -> path. */
static cl_status finish_w(wstream *s, const char *path)
{
    uint64_t h = s->h;
    w(s, &h, 8);
    int bad = s->err || fflush(s->f) != 0 || fsync(fileno(s->f)) != 0;
    bad |= fclose(s->f) != 0;
    if (bad) {
        remove(s->path);
        return cl_error(CL_EIO, "%s: write failed", s->path);
    }
    if (rename(s->path, path) != 0) {
        remove(s->path);
        return cl_error(CL_EIO, "%s: rename failed: %s", path, strerror(errno));
    }
    return CL_OK;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void header(wstream *s, const char *magic, int64_t step)
{
    w(s, magic, 8);
    w32(s, CL_CKPT_VERSION);
    w32(s, 0);
    w64(s, step);
}

cl_status cl_ckpt_save(const char *dir, const cl_model *m, const char *model_text,
                       const cl_ckpt_state *st, const cl_optim *o)
{
    char path[PATHMAX], tmp[PATHMAX + 8], marker[PATHMAX];
    wstream s;
    cl_status rc;
    CL_TRY(cl_mkdir_p(dir));
    snprintf(marker, sizeof marker, "%s/ckpt.done", dir);
    if (remove(marker) != 0 && errno != ENOENT)
        return cl_error(CL_EIO, "%s: cannot remove: %s", marker, strerror(errno));

    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CL_TRY(open_w(&s, tmp));
    header(&s, "CLMODEL1", st->step);
    int64_t tl = (int64_t)strlen(model_text);
    w64(&s, tl);
    w(&s, model_text, (size_t)tl);
    w64(&s, m->nparams);
    w64(&s, m->nbufs);
    w(&s, m->params, sizeof(float) * (size_t)m->nparams);
    w(&s, m->bufs, sizeof(float) * (size_t)m->nbufs);
    if ((rc = finish_w(&s, path)) != CL_OK) return rc;

    snprintf(path, sizeof path, "%s/state.ckpt", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CL_TRY(open_w(&s, tmp));
    header(&s, "CLSTATE1", st->step);
    w32(&s, st->epoch);
    w32(&s, 0);
    w64(&s, st->pos);
    w(&s, &st->config_hash, 8);
    w_rng(&s, &st->rng_data);
    w_rng(&s, &st->rng_aug);
    w64(&s, st->n);
    w(&s, st->perm, sizeof(int32_t) * (size_t)st->n);
    w32(&s, o ? (int32_t)o->cfg.kind : -1);
    w32(&s, 0);
    w64(&s, o ? o->step : 0);
    w64(&s, o ? o->state_len : 0);
    if (o) w(&s, o->state, sizeof(float) * (size_t)o->state_len);
    if ((rc = finish_w(&s, path)) != CL_OK) return rc;

    snprintf(tmp, sizeof tmp, "%s.tmp", marker);
    FILE *f = fopen(tmp, "wb");
    if (!f) return cl_error(CL_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    int bad = fprintf(f, "collapse checkpoint step=%lld\n", (long long)st->step) < 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, marker) != 0) {
        remove(tmp);
        return cl_error(CL_EIO, "%s: write failed", marker);
    }
    sync_dir(dir);
    return CL_OK;
}

static int read_marker(const char *dir, int64_t *step)
{
    char marker[PATHMAX];
    snprintf(marker, sizeof marker, "%s/ckpt.done", dir);
    FILE *f = fopen(marker, "rb");
    if (!f) return 0;
    long long s = -1;
    int ok = fscanf(f, "collapse checkpoint step=%lld", &s) == 1;
    fclose(f);
    if (ok) *step = s;
    return ok;
}

int cl_ckpt_exists(const char *dir)
{
    int64_t s;
    return read_marker(dir, &s);
}

void cl_ckpt_model_path(const char *path, char *out, int cap)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(out, (size_t)cap, "%s/model.ckpt", path);
        if (access(out, F_OK) != 0) snprintf(out, (size_t)cap, "%s/checkpoint/model.ckpt", path);
    } else {
        snprintf(out, (size_t)cap, "%s", path);
    }
}

static cl_status open_r(rstream *s, const char *path, const char *magic, int64_t *step)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->h = CL_FNV_INIT;
    s->f = fopen(path, "rb");
    if (!s->f) return cl_error(CL_EIO, "%s: cannot open: %s", path, strerror(errno));
    char mg[8];
    r(s, mg, 8);
    int32_t ver = r32(s);
    (void)r32(s);
    *step = r64(s);
    if (s->err || memcmp(mg, magic, 8)) {
        fclose(s->f);
        return cl_error(CL_EFORMAT, "%s: not a collapse %s file (bad magic)", path,
                        magic[2] == 'M' ? "model checkpoint" : "state checkpoint");
    }
    if (ver != CL_CKPT_VERSION) {
        fclose(s->f);
        return cl_error(CL_EFORMAT, "%s: unsupported checkpoint version %d", path, ver);
    }
    return CL_OK;
}

/* Verifies the trailing checksum and that nothing follows; closes. */
static cl_status close_r(rstream *s)
{
    uint64_t want = s->h, got = 0;
    r(s, &got, 8);
    int extra = fgetc(s->f) != EOF;
    fclose(s->f);
    if (s->err) return cl_error(CL_EFORMAT, "%s: truncated", s->path);
    if (got != want || extra) return cl_error(CL_EFORMAT, "%s: checksum mismatch (corrupt)", s->path);
    return CL_OK;
}

static int sane_len(int64_t n, int64_t max) { return n >= 0 && n <= max; }

/* Bytes after the read position: every size read from the file is checked
 * against it before anything is allocated (found by fuzzing, issue 11). */
static int64_t bytes_left(rstream *s)
{
    struct stat sb;
    off_t at = ftello(s->f);
    if (at < 0 || fstat(fileno(s->f), &sb) != 0 || sb.st_size < at) return 0;
    return (int64_t)(sb.st_size - at);
}

cl_status cl_ckpt_read_model(const char *path_in, char **text, float **params, int64_t *nparams,
                             float **bufs, int64_t *nbufs, int64_t *step)
{
    char path[PATHMAX];
    cl_ckpt_model_path(path_in, path, sizeof path);
    rstream s;
    int64_t stp;
    *text = NULL;
    *params = *bufs = NULL;
    CL_TRY(open_r(&s, path, "CLMODEL1", &stp));
    cl_status st = CL_OK;
    int64_t tl = r64(&s);
    if (!sane_len(tl, 1 << 24) || tl > bytes_left(&s)) goto bad;
    *text = cl_alloc((size_t)tl + 1, "checkpoint model text");
    if (!*text) {
        st = CL_ENOMEM;
        goto fail;
    }
    r(&s, *text, (size_t)tl);
    (*text)[tl] = 0;
    *nparams = r64(&s);
    *nbufs = r64(&s);
    if (s.err || !sane_len(*nparams, (int64_t)1 << 34) || !sane_len(*nbufs, (int64_t)1 << 34) ||
        *nparams + *nbufs > bytes_left(&s) / 4)
        goto bad;
    *params = cl_alloc_array((size_t)*nparams, sizeof(float), "checkpoint params");
    *bufs = cl_alloc_array((size_t)*nbufs, sizeof(float), "checkpoint bufs");
    if (!*params || !*bufs) {
        st = CL_ENOMEM;
        goto fail;
    }
    r(&s, *params, sizeof(float) * (size_t)*nparams);
    r(&s, *bufs, sizeof(float) * (size_t)*nbufs);
    if (step) *step = stp;
    st = close_r(&s);
    if (st != CL_OK) goto out;
    return CL_OK;
bad:
    st = cl_error(CL_EFORMAT, "%s: truncated or corrupt header", path);
fail:
    fclose(s.f);
out:
    cl_free(*text);
    cl_free(*params);
    cl_free(*bufs);
    *text = NULL;
    *params = *bufs = NULL;
    return st;
}

cl_status cl_ckpt_load_params(const char *path, cl_model *m)
{
    char *text;
    float *p, *b;
    int64_t np, nb;
    CL_TRY(cl_ckpt_read_model(path, &text, &p, &np, &b, &nb, NULL));
    cl_status st = CL_OK;
    if (np != m->nparams || nb != m->nbufs)
        st = cl_error(CL_EFORMAT, "%s: checkpoint has %lld params/%lld bufs, model has %lld/%lld",
                      path, (long long)np, (long long)nb, (long long)m->nparams,
                      (long long)m->nbufs);
    else {
        memcpy(m->params, p, sizeof(float) * (size_t)np);
        memcpy(m->bufs, b, sizeof(float) * (size_t)nb);
    }
    cl_free(text);
    cl_free(p);
    cl_free(b);
    return st;
}

cl_status cl_ckpt_load_state(const char *dir, cl_ckpt_state *out, cl_optim *o)
{
    char path[PATHMAX];
    int64_t mstep, mk;
    memset(out, 0, sizeof *out);
    if (!read_marker(dir, &mk))
        return cl_error(CL_EIO, "%s: no complete checkpoint (ckpt.done missing)", dir);
    /* the model file's step (header only) */
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    rstream s;
    CL_TRY(open_r(&s, path, "CLMODEL1", &mstep));
    fclose(s.f);
    snprintf(path, sizeof path, "%s/state.ckpt", dir);
    int64_t sstep;
    CL_TRY(open_r(&s, path, "CLSTATE1", &sstep));
    cl_status st = CL_OK;
    if (mstep != mk || sstep != mk) {
        fclose(s.f);
        return cl_error(CL_EFORMAT, "%s: model (step %lld), state (step %lld) and marker (step "
                                    "%lld) disagree", dir, (long long)mstep, (long long)sstep,
                        (long long)mk);
    }
    out->step = sstep;
    out->epoch = r32(&s);
    (void)r32(&s);
    out->pos = r64(&s);
    r(&s, &out->config_hash, 8);
    r_rng(&s, &out->rng_data);
    r_rng(&s, &out->rng_aug);
    out->n = r64(&s);
    if (s.err || !sane_len(out->n, (int64_t)1 << 31) || out->n > bytes_left(&s) / 4) goto bad;
    out->perm = cl_alloc_array((size_t)out->n, sizeof(int32_t), "checkpoint permutation");
    if (!out->perm) {
        st = CL_ENOMEM;
        goto fail;
    }
    r(&s, out->perm, sizeof(int32_t) * (size_t)out->n);
    int32_t kind = r32(&s);
    (void)r32(&s);
    int64_t ostep = r64(&s), slen = r64(&s);
    if (s.err || !sane_len(slen, bytes_left(&s) / 4)) goto bad;
    if (o) {
        if (kind != (int32_t)o->cfg.kind || slen != o->state_len) {
            st = cl_error(CL_EFORMAT, "%s: optimizer state (kind %d, %lld floats) does not match "
                                      "the optimizer (kind %d, %lld floats)", path, kind,
                          (long long)slen, (int)o->cfg.kind, (long long)o->state_len);
            goto fail;
        }
        r(&s, o->state, sizeof(float) * (size_t)slen);
        o->step = ostep;
    } else {
        float tmp[256];
        for (int64_t left = slen; left > 0; left -= 256) r(&s, tmp, sizeof(float) * (size_t)(left < 256 ? left : 256));
    }
    st = close_r(&s);
    if (st != CL_OK) goto out;
    return CL_OK;
bad:
    st = cl_error(CL_EFORMAT, "%s: truncated or corrupt", path);
fail:
    fclose(s.f);
out:
    cl_free(out->perm);
    out->perm = NULL;
    return st;
}
