/* Checkpoint files: the checksummed container (temp name + fsync +
 * rename), the completion marker and the model file (ckpt.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collapse/ckpt.h"
#include "collapse/mem.h"
#include "collapse/sys.h"

#define PATHMAX CL_CKPT_PATHMAX

uint64_t cl_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* ---- writer ---- */

void cl_ckpt_put(cl_ckpt_writer *w, const void *p, size_t n)
{
    if (n == 0) return;
    cl_atomic_put(&w->a, p, n);
    w->h = cl_fnv1a(w->h, p, n);
}

void cl_ckpt_put_i64(cl_ckpt_writer *w, int64_t v) { cl_ckpt_put(w, &v, 8); }
void cl_ckpt_put_i32(cl_ckpt_writer *w, int32_t v) { cl_ckpt_put(w, &v, 4); }

cl_status cl_ckpt_writer_open(cl_ckpt_writer *w, const char *path, const char *magic,
                              int64_t step)
{
    memset(w, 0, sizeof *w);
    w->h = CL_FNV_INIT;
    CL_TRY(cl_atomic_open(&w->a, path));
    cl_ckpt_put(w, magic, 8);
    cl_ckpt_put_i32(w, CL_CKPT_VERSION);
    cl_ckpt_put_i32(w, 0);
    cl_ckpt_put_i64(w, step);
    return CL_OK;
}

cl_status cl_ckpt_writer_close(cl_ckpt_writer *w)
{
    uint64_t h = w->h;
    cl_ckpt_put(w, &h, 8);
    return cl_atomic_commit(&w->a);
}

/* ---- reader ---- */

void cl_ckpt_get(cl_ckpt_reader *r, void *p, size_t n)
{
    if (r->err || n == 0) return;
    if (fread(p, 1, n, r->f) != n) {
        r->err = 1;
        memset(p, 0, n);
        return;
    }
    r->h = cl_fnv1a(r->h, p, n);
}

int64_t cl_ckpt_get_i64(cl_ckpt_reader *r)
{
    int64_t v = 0;
    cl_ckpt_get(r, &v, 8);
    return v;
}

int32_t cl_ckpt_get_i32(cl_ckpt_reader *r)
{
    int32_t v = 0;
    cl_ckpt_get(r, &v, 4);
    return v;
}

int64_t cl_ckpt_bytes_left(cl_ckpt_reader *r)
{
    struct stat sb;
    off_t at = ftello(r->f);
    if (at < 0 || fstat(fileno(r->f), &sb) != 0 || sb.st_size < at) return 0;
    return (int64_t)(sb.st_size - at);
}

cl_status cl_ckpt_reader_open(cl_ckpt_reader *r, const char *path, const char *magic,
                              const char *what, int64_t *step)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->h = CL_FNV_INIT;
    r->f = fopen(path, "rb");
    if (!r->f) return cl_error(CL_EIO, "%s: cannot open: %s", path, strerror(errno));
    char mg[8];
    cl_ckpt_get(r, mg, 8);
    int32_t ver = cl_ckpt_get_i32(r);
    (void)cl_ckpt_get_i32(r);
    *step = cl_ckpt_get_i64(r);
    if (r->err || memcmp(mg, magic, 8)) {
        cl_ckpt_reader_abort(r);
        return cl_error(CL_EFORMAT, "%s: not a collapse %s file (bad magic)", path, what);
    }
    if (ver != CL_CKPT_VERSION) {
        cl_ckpt_reader_abort(r);
        return cl_error(CL_EFORMAT, "%s: unsupported checkpoint version %d", path, ver);
    }
    return CL_OK;
}

void cl_ckpt_reader_abort(cl_ckpt_reader *r)
{
    if (r->f) fclose(r->f);
    r->f = NULL;
}

