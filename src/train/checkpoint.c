/* The training state in a checkpoint (train.h): what the loop needs
 * besides the model to continue exactly, serialised into io/'s checksummed
 * container (ckpt.h) as DIR/state.ckpt. */
#include <stdio.h>
#include <string.h>

#include "collapse/ckpt.h"
#include "collapse/mem.h"
#include "collapse/train.h"

#define PATHMAX CL_CKPT_PATHMAX

static void put_rng(cl_ckpt_writer *w, const cl_rng *g)
{
    cl_ckpt_put(w, g->s, sizeof g->s);
    cl_ckpt_put(w, &g->spare, sizeof g->spare);
    cl_ckpt_put_i32(w, g->has_spare);
    cl_ckpt_put_i32(w, 0);
}

static void get_rng(cl_ckpt_reader *r, cl_rng *g)
{
    cl_ckpt_get(r, g->s, sizeof g->s);
    cl_ckpt_get(r, &g->spare, sizeof g->spare);
    g->has_spare = cl_ckpt_get_i32(r);
    (void)cl_ckpt_get_i32(r);
}

cl_status cl_train_ckpt_save(const char *dir, const cl_model *m, const char *model_text,
                             const cl_train_state *st, const cl_optim *o)
{
    char path[PATHMAX];
    cl_ckpt_writer w;
    CL_TRY(cl_ckpt_begin(dir));
    CL_TRY(cl_ckpt_save_model(dir, m->params, m->nparams, m->bufs, m->nbufs, model_text,
                                 st->step));

    snprintf(path, sizeof path, "%s/state.ckpt", dir);
    CL_TRY(cl_ckpt_writer_open(&w, path, "CLSTATE1", st->step));
    cl_ckpt_put_i32(&w, st->epoch);
    cl_ckpt_put_i32(&w, 0);
    cl_ckpt_put_i64(&w, st->pos);
    cl_ckpt_put(&w, &st->config_hash, 8);
    put_rng(&w, &st->rng_data);
    put_rng(&w, &st->rng_aug);
    cl_ckpt_put_i64(&w, st->n);
    cl_ckpt_put(&w, st->perm, sizeof(int32_t) * (size_t)st->n);
    cl_ckpt_put_i32(&w, o ? (int32_t)o->cfg.kind : -1);
    cl_ckpt_put_i32(&w, 0);
    cl_ckpt_put_i64(&w, o ? o->step : 0);
    cl_ckpt_put_i64(&w, o ? o->state_len : 0);
    if (o) cl_ckpt_put(&w, o->state, sizeof(float) * (size_t)o->state_len);
    CL_TRY(cl_ckpt_writer_close(&w));

    return cl_ckpt_commit(dir, st->step);
}

static int sane_len(int64_t n, int64_t max) { return n >= 0 && n <= max; }

/* perm [n] must be a permutation of 0..n-1: the trainer gathers samples
 * by these indices. */
static cl_status check_perm(const char *path, const int32_t *perm, int64_t n)
{
    unsigned char *seen = cl_alloc((size_t)n + 1, "permutation check");
    if (!seen) return CL_ENOMEM;
    memset(seen, 0, (size_t)n + 1);
    cl_status st = CL_OK;
    for (int64_t i = 0; i < n && st == CL_OK; i++) {
        if (perm[i] < 0 || perm[i] >= n)
            st = cl_error(CL_EFORMAT, "%s: corrupt data permutation: index %lld at position "
                                      "%lld is outside [0, %lld)",
                          path, (long long)perm[i], (long long)i, (long long)n);
        else if (seen[perm[i]]++)
            st = cl_error(CL_EFORMAT, "%s: corrupt data permutation: index %lld appears twice",
                          path, (long long)perm[i]);
    }
    cl_free(seen);
    return st;
}

/* The optimizer part: kind and length must match o (NULL: skipped). */
static cl_status get_optim(cl_ckpt_reader *s, const char *path, cl_optim *o)
{
    int32_t kind = cl_ckpt_get_i32(s);
    (void)cl_ckpt_get_i32(s);
    int64_t ostep = cl_ckpt_get_i64(s), slen = cl_ckpt_get_i64(s);
    if (s->err || !sane_len(slen, cl_ckpt_bytes_left(s) / 4))
        return cl_error(CL_EFORMAT, "%s: truncated or corrupt", path);
    if (o) {
        if (kind != (int32_t)o->cfg.kind || slen != o->state_len)
            return cl_error(CL_EFORMAT, "%s: optimizer state (kind %d, %lld floats) does not "
                                        "match the optimizer (kind %d, %lld floats)",
                            path, kind, (long long)slen, (int)o->cfg.kind,
                            (long long)o->state_len);
        cl_ckpt_get(s, o->state, sizeof(float) * (size_t)slen);
        o->step = ostep;
    } else {
        float tmp[256];
        for (int64_t left = slen; left > 0; left -= 256)
            cl_ckpt_get(s, tmp, sizeof(float) * (size_t)(left < 256 ? left : 256));
    }
    return CL_OK;
}

cl_status cl_train_ckpt_load(const char *dir_in, cl_train_state *out, cl_optim *o)
{
    char path[PATHMAX + 16];
    int64_t mstep, mk;
    cl_ckpt_found f;
    memset(out, 0, sizeof *out);
    CL_TRY(cl_ckpt_find(dir_in, &f)); /* the newest good slot */
    const char *dir = f.slot;
    mk = f.step;
    /* the model file's step (header only) */
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    cl_ckpt_reader s;
    CL_TRY(cl_ckpt_reader_open(&s, path, "CLMODEL1", "model checkpoint", &mstep));
    cl_ckpt_reader_abort(&s);
    snprintf(path, sizeof path, "%s/state.ckpt", dir);
    int64_t sstep;
    CL_TRY(cl_ckpt_reader_open(&s, path, "CLSTATE1", "state checkpoint", &sstep));
    cl_status st = CL_OK;
    if (mstep != mk || sstep != mk) {
        cl_ckpt_reader_abort(&s);
        return cl_error(CL_EFORMAT, "%s: model (step %lld), state (step %lld) and marker (step "
                                    "%lld) disagree", dir, (long long)mstep, (long long)sstep,
                        (long long)mk);
    }
    out->step = sstep;
    out->epoch = cl_ckpt_get_i32(&s);
    (void)cl_ckpt_get_i32(&s);
    out->pos = cl_ckpt_get_i64(&s);
    cl_ckpt_get(&s, &out->config_hash, 8);
    get_rng(&s, &out->rng_data);
    get_rng(&s, &out->rng_aug);
    out->n = cl_ckpt_get_i64(&s);
    if (s.err || !sane_len(out->n, (int64_t)1 << 31) || out->n > cl_ckpt_bytes_left(&s) / 4) {
        st = cl_error(CL_EFORMAT, "%s: truncated or corrupt", path);
        goto fail;
    }
    out->perm = cl_alloc_array((size_t)out->n, sizeof(int32_t), "checkpoint permutation");
    if (!out->perm) {
        st = CL_ENOMEM;
        goto fail;
    }
    cl_ckpt_get(&s, out->perm, sizeof(int32_t) * (size_t)out->n);
    if (!s.err && (st = check_perm(path, out->perm, out->n)) != CL_OK) goto fail;
    if ((st = get_optim(&s, path, o)) != CL_OK) goto fail;
    st = cl_ckpt_reader_close(&s);
    if (st != CL_OK) goto out;
    return CL_OK;
fail:
    cl_ckpt_reader_abort(&s);
out:
    cl_free(out->perm);
    out->perm = NULL;
    return st;
}
