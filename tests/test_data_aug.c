/* Data module, augmentation and views: padded crops and flips. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../src/data/internal.h"
#include "collapse/data.h"

/* ---- augmentation and views ---- */

TestSuite(data_aug);

/* A tiny synthetic dataset: n images C x H x W with distinct pixel values. */
static void synth(cl_dataset *d, int64_t n, int C, int H, int W, int K)
{
    memset(d, 0, sizeof *d);
    cl_shape s = {C, H, W};
    cr_assert_eq(cl_data_alloc(d, n, s), CL_OK);
    d->classes = K;
    snprintf(d->name, sizeof d->name, "synth");
    for (int64_t i = 0; i < n * C * H * W; i++)
        d->x[i] = (float)(i % 251 + 1) / 256.0f;
    for (int64_t i = 0; i < n; i++)
        d->y[i] = d->y_true[i] = (int32_t)(i % K);
}

Test(data_aug, crop_and_flip_are_shifted_copies)
{
    cl_dataset d;
    synth(&d, 6, 3, 8, 8, 3);
    cl_data_opts o = cl_data_opts_default();
    o.normalize = 1;
    cr_assert_eq(cl_data_prepare(&d, NULL, &o), CL_OK);
    cl_data_aug aug = {.d = &d, .pad = 4, .flip = 1};
    cl_train_data v;
    cl_data_view(&d, &aug, &v);
    cr_assert(v.gather == cl_data_aug_gather && v.ctx == &aug && v.x == d.x && v.n == 6);
    float fill0 = -d.norm_mean[0] / d.norm_std[0];
    cr_assert_float_eq(aug.fill[0], fill0, 1e-6);
    cl_rng rng;
    cl_rng_seed(&rng, 9);
    float out[3 * 64];
    int32_t y, idx = 4;
    int seen_flip = 0, seen_plain = 0, seen_fill = 0;
    for (int t = 0; t < 200; t++) {
        v.gather(v.ctx, &idx, 1, out, &y, &rng);
        cr_assert_eq(y, d.y[4]);
        int found = 0;
        for (int dy = -4; dy <= 4 && !found; dy++)
            for (int dx = -4; dx <= 4 && !found; dx++)
                for (int fl = 0; fl < 2 && !found; fl++) {
                    int ok = 1, anyfill = 0;
                    for (int c = 0; c < 3 && ok; c++)
                        for (int h = 0; h < 8 && ok; h++)
                            for (int w = 0; w < 8 && ok; w++) {
                                int sh = h + dy, sw = (fl ? 7 - w : w) + dx;
                                float e = sh >= 0 && sh < 8 && sw >= 0 && sw < 8
                                              ? d.x[4 * 192 + c * 64 + sh * 8 + sw]
                                              : aug.fill[c];
                                anyfill |= !(sh >= 0 && sh < 8 && sw >= 0 && sw < 8);
                                ok = out[c * 64 + h * 8 + w] == e;
                            }
                    if (ok) {
                        found = 1;
                        seen_flip |= fl && dx == 0 && dy == 0;
                        seen_plain |= !fl && dx == 0 && dy == 0;
                        seen_fill |= anyfill;
                    }
                }
        cr_assert(found, "draw %d is not a padded crop/flip of the image", t);
    }
    cr_assert(seen_fill);
    (void)seen_flip;
    (void)seen_plain;
    /* same rng state -> same batch */
    float a[2 * 192], b[2 * 192];
    int32_t ids[2] = {1, 5}, ya[2], yb[2];
    cl_rng r1, r2;
    cl_rng_seed(&r1, 3);
    cl_rng_seed(&r2, 3);
    v.gather(v.ctx, ids, 2, a, ya, &r1);
    v.gather(v.ctx, ids, 2, b, yb, &r2);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    /* no aug: plain view */
    cl_data_view(&d, NULL, &v);
    cr_assert_null(v.gather);
    cr_assert(v.y == d.y && v.classes == 3 && v.shape.h == 8);
    cl_dataset_free(&d);
}

Test(data_aug, pad0_noflip_is_identity)
{
    cl_dataset d;
    synth(&d, 3, 1, 5, 7, 2);
    cl_data_aug aug;
    cl_data_aug_init(&aug, &d, 0, 0);
    cr_assert_eq(aug.fill[0], 0.0f);
    float out[35];
    int32_t y, idx = 2;
    cl_rng r;
    cl_rng_seed(&r, 1);
    cl_data_aug_gather(&aug, &idx, 1, out, &y, &r);
    cr_assert_eq(memcmp(out, d.x + 2 * 35, sizeof out), 0);
    cl_dataset_free(&d);
}