cl_status cl_ckpt_reader_close(cl_ckpt_reader *r)
{
    uint64_t want = r->h, got = 0;
    cl_ckpt_get(r, &got, 8);
    int extra = fgetc(r->f) != EOF;
    cl_ckpt_reader_abort(r);
    if (r->err) return cl_error(CL_EFORMAT, "%s: truncated", r->path);
    if (got != want || extra)
        return cl_error(CL_EFORMAT, "%s: checksum mismatch (corrupt)", r->path);
    return CL_OK;
}

/* ---- completion marker ---- */

cl_status cl_ckpt_begin(const char *dir)
{
    char marker[PATHMAX];
    CL_TRY(cl_mkdir_p(dir));
    (void)cl_atomic_sync_parent(dir); /* the slot folder's own entry reaches the disk too */
    snprintf(marker, sizeof marker, "%s/ckpt.done", dir);
    if (remove(marker) != 0 && errno != ENOENT)
        return cl_error(CL_EIO, "%s: cannot remove: %s", marker, strerror(errno));
    return CL_OK;
}

cl_status cl_ckpt_commit(const char *dir, int64_t step)
{
    char marker[PATHMAX], text[64];
    snprintf(marker, sizeof marker, "%s/ckpt.done", dir);
    int n = snprintf(text, sizeof text, "collapse checkpoint step=%lld\n", (long long)step);
    return cl_atomic_write_file(marker, text, (size_t)n);
}

int cl_ckpt_marker(const char *dir, int64_t *step)
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

/* ---- slots ---- */

void cl_ckpt_slot_dir(const char *dir, int slot, char *out, size_t cap)
{
    if (slot < 0)
        snprintf(out, cap, "%s", dir);
    else
        snprintf(out, cap, "%s/%c", dir, 'a' + slot);
}

/* Reads a whole container: header version and checksum. *step = its
 * header's step. Errors as cl_ckpt_reader_close, CL_EIO if missing. */
static cl_status verify_file(const char *path, int64_t *step)
{
    char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return cl_error(CL_EIO, "%s: missing: %s", path, strerror(errno));
    size_t got = fread(magic, 1, 8, f);
    fclose(f);
    if (got != 8) return cl_error(CL_EFORMAT, "%s: truncated", path);
    cl_ckpt_reader r;
    CL_TRY(cl_ckpt_reader_open(&r, path, magic, "checkpoint", step));
    unsigned char buf[1 << 14];
    for (int64_t left = cl_ckpt_bytes_left(&r) - 8; left > 0 && !r.err;
         left -= (int64_t)sizeof buf)
        cl_ckpt_get(&r, buf, left < (int64_t)sizeof buf ? (size_t)left : sizeof buf);
    return cl_ckpt_reader_close(&r);
}

/* A complete candidate: both files pass their checksums and name the
 * marker's step. */
static cl_status verify_slot(const char *slot, int64_t step)
{
    static const char *const files[2] = {"model.ckpt", "state.ckpt"};
    for (int i = 0; i < 2; i++) {
        char path[PATHMAX + 16];
        int64_t s = -1;
        snprintf(path, sizeof path, "%s/%s", slot, files[i]);
        CL_TRY(verify_file(path, &s));
        if (s != step)
            return cl_error(CL_EFORMAT, "%s: step %lld, its marker says %lld", path,
                            (long long)s, (long long)step);
    }
    return CL_OK;
}

/* The candidates of dir holding a marker, newest first: idx[] (slot
 * numbers, -1 = dir itself) and steps[]; returns their count. */
static int candidates(const char *dir, int idx[3], int64_t steps[3])
{
    int n = 0;
    for (int c = 0; c < CL_CKPT_NSLOTS + 1; c++) {
        int slot = c < CL_CKPT_NSLOTS ? c : -1;
        char sd[PATHMAX];
        int64_t s;
        cl_ckpt_slot_dir(dir, slot, sd, sizeof sd);
        if (!cl_ckpt_marker(sd, &s)) continue;
        int k = n++;
        for (; k > 0 && steps[k - 1] < s; k--) { /* stable: a before b before dir */
            idx[k] = idx[k - 1];
            steps[k] = steps[k - 1];
        }
        idx[k] = slot;
        steps[k] = s;
    }
    return n;
}

