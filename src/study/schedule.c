/* Which epochs the study analyzes.
 *
 * Default (every = 0): Papyan et al.'s spirit, every epoch up to 14, then
 * log-spaced: round(14 * r^k) for k = 1, 2, ... with r = (350/14)^(1/36)
 * ~ 1.0935, the ratio of their 350-epoch list (14 -> 350 in 36 steps);
 * every = N: N, 2N, 3N, ...; the last epoch is always analyzed; epoch 0
 * (before training) iff opts.initial. */
#include <math.h>

#include "collapse/study.h"

#define PAPYAN_DENSE 14
#define PAPYAN_RATIO 1.0935324295604598 /* (350/14)^(1/36) */

cl_study_opts cl_study_opts_default(void)
{
    cl_study_opts o = {0};
    o.every = 0;
    o.none = 0;
    o.initial = 1;
    o.bn_train = 0;
    o.layers = 1;
    o.plots = 1;
    o.save_features = 1;
    o.resume = 0;
    o.cache_mb = 512;
    o.nc = cl_nc_opts_default();
    return o;
}

int cl_study_schedule(const cl_study_opts *o, int epochs, int *out)
{
    int n = 0;
    if (o->none || epochs < 1) return 0;
    if (o->every > 0) {
        for (int e = o->every; e < epochs; e += o->every)
            if (out) out[n++] = e; else n++;
    } else {
        int last = 0;
        for (int e = 1; e <= PAPYAN_DENSE && e < epochs; e++) {
            if (out) out[n] = e;
            n++;
            last = e;
        }
        for (double x = PAPYAN_DENSE;;) {
            x *= PAPYAN_RATIO;
            int e = (int)lround(x);
            if (e >= epochs) break;
            if (e <= last) continue;
            if (out) out[n] = e;
            n++;
            last = e;
        }
    }
    if (out) out[n] = epochs;
    return n + 1;
}

int cl_study_is_analyzed(const cl_study_opts *o, int e, int epochs)
{
    if (o->none || e < 0 || e > epochs) return 0;
    if (e == 0) return o->initial != 0;
    if (e == epochs) return 1;
    if (o->every > 0) return e % o->every == 0;
    if (e <= PAPYAN_DENSE) return 1;
    double x = PAPYAN_DENSE;
    for (;;) {
        x *= PAPYAN_RATIO;
        long r = lround(x);
        if (r == e) return 1;
        if (r > e) return 0;
    }
}
