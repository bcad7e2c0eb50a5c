/* The transfer measures (transfer.h) against the NumPy reference
 * (tools/transfer_reference.py, fixtures in tests/fixtures/transfer): CDNV
 * mean/max (fast and naive) to 1e-9, the ridge probe's test accuracy for
 * fixed lambdas and the NCC accuracy of given support rows (cl_ncc_episode)
 * exactly; and that cl_fewshot_ncc's episodes are cl_ncc_episode on the
 * draws cl_fewshot_draws exports (so the seeded path is the checked one),
 * with its mean and 95% interval from those accuracies. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/npy.h"
#include "collapse/transfer.h"

#include "common.h"

#define FIX "fixtures/transfer/"

TestSuite(transfer_ref, .timeout = TC_TIMEOUT);

typedef struct {
    float *Htr, *Hte;
    int32_t *ytr, *yte, *eps;
    double *lam, *racc, *ncc, *cdnv;
    int64_t ntr, nte, E, shots, nlam;
    int dim, K;
} fixture;

static void *load(const char *name, const char *file, char kind, int64_t *sh)
{
    char p[256];
    int nd;
    void *d = NULL;
    snprintf(p, sizeof p, FIX "%s/%s.npy", name, file);
    cl_status st = kind == 'f'   ? cl_npy_read_f32(p, (float **)&d, &nd, sh)
                   : kind == 'i' ? cl_npy_read_i32(p, (int32_t **)&d, &nd, sh)
                                 : cl_npy_read_f64(p, (double **)&d, &nd, sh);
    cr_assert_eq(st, CL_OK, "%s", cl_errmsg());
    return d;
}

static void fixture_load(const char *name, fixture *f)
{
    int64_t sh[8];
    f->Htr = load(name, "Htr", 'f', sh);
    f->ntr = sh[0];
    f->dim = (int)sh[1];
    f->Hte = load(name, "Hte", 'f', sh);
    f->nte = sh[0];
    cr_assert_eq(sh[1], f->dim);
    f->ytr = load(name, "ytr", 'i', sh);
    f->yte = load(name, "yte", 'i', sh);
    f->eps = load(name, "episodes", 'i', sh);
    f->E = sh[0];
    f->K = (int)sh[1];
    f->shots = sh[2];
    f->lam = load(name, "lambdas", 'd', sh);
    f->nlam = sh[0];
    f->racc = load(name, "ridge_acc", 'd', sh);
    f->ncc = load(name, "ncc_acc", 'd', sh);
    cr_assert_eq(sh[0], f->E);
    f->cdnv = load(name, "cdnv", 'd', sh);
    cr_assert_eq(sh[0], 4);
}

static void fixture_free(fixture *f)
{
    cl_free(f->Htr);
    cl_free(f->Hte);
    cl_free(f->ytr);
    cl_free(f->yte);
    cl_free(f->eps);
    cl_free(f->lam);
    cl_free(f->racc);
    cl_free(f->ncc);
    cl_free(f->cdnv);
}

static int close_rel(double a, double e, double tol)
{
    return fabs(a - e) <= tol * fmax(1.0, fabs(e));
}

static void reference_case(const char *name)
{
    fixture f;
    fixture_load(name, &f);
    double m, x;
    const float *H[2] = {f.Htr, f.Hte};
    const int32_t *y[2] = {f.ytr, f.yte};
    int64_t n[2] = {f.ntr, f.nte};
    for (int s = 0; s < 2; s++) {
        cr_assert_eq(cl_cdnv(H[s], n[s], f.dim, y[s], f.K, &m, &x), CL_OK, "%s", cl_errmsg());
        cr_expect(close_rel(m, f.cdnv[2 * s], 1e-9), "%s cdnv mean %d: %.15g vs %.15g", name,
                  s, m, f.cdnv[2 * s]);
        cr_expect(close_rel(x, f.cdnv[2 * s + 1], 1e-9), "%s cdnv max %d: %.15g vs %.15g",
                  name, s, x, f.cdnv[2 * s + 1]);
        cr_assert_eq(cl_cdnv_naive(H[s], n[s], f.dim, y[s], f.K, &m, &x), CL_OK);
        cr_expect(close_rel(m, f.cdnv[2 * s], 1e-9) && close_rel(x, f.cdnv[2 * s + 1], 1e-9),
                  "%s naive cdnv %d", name, s);
    }
    for (int64_t l = 0; l < f.nlam; l++) {
        double acc, used;
        cr_assert_eq(cl_ridge_probe(f.Htr, f.ntr, f.ytr, f.Hte, f.nte, f.yte, f.dim, f.K,
                                    f.lam[l], 7, &acc, &used),
                     CL_OK, "%s", cl_errmsg());
        cr_expect_eq(used, f.lam[l]);
        cr_expect(fabs(acc - f.racc[l]) < 1e-12, "%s ridge lam %g: %.15g vs %.15g", name,
                  f.lam[l], acc, f.racc[l]);
    }
    for (int64_t e = 0; e < f.E; e++) {
        double acc;
        cr_assert_eq(cl_ncc_episode(f.Htr, f.ntr, f.eps + e * f.K * f.shots, f.Hte, f.nte,
                                    f.yte, f.dim, f.K, (int)f.shots, &acc),
                     CL_OK, "%s", cl_errmsg());
        cr_expect(fabs(acc - f.ncc[e]) < 1e-12, "%s ncc episode %lld: %.15g vs %.15g", name,
                  (long long)e, acc, f.ncc[e]);
    }
    fixture_free(&f);
}

Test(transfer_ref, blobs)
{
    reference_case("blobs");
}
Test(transfer_ref, wide_dim_above_samples)
{
    reference_case("wide");
}
Test(transfer_ref, large_offset_one_shot)
{
    reference_case("offset");
}

/* The seeded episodes are cl_ncc_episode on the exported draws; each draw
 * holds `shots` distinct rows of its class. */
