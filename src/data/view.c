/* Training-loop views of a dataset and the augmentation gather (random crop
 * with padding + horizontal flip), writing straight into the batch buffer. */
#include <string.h>

#include "internal.h"

void cl_data_aug_init(cl_data_aug *aug, const cl_dataset *d, int pad, int flip)
{
    memset(aug, 0, sizeof *aug);
    aug->d = d;
    aug->pad = pad;
    aug->flip = flip;
    for (int c = 0; c < d->shape.c && c < CL_DATA_MAX_CHANNELS; c++)
        aug->fill[c] = d->normalized && d->norm_std[c] > 0
                           ? -d->norm_mean[c] / d->norm_std[c]
                           : 0.0f;
}

void cl_data_aug_gather(void *ctx, const int32_t *idx, int n, float *x, int32_t *y,
                        cl_rng *rng)
{
    const cl_data_aug *a = ctx;
    const cl_dataset *d = a->d;
    const int C = d->shape.c, H = d->shape.h, W = d->shape.w, P = a->pad;
    const int64_t dim = (int64_t)C * H * W;
    for (int i = 0; i < n; i++) {
        const int dy = P > 0 ? (int)cl_rng_below(rng, (uint64_t)(2 * P + 1)) - P : 0;
        const int dx = P > 0 ? (int)cl_rng_below(rng, (uint64_t)(2 * P + 1)) - P : 0;
        const int fl = a->flip ? (int)cl_rng_below(rng, 2) : 0;
        const float *src = d->x + (int64_t)idx[i] * dim;
        float *dst = x + (int64_t)i * dim;
        for (int c = 0; c < C; c++) {
            const float fill = c < CL_DATA_MAX_CHANNELS ? a->fill[c] : 0.0f;
            for (int h = 0; h < H; h++) {
                const int sh = h + dy;
                float *orow = dst + ((int64_t)c * H + h) * W;
                if (sh < 0 || sh >= H) {
                    for (int w = 0; w < W; w++)
                        orow[w] = fill;
                    continue;
                }
                const float *irow = src + ((int64_t)c * H + sh) * W;
                for (int w = 0; w < W; w++) {
                    const int cw = fl ? W - 1 - w : w; /* column of the crop */
                    const int sw = cw + dx;
                    orow[w] = sw >= 0 && sw < W ? irow[sw] : fill;
                }
            }
        }
        y[i] = d->y[idx[i]];
    }
}

void cl_data_view(const cl_dataset *d, cl_data_aug *aug, cl_train_data *out)
{
    memset(out, 0, sizeof *out);
    out->n = d->n;
    out->shape = d->shape;
    out->classes = d->classes;
    out->x = d->x;
    out->y = d->y;
    out->yk = d->yk;
    if (aug) {
        if (!aug->d)
            cl_data_aug_init(aug, d, aug->pad > 0 ? aug->pad : 4, 1);
        else /* the border value follows the dataset's current normalisation */
            cl_data_aug_init(aug, aug->d, aug->pad, aug->flip);
        out->gather = cl_data_aug_gather;
        out->ctx = aug;
    }
}
