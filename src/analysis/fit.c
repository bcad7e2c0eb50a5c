/* He & Su (2023) layer-wise fit: ln D_l = intercept + slope * l, rho = exp(slope). */
#include <math.h>

#include "collapse/nc.h"

cl_status cl_nc_fit_layers(const double *fuzz, int L, cl_nc_fit *fit)
{
    if (L < 2) return cl_error(CL_EINVAL, "nc fit: need at least 2 layers, got %d", L);
    for (int l = 0; l < L; l++)
        if (isnan(fuzz[l]))
            return cl_error(CL_EINVAL,
                            "nc fit: D of layer %d is nan (its class means are rank-deficient, "
                            "so NC1 and D are undefined); no fit",
                            l);
        else if (!(fuzz[l] > 0) || !isfinite(fuzz[l]))
            return cl_error(CL_EINVAL,
                            "nc fit: D of layer %d is %g (need a finite value > 0)", l,
                            fuzz[l]);
    double mx = (L - 1) / 2.0, my = 0;
    for (int l = 0; l < L; l++)
        my += log(fuzz[l]);
    my /= L;
    double sxx = 0, sxy = 0, syy = 0;
    for (int l = 0; l < L; l++) {
        double dx = l - mx, dy = log(fuzz[l]) - my;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    fit->L = L;
    fit->slope = sxy / sxx;
    fit->intercept = my - fit->slope * mx;
    fit->rho = exp(fit->slope);
    if (syy > 0) {
        double res = 0;
        for (int l = 0; l < L; l++) {
            double e = log(fuzz[l]) - (fit->intercept + fit->slope * l);
            res += e * e;
        }
        fit->r2 = 1.0 - res / syy;
        fit->pearson_r = sxy / sqrt(sxx * syy);
    } else {
        /* Every D_l equal: the line fits exactly, correlation is undefined. */
        fit->r2 = 1.0;
        fit->pearson_r = NAN;
    }
    return CL_OK;
}