Test(transfer_ref, fewshot_is_episodes_on_exported_draws)
{
    fixture f;
    fixture_load("blobs", &f);
    enum { E = 9, S = 4 };
    int K = f.K;
    int32_t *idx = cl_alloc_array((size_t)E * K * S, sizeof(int32_t), "draws");
    double acc[E], mean, ci, a;
    cr_assert_eq(cl_fewshot_draws(f.ytr, f.ntr, K, S, E, 11, idx), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_fewshot_ncc(f.Htr, f.ntr, f.ytr, f.Hte, f.nte, f.yte, f.dim, K, S, E, 11,
                                &mean, &ci, acc),
                 CL_OK);
    double s = 0, s2 = 0;
    for (int e = 0; e < E; e++) {
        for (int c = 0; c < K; c++)
            for (int i = 0; i < S; i++) {
                int32_t r = idx[(e * K + c) * S + i];
                cr_assert(r >= 0 && r < f.ntr && f.ytr[r] == c, "draw of class %d: row %d", c,
                          (int)r);
                for (int j = 0; j < i; j++) cr_assert_neq(idx[(e * K + c) * S + j], r);
            }
        cr_assert_eq(cl_ncc_episode(f.Htr, f.ntr, idx + e * K * S, f.Hte, f.nte, f.yte, f.dim,
                                    K, S, &a),
                     CL_OK);
        cr_expect_eq(a, acc[e], "episode %d: %.17g vs %.17g", e, a, acc[e]);
        s += acc[e];
    }
    cr_expect(fabs(mean - s / E) < 1e-15);
    for (int e = 0; e < E; e++) s2 += (acc[e] - s / E) * (acc[e] - s / E);
    cr_expect(fabs(ci - 1.96 * sqrt(s2 / (E - 1)) / sqrt((double)E)) < 1e-15);
    /* another seed, other draws */
    int32_t *idx2 = cl_alloc_array((size_t)E * K * S, sizeof(int32_t), "draws");
    cr_assert_eq(cl_fewshot_draws(f.ytr, f.ntr, K, S, E, 12, idx2), CL_OK);
    cr_expect(memcmp(idx, idx2, sizeof(int32_t) * (size_t)E * K * S));
    /* bad input */
    int32_t bad[16] = {0};
    bad[K - 1] = (int32_t)f.ntr; /* one past the support rows */
    cr_expect_eq(cl_ncc_episode(f.Htr, f.ntr, bad, f.Hte, f.nte, f.yte, f.dim, K, 1, &a),
                 CL_EINVAL);
    cr_expect(strstr(cl_errmsg(), "support index"), "%s", cl_errmsg());
    bad[K - 1] = 0;
    cr_expect_eq(cl_ncc_episode(f.Htr, f.ntr, bad, f.Hte, f.nte, f.yte, f.dim, K, 1, &a),
                 CL_OK);
    cr_expect_eq(cl_fewshot_draws(f.ytr, f.ntr, K, 1000, 1, 1, idx2), CL_EINVAL);
    cl_free(idx);
    cl_free(idx2);
    fixture_free(&f);
}