cl_status cl_ckpt_find(const char *dir, cl_ckpt_found *f)
{
    memset(f, 0, sizeof *f);
    f->index = -1;
    int idx[3];
    int64_t steps[3];
    int n = candidates(dir, idx, steps);
    if (n == 0)
        return cl_error(CL_EIO, "%s: no complete checkpoint (no ckpt.done marker)", dir);
    char first_err[1024] = "";
    for (int i = 0; i < n; i++) {
        cl_ckpt_slot_dir(dir, idx[i], f->slot, sizeof f->slot);
        if (verify_slot(f->slot, steps[i]) == CL_OK) {
            f->index = idx[i];
            f->step = steps[i];
            cl_errclear();
            return CL_OK;
        }
        size_t len = strlen(f->skipped);
        snprintf(f->skipped + len, sizeof f->skipped - len, "%s%s", len ? "; " : "",
                 cl_errmsg());
        if (!i) snprintf(first_err, sizeof first_err, "%s", cl_errmsg());
    }
    cl_ckpt_slot_dir(dir, idx[0], f->slot, sizeof f->slot); /* the newest, for messages */
    f->index = idx[0];
    f->step = steps[0];
    return cl_error(CL_EFORMAT, "%s%s", first_err,
                    n > 1 ? "; no older checkpoint is intact either" : "");
}

int cl_ckpt_slot_next(const char *dir, int newest)
{
    if (newest >= 0 && newest < CL_CKPT_NSLOTS) return 1 - newest;
    int64_t s[CL_CKPT_NSLOTS];
    for (int k = 0; k < CL_CKPT_NSLOTS; k++) {
        char sd[PATHMAX];
        cl_ckpt_slot_dir(dir, k, sd, sizeof sd);
        if (!cl_ckpt_marker(sd, &s[k])) return k;
    }
    return s[1] < s[0];
}

int cl_ckpt_exists(const char *dir)
{
    int idx[3];
    int64_t steps[3];
    return candidates(dir, idx, steps) > 0;
}

/* ---- model file ---- */

cl_status cl_ckpt_save_model(const char *dir, const float *params, int64_t nparams,
                             const float *bufs, int64_t nbufs, const char *model_text,
                             int64_t step)
{
    char path[PATHMAX];
    cl_ckpt_writer w;
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    CL_TRY(cl_ckpt_writer_open(&w, path, "CLMODEL1", step));
    int64_t tl = (int64_t)strlen(model_text);
    cl_ckpt_put_i64(&w, tl);
    cl_ckpt_put(&w, model_text, (size_t)tl);
    cl_ckpt_put_i64(&w, nparams);
    cl_ckpt_put_i64(&w, nbufs);
    cl_ckpt_put(&w, params, sizeof(float) * (size_t)nparams);
    cl_ckpt_put(&w, bufs, sizeof(float) * (size_t)nbufs);
    return cl_ckpt_writer_close(&w);
}

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

cl_status cl_ckpt_resolve(const char *path, char *file, int cap, cl_ckpt_found *found)
{
    cl_ckpt_found local, *f = found ? found : &local;
    memset(f, 0, sizeof *f);
    f->index = -1;
    if (!is_dir(path)) {
        snprintf(file, (size_t)cap, "%s", path);
        return CL_OK;
    }
    char dir[PATHMAX + 16];
    snprintf(dir, sizeof dir, "%s", path);
    if (!cl_ckpt_exists(dir)) {
        char sub[PATHMAX + 16], model[PATHMAX + 16];
        snprintf(sub, sizeof sub, "%s/checkpoint", path);
        snprintf(model, sizeof model, "%s/model.ckpt", path);
        if (cl_ckpt_exists(sub))
            snprintf(dir, sizeof dir, "%s", sub);
        else if (access(model, F_OK) == 0) { /* a lone model file (no marker) */
            snprintf(file, (size_t)cap, "%s", model);
            return CL_OK;
        }
    }
    cl_status st = cl_ckpt_find(dir, f);
    if (st == CL_OK || f->slot[0])
        snprintf(file, (size_t)cap, "%s/model.ckpt", f->slot);
    else
        snprintf(file, (size_t)cap, "%s/model.ckpt", dir);
    return st;
}

