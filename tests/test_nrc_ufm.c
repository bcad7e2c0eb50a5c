/* Regression unconstrained-features model (Andriopoulos et al., NeurIPS 2024):
 * gradient descent from a random start on
 *   L = (1/(2M)) sum ||W h_i + b - y_i||^2 + LH/(2M) sum ||h_i||^2 + LW/2 ||W||^2
 * and the closed forms with c = LH LW and Sigma = (1/M) sum (y - y_bar)(y - y_bar)^T
 * with eigenvalues lambda_j:
 *   W W^T = sqrt(LH/LW) (Sigma^{1/2} - sqrt(c) I)_+   (the form when c < lambda_min),
 *   training MSE summed over targets = sum_j min(lambda_j, c),
 *   W = H = 0 when c >= lambda_max.
 * Checked to 1e-4, plus the analyzer on the solution (NRC1-3 near 0, gamma = c). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "collapse/nrc.h"
#include "collapse/rng.h"

#define M 12
#define D 6
#define N 3

/* Gram-Schmidt on the columns of X [rows, N] (in place); centre first if asked. */
static void orthonormalise(double *X, int rows, int centre)
{
    for (int j = 0; j < N; j++) {
        if (centre) {
            double m = 0;
            for (int i = 0; i < rows; i++)
                m += X[i * N + j] / rows;
            for (int i = 0; i < rows; i++)
                X[i * N + j] -= m;
        }
        for (int k = 0; k < j; k++) {
            double p = 0;
            for (int i = 0; i < rows; i++)
                p += X[i * N + j] * X[i * N + k];
            for (int i = 0; i < rows; i++)
                X[i * N + j] -= p * X[i * N + k];
        }
        double nn = 0;
        for (int i = 0; i < rows; i++)
            nn += X[i * N + j] * X[i * N + j];
        for (int i = 0; i < rows; i++)
            X[i * N + j] /= sqrt(nn);
    }
}

/* Y [M, N] with target covariance Q diag(lam) Q^T (population) and a mean offset. */
static void make_targets(cl_rng *rng, const double *lam, double *Y, double *Q)
{
    double U[M * N];
    for (int i = 0; i < M * N; i++)
        U[i] = cl_rng_normal(rng);
    for (int i = 0; i < N * N; i++)
        Q[i] = cl_rng_normal(rng);
    orthonormalise(U, M, 1);
    orthonormalise(Q, N, 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double v = 0.7 * (j + 1);
            for (int k = 0; k < N; k++)
                v += sqrt((double)M) * U[i * N + k] * sqrt(lam[k]) * Q[j * N + k];
            Y[i * N + j] = v;
        }
}

typedef struct {
    double W[N * D], H[M * D], b[N];
} ufm;

/* Plain gradient descent; the H step is scaled by M (each h_i only sees its
 * own 1/M share of the loss), which changes the path, not the minimiser. */
static void solve(ufm *u, const double *Y, double LH, double LW, cl_rng *rng, int iters)
{
    const double lr = 0.05;
    for (int i = 0; i < N * D; i++)
        u->W[i] = 0.3 * cl_rng_normal(rng);
    for (int i = 0; i < M * D; i++)
        u->H[i] = 0.3 * cl_rng_normal(rng);
    memset(u->b, 0, sizeof u->b);
    for (int it = 0; it < iters; it++) {
        double R[M * N], gW[N * D] = {0}, gH[M * D], gb[N] = {0};
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double p = u->b[j];
                for (int d = 0; d < D; d++)
                    p += u->W[j * D + d] * u->H[i * D + d];
                R[i * N + j] = p - Y[i * N + j];
                gb[j] += R[i * N + j] / M;
            }
        for (int i = 0; i < M; i++)
            for (int d = 0; d < D; d++) {
                double g = LH * u->H[i * D + d];
                for (int j = 0; j < N; j++) {
                    g += R[i * N + j] * u->W[j * D + d];
                    gW[j * D + d] += R[i * N + j] * u->H[i * D + d] / M;
                }
                gH[i * D + d] = g; /* M times dL/dh_i */
            }
        for (int i = 0; i < N * D; i++)
            u->W[i] -= lr * (gW[i] + LW * u->W[i]);
        for (int i = 0; i < M * D; i++)
            u->H[i] -= lr * gH[i];
        for (int j = 0; j < N; j++)
            u->b[j] -= lr * gb[j];
    }
}

