/* mlab-mnist: Multilabel-MNIST as Li, Wang, Li & Qu (ICML 2024, "Neural
 * collapse in multi-label learning with pick-all-label loss") build it in
 * their notebook (Heimine/NC_MLab, Exp_MNIST.ipynb), generated from the MNIST
 * digits with our seeded rng. See data.h (cl_data_mlab_make) for the layout;
 * here only the bookkeeping: one rng stream per label set, one shuffled copy
 * of the digit's rows per set (drawn in order, cyclically past the end), no
 * allocation per image. */
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "internal.h"

#define DIG 28 /* MNIST digit side; the canvas is 2 x DIG */

/* Rows of src per digit: rows[start[c] .. start[c+1]) in source order. */
static void group_rows(const cl_dataset *src, int32_t *rows, int64_t start[11])
{
    int64_t cnt[10] = {0};
    for (int64_t i = 0; i < src->n; i++)
        cnt[src->y_true[i]]++;
    start[0] = 0;
    for (int c = 0; c < 10; c++)
        start[c + 1] = start[c] + cnt[c];
    int64_t at[10];
    memcpy(at, start, sizeof at);
    for (int64_t i = 0; i < src->n; i++)
        rows[at[src->y_true[i]]++] = (int32_t)i;
}

/* Puts digit img [DIG, DIG] on canvas [S, S] at corner (r0, c0) shifted by
 * (dy, dx), circularly as torch.roll does in the authors' notebook, keeping
 * the larger value where something is already drawn (pixel-wise max). */
static void place(float *canvas, const float *img, int r0, int c0, int dy, int dx)
{
    const int S = CL_MLAB_CANVAS;
    for (int r = 0; r < DIG; r++) {
        float *row = canvas + (size_t)((r0 + r + dy) % S) * S;
        const float *in = img + (size_t)r * DIG;
        for (int c = 0; c < DIG; c++) {
            float *p = row + (c0 + c + dx) % S;
            if (in[c] > *p) *p = in[c];
        }
    }
}

/* The rows of digit c shuffled by rng into perm (a copy of its group). */
static void shuffled(const int32_t *rows, const int64_t start[11], int c, cl_rng *rng,
                     int32_t *perm)
{
    const int64_t m = start[c + 1] - start[c];
    memcpy(perm, rows + start[c], (size_t)m * sizeof(int32_t));
    cl_rng_shuffle_i32(rng, perm, m);
}

/* The cnt images of label set {a, b} (a == b: one digit) into rows i.. of
 * out, drawn from r: the shuffles, then per image the coin (pairs) and the
 * shifts of the bottom-right and the top-left digit. pa, pb: scratch rows. */
static void make_set(const cl_dataset *src, const int32_t *rows, const int64_t start[11], int a,
                     int b, int64_t cnt, cl_rng *r, int32_t *pa, int32_t *pb, cl_dataset *out,
                     int64_t i, cl_mlab_item *items)
{
    const int two = b != a, K = 10;
    const size_t D = (size_t)CL_MLAB_CANVAS * CL_MLAB_CANVAS, DS = DIG * DIG;
    const int64_t ma = start[a + 1] - start[a], mb = start[b + 1] - start[b];
    shuffled(rows, start, a, r, pa);
    if (two) shuffled(rows, start, b, r, pb);
    for (int64_t k = 0; k < cnt; k++, i++) {
        cl_mlab_item it = {{pa[k % ma], -1}, {0, 0}, {0, 0}};
        if (two) {
            it.src[1] = pb[k % mb];
            if (cl_rng_below(r, 2)) { /* b bottom-right, a top-left */
                it.src[1] = it.src[0];
                it.src[0] = pb[k % mb];
            }
        }
        for (int q = 0; q <= two; q++) {
            it.dy[q] = (uint8_t)cl_rng_below(r, CL_MLAB_SHIFT + 1);
            it.dx[q] = (uint8_t)cl_rng_below(r, CL_MLAB_SHIFT + 1);
        }
        float *cv = out->x + (size_t)i * D;
        place(cv, src->x + (size_t)it.src[0] * DS, DIG, DIG, it.dy[0], it.dx[0]);
        if (two) place(cv, src->x + (size_t)it.src[1] * DS, 0, 0, it.dy[1], it.dx[1]);
        out->yk[(size_t)i * K + a] = out->yk[(size_t)i * K + b] = 1;
        out->y[i] = out->y_true[i] = a;
        if (items) items[i] = it;
    }
}

