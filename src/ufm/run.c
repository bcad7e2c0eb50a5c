/* The simulator's run: the optimiser loop with metrics.csv rows, then the
 * final parameters as .npy files. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/npy.h"
#include "internal.h"

cl_status cl_ufm_export(cl_ufm *u, float **H, float **W, float **b, int32_t **y, int64_t *N,
                        int *dl)
{
    int K = u->c.K;
    *dl = u->dl;
    *N = u->N;
    *H = cl_alloc_array((size_t)(u->N * u->dl), sizeof(float), "ufm features");
    *W = cl_alloc_array((size_t)K * (size_t)u->dl, sizeof(float), "ufm classifier");
    *b = cl_alloc_array((size_t)K, sizeof(float), "ufm bias");
    *y = cl_alloc_array((size_t)u->N, sizeof(int32_t), "ufm labels");
    if (!*H || !*W || !*b || !*y) {
        cl_free(*H), cl_free(*W), cl_free(*b), cl_free(*y);
        *H = *W = *b = NULL;
        *y = NULL;
        return CL_ENOMEM;
    }
    cl_ufm_forward(u);
    const double *Z = u->Z[u->L];
    for (int64_t i = 0; i < u->N * u->dl; i++)
        (*H)[i] = (float)Z[i];
    for (int64_t i = 0; i < (int64_t)K * u->dl; i++)
        (*W)[i] = (float)u->W[i];
    for (int k = 0; k < K; k++)
        (*b)[k] = u->c.bias ? (float)u->b[k] : 0.0f;
    memcpy(*y, u->y, sizeof(int32_t) * (size_t)u->N);
    return CL_OK;
}

static cl_status write_f64_as_f32(const char *path, const double *x, int64_t rows, int64_t cols)
{
    float *f = cl_alloc_array((size_t)(rows * cols), sizeof(float), "ufm npy");
    if (!f) return CL_ENOMEM;
    for (int64_t i = 0; i < rows * cols; i++)
        f[i] = (float)x[i];
    int64_t shape[2] = {rows, cols};
    cl_status st = cl_npy_write(path, CL_NPY_F32, f, 2, shape);
    cl_free(f);
    return st;
}

static cl_status write_outputs(cl_ufm *u, const char *dir)
{
    char path[4200];
    float *H, *W, *b;
    int32_t *y;
    int64_t N;
    int dl;
    CL_TRY(cl_ufm_export(u, &H, &W, &b, &y, &N, &dl));
    int64_t sH[2] = {N, dl}, sW[2] = {u->c.K, dl}, sb[1] = {u->c.K}, sy[1] = {N};
    cl_status st;
    snprintf(path, sizeof path, "%s/W.npy", dir);
    if ((st = cl_npy_write(path, CL_NPY_F32, W, 2, sW)) != CL_OK) goto done;
    snprintf(path, sizeof path, "%s/H.npy", dir);
    if ((st = cl_npy_write(path, CL_NPY_F32, H, 2, sH)) != CL_OK) goto done;
    snprintf(path, sizeof path, "%s/b.npy", dir);
    if ((st = cl_npy_write(path, CL_NPY_F32, b, 1, sb)) != CL_OK) goto done;
    snprintf(path, sizeof path, "%s/labels.npy", dir);
    if ((st = cl_npy_write(path, CL_NPY_I32, y, 1, sy)) != CL_OK) goto done;
    if (u->c.pairs) { /* multi-label: K-hot labels for collapse analyze's mlab mode */
        uint8_t *Yk;
        int64_t sk[2] = {N, u->c.K};
        if ((st = cl_ufm_labels_khot(u, &Yk)) != CL_OK) goto done;
        snprintf(path, sizeof path, "%s/labels_khot.npy", dir);
        st = cl_npy_write(path, CL_NPY_U8, Yk, 2, sk);
        cl_free(Yk);
        if (st != CL_OK) goto done;
    }
    if (u->L > 1) {
        snprintf(path, sizeof path, "%s/H1.npy", dir);
        if ((st = write_f64_as_f32(path, u->H1, u->N, u->c.d)) != CL_OK) goto done;
        for (int l = 1; l < u->L; l++) {
            snprintf(path, sizeof path, "%s/V%d.npy", dir, l);
            if ((st = write_f64_as_f32(path, u->V[l], u->c.width, u->vin[l])) != CL_OK)
                goto done;
        }
    }
done:
    cl_free(H), cl_free(W), cl_free(b), cl_free(y);
    return st;
}

static cl_status log_row(cl_ufm *u, cl_csv_log *log, int64_t step, cl_ufm_log_fn fn, void *ctx,
                         cl_ufm_summary *s)
{
    char row[16384];
    CL_TRY(cl_ufm_row(u, step, row, sizeof row, s));
    if (!isfinite(s->objective))
        return cl_error(CL_ENUMERIC, "the objective is not finite at step %lld (lower --lr)",
                        (long long)step);
    CL_TRY(cl_csv_log_write_row(log, row));
    if (fn) fn(ctx, s);
    return CL_OK;
}

cl_status cl_ufm_run(cl_ufm *u, const char *dir, cl_ufm_log_fn fn, void *ctx,
                     cl_ufm_summary *out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    char *header;
    CL_TRY(cl_ufm_header(u, &header));
    cl_csv_log log;
    cl_status st = cl_csv_log_open(&log, path, header, 0, 0);
    cl_free(header);
    if (st != CL_OK) {
        cl_csv_log_free(&log);
        return st;
    }
    cl_ufm_summary s;
    if ((st = log_row(u, &log, 0, fn, ctx, &s)) != CL_OK) goto done;
    for (int64_t t = 1; t <= u->c.steps; t++) {
        if ((st = cl_ufm_step(u)) != CL_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", cl_errmsg());
            st = cl_error(st, "%s at step %lld (lower --lr)", msg, (long long)t);
            goto done;
        }
        if (t % u->c.log_every == 0 || t == u->c.steps)
            if ((st = log_row(u, &log, t, fn, ctx, &s)) != CL_OK) goto done;
    }
    st = write_outputs(u, dir);
    if (out) *out = s;
done:
    cl_csv_log_free(&log);
    return st;
}