static double train_mse(const ufm *u, const double *Y)
{
    double s = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double p = u->b[j] - Y[i * N + j];
            for (int d = 0; d < D; d++)
                p += u->W[j * D + d] * u->H[i * D + d];
            s += p * p;
        }
    return s / M;
}

static void check_case(double LH, double LW, const double *lam, unsigned seed)
{
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    double Y[M * N], Q[N * N];
    make_targets(&rng, lam, Y, Q);
    static ufm u;
    solve(&u, Y, LH, LW, &rng, 60000);
    const double c = LH * LW;
    double want_mse = 0;
    for (int j = 0; j < N; j++)
        want_mse += fmin(lam[j], c);
    double mse = train_mse(&u, Y);
    cr_expect(fabs(mse - want_mse) < 1e-4, "c %g: MSE %.8g, closed form %.8g", c, mse, want_mse);
    double A[N * N], err = 0;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < N; k++) {
            double a = 0, want = 0;
            for (int d = 0; d < D; d++)
                a += u.W[i * D + d] * u.W[k * D + d];
            for (int j = 0; j < N; j++)
                want += Q[i * N + j] * fmax(sqrt(lam[j]) - sqrt(c), 0.0) * Q[k * N + j];
            A[i * N + k] = a;
            err = fmax(err, fabs(a - sqrt(LH / LW) * want));
        }
    cr_expect(err < 1e-4, "c %g: max |W W^T - closed form| = %g", c, err);
    if (c >= lam[0] && c >= lam[1] && c >= lam[2]) {
        double hmax = 0;
        for (int i = 0; i < M * D; i++)
            hmax = fmax(hmax, fabs(u.H[i]));
        cr_expect(hmax < 1e-4, "c %g >= lambda_max: max |H| = %g", c, hmax);
        return;
    }
    if (!(c < lam[0] && c < lam[1] && c < lam[2])) return;
    /* the analyzer on the solution: full collapse */
    float Hf[M * D], Wf[N * D], Yf[M * N];
    for (int i = 0; i < M * D; i++)
        Hf[i] = (float)u.H[i];
    for (int i = 0; i < N * D; i++)
        Wf[i] = (float)u.W[i];
    for (int i = 0; i < M * N; i++)
        Yf[i] = (float)Y[i];
    cl_nrc_result r;
    cr_assert_eq(cl_nrc_analyze(Hf, M, D, Yf, N, Wf, NULL, NULL, &r), CL_OK, "%s", cl_errmsg());
    cr_expect(r.nrc1 < 1e-5, "nrc1 %g", r.nrc1);
    cr_expect(r.nrc2 < 1e-5, "nrc2 %g", r.nrc2);
    double Sig[N * N];
    for (int i = 0; i < N; i++)
        for (int k = 0; k < N; k++) {
            double s = 0;
            for (int j = 0; j < N; j++)
                s += Q[i * N + j] * lam[j] * Q[k * N + j];
            Sig[i * N + k] = s;
        }
    double f, g;
    cr_assert_eq(cl_nrc3_from_gram(A, Sig, N, &f, &g), CL_OK);
    cr_expect(f < 1e-8, "nrc3 %g", f);
    cr_expect(fabs(g - c) < 1e-4, "nrc3_gamma %g, c %g", g, c);
}

Test(nrc_ufm, collapse_when_c_below_lambda_min)
{
    const double lam[N] = {0.25, 1.0, 4.0};
    check_case(0.1, 0.5, lam, 11); /* c = 0.05 */
    check_case(0.4, 0.25, lam, 12); /* c = 0.1, LH/LW = 1.6 */
}

Test(nrc_ufm, partial_when_c_between)
{
    const double lam[N] = {0.25, 1.0, 4.0};
    check_case(1.0, 0.5, lam, 13); /* c = 0.5: one direction switched off */
}

Test(nrc_ufm, zero_when_c_above_lambda_max)
{
    const double lam[N] = {0.25, 1.0, 4.0};
    check_case(2.0, 3.0, lam, 14); /* c = 6 */
}