void cl_ckpt_model_path(const char *path, char *out, int cap)
{
    (void)cl_ckpt_resolve(path, out, cap, NULL);
    cl_errclear();
}

static int sane_len(int64_t n, int64_t max) { return n >= 0 && n <= max; }

cl_status cl_ckpt_read_model(const char *path_in, char **text, float **params, int64_t *nparams,
                             float **bufs, int64_t *nbufs, int64_t *step)
{
    char path[PATHMAX];
    CL_TRY(cl_ckpt_resolve(path_in, path, sizeof path, NULL));
    cl_ckpt_reader s;
    int64_t stp;
    *text = NULL;
    *params = *bufs = NULL;
    CL_TRY(cl_ckpt_reader_open(&s, path, "CLMODEL1", "model checkpoint", &stp));
    cl_status st = CL_OK;
    int64_t tl = cl_ckpt_get_i64(&s);
    if (!sane_len(tl, 1 << 24) || tl > cl_ckpt_bytes_left(&s)) goto bad;
    *text = cl_alloc((size_t)tl + 1, "checkpoint model text");
    if (!*text) {
        st = CL_ENOMEM;
        goto fail;
    }
    cl_ckpt_get(&s, *text, (size_t)tl);
    (*text)[tl] = 0;
    *nparams = cl_ckpt_get_i64(&s);
    *nbufs = cl_ckpt_get_i64(&s);
    if (s.err || !sane_len(*nparams, (int64_t)1 << 34) || !sane_len(*nbufs, (int64_t)1 << 34) ||
        *nparams + *nbufs > cl_ckpt_bytes_left(&s) / 4)
        goto bad;
    *params = cl_alloc_array((size_t)*nparams, sizeof(float), "checkpoint params");
    *bufs = cl_alloc_array((size_t)*nbufs, sizeof(float), "checkpoint bufs");
    if (!*params || !*bufs) {
        st = CL_ENOMEM;
        goto fail;
    }
    cl_ckpt_get(&s, *params, sizeof(float) * (size_t)*nparams);
    cl_ckpt_get(&s, *bufs, sizeof(float) * (size_t)*nbufs);
    if (step) *step = stp;
    st = cl_ckpt_reader_close(&s);
    if (st != CL_OK) goto out;
    return CL_OK;
bad:
    st = cl_error(CL_EFORMAT, "%s: truncated or corrupt header", path);
fail:
    cl_ckpt_reader_abort(&s);
out:
    cl_free(*text);
    cl_free(*params);
    cl_free(*bufs);
    *text = NULL;
    *params = *bufs = NULL;
    return st;
}

cl_status cl_ckpt_load_params(const char *path, float *params, int64_t nparams, float *bufs,
                              int64_t nbufs)
{
    char *text;
    float *p, *b;
    int64_t np, nb;
    CL_TRY(cl_ckpt_read_model(path, &text, &p, &np, &b, &nb, NULL));
    cl_status st = CL_OK;
    if (np != nparams || nb != nbufs)
        st = cl_error(CL_EFORMAT, "%s: checkpoint has %lld params/%lld bufs, model has %lld/%lld",
                      path, (long long)np, (long long)nb, (long long)nparams, (long long)nbufs);
    else {
        memcpy(params, p, sizeof(float) * (size_t)np);
        memcpy(bufs, b, sizeof(float) * (size_t)nb);
    }
    cl_free(text);
    cl_free(p);
    cl_free(b);
    return st;
}
