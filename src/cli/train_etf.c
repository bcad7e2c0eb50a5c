/* The header line on a fixed ETF classifier and nonnegative features: which
 * classes the run can predict at all (model/etf_reach.c). A rotated simplex
 * ETF with d = K (Yang et al. 2022's construction) can leave a class whose
 * side of the classifier contains no nonnegative vector; after a ReLU that
 * class is never predicted, whatever the network learns (issue 14,
 * results/README.md, etf_fashion). Zhu et al. 2021's zero-padded ETF reaches
 * every class. */
#include <math.h>
#include <stdio.h>

#include "collapse/etf.h"
#include "collapse/nn.h"
#include "train_opts.h"

void cl_cli_train_etf_report(const cl_model *m, int etf_mode)
{
    const int ci = cl_model_classifier_index(m);
    if (ci < 0 || !cl_model_features_nonneg(m)) return;
    const cl_layer *l = &m->layers[ci];
    const int K = l->spec.out, dim = (int)(l->nparams / (K > 0 ? K : 1));
    if (K < 2 || dim < 1) return;
    /* about 2e9 flops at most: K classes x iterations x 2 (K-1) dim */
    double cap = 2e9 / (2.0 * K * (K - 1) * dim);
    const int iters = cap > 20000 ? 20000 : cap < 200 ? 200 : (int)cap;
    const float *W = m->params + l->param_off;
    double min_lo = INFINITY;
    int argmin = 0, lost = 0, unsettled = 0;
    char list[512];
    int len = 0;
    list[0] = 0;
    for (int k = 0; k < K; k++) {
        cl_etf_margin r;
        if (cl_etf_nonneg_margin(W, K, dim, k, iters, 1e-3, &r) != CL_OK) return;
        if (r.lo < min_lo) {
            min_lo = r.lo;
            argmin = k;
        }
        if (r.lo > 0) continue;
        if (r.hi > 1e-3) {
            unsettled++;
            continue;
        }
        if (len < (int)sizeof list - 64)
            len += snprintf(list + len, sizeof list - (size_t)len, "%s%d (margin %s%.2g)",
                            lost ? ", " : "", k, r.hi == 0 ? "" : "<= ", r.hi);
        lost++;
    }
    if (lost)
        printf("warning: fixed ETF (%s) and nonnegative (ReLU) features: class%s %s can never "
               "be predicted: no nonnegative feature is on %s side of the classifier; "
               "--etf-mode pad reaches every class (Zhu et al. 2021)\n",
               cl_etf_mode_name((cl_etf_mode)etf_mode), lost > 1 ? "es" : "", list,
               lost > 1 ? "their" : "its");
    else if (unsettled)
        printf("warning: fixed ETF: the nonnegative margin of %d class%s is not settled after "
               "%d iterations\n",
               unsettled, unsettled > 1 ? "es" : "", iters);
    else
        printf("fixed ETF and nonnegative (ReLU) features: every class reachable, smallest "
               "nonnegative margin %.3f (class %d; a free feature gets %.3f)\n",
               min_lo, argmin, (double)K / (K - 1));
}