static cl_status check_src(const cl_dataset *src, int64_t singles, int64_t pairs,
                           const int64_t start[11])
{
    if (src->shape.c != 1 || src->shape.h != DIG || src->shape.w != DIG || src->classes != 10 ||
        src->yk || src->normalized)
        return cl_error(CL_EINVAL,
                        "%s: mlab-mnist needs raw single-label 1x28x28 digits of 10 classes",
                        src->name);
    if (singles < 0 || pairs < 0 || singles + pairs == 0 || singles > INT32_MAX ||
        pairs > INT32_MAX)
        return cl_error(CL_EINVAL,
                        "mlab-mnist: %lld single-digit and %lld two-digit images per set "
                        "(want >= 0 each, not both 0)",
                        (long long)singles, (long long)pairs);
    for (int c = 0; c < 10; c++)
        if (start[c + 1] == start[c])
            return cl_error(CL_EINVAL, "%s: no image of digit %d to build mlab-mnist from",
                            src->name, c);
    return CL_OK;
}

cl_status cl_data_mlab_make(const cl_dataset *src, int64_t singles, int64_t pairs,
                            uint64_t seed, cl_dataset *out, cl_mlab_item *items)
{
    memset(out, 0, sizeof *out);
    const int S = CL_MLAB_CANVAS, K = 10;
    const size_t D = (size_t)S * S;
    int64_t start[11] = {0};
    int32_t *rows = cl_alloc_array((size_t)src->n + 1, 3 * sizeof(int32_t), "mlab-mnist");
    if (!rows) return CL_ENOMEM;
    int32_t *pa = rows + src->n, *pb = pa + src->n; /* shuffled rows of the two digits */
    cl_status st = CL_OK;
    if (src->y_true && src->classes == 10) group_rows(src, rows, start);
    if ((st = check_src(src, singles, pairs, start)) != CL_OK) goto fail;
    const int64_t n = 10 * singles + 45 * pairs;
    cl_shape sh = {1, S, S};
    if ((st = cl_data_alloc(out, n, sh)) != CL_OK) goto fail;
    out->yk = cl_alloc_array((size_t)n, (size_t)K, "mlab-mnist labels");
    if (!out->yk) {
        st = CL_ENOMEM;
        goto fail;
    }
    memset(out->x, 0, (size_t)n * D * sizeof(float));
    memset(out->yk, 0, (size_t)n * K);
    snprintf(out->name, sizeof out->name, "mlab-mnist");
    out->classes = K;
    for (int c = 0; c < K; c++)
        snprintf(out->class_names[c], sizeof out->class_names[c], "%d", c);
    cl_rng root;
    cl_rng_seed(&root, seed);
    int64_t i = 0;
    /* label sets in order {0}..{9}, {0,1}, {0,2}, .., {8,9}; one stream each */
    int sa[55], sb[55], ns = 0;
    for (int a = 0; a < K; a++, ns++)
        sa[ns] = sb[ns] = a;
    for (int a = 0; a < K; a++)
        for (int b = a + 1; b < K; b++, ns++)
            sa[ns] = a, sb[ns] = b;
    for (int s = 0; s < ns; s++) {
        cl_rng r = cl_rng_split(&root);
        const int64_t cnt = sa[s] == sb[s] ? singles : pairs;
        make_set(src, rows, start, sa[s], sb[s], cnt, &r, pa, pb, out, i, items);
        i += cnt;
    }
    CL_ASSERT(i == n);
fail:
    cl_free(rows);
    if (st != CL_OK) cl_dataset_free(out);
    return st;
}

cl_status cl_data_load_mlab(const char *dir, int train, cl_dataset *out)
{
    cl_dataset m;
    CL_TRY(cl_data_load("mnist", dir, train, &m));
    cl_status st = cl_data_mlab_make(&m, train ? CL_MLAB_TRAIN_SINGLES : CL_MLAB_TEST_SINGLES,
                                     train ? CL_MLAB_TRAIN_PAIRS : CL_MLAB_TEST_PAIRS,
                                     CL_MLAB_SEED + (train ? 0u : 1u), out, NULL);
    cl_dataset_free(&m);
    return st;
}
