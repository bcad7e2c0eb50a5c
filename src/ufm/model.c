/* UFM configuration, parameter layout and the random start. */
#include <math.h>
#include <string.h>

#include "collapse/mem.h"
#include "collapse/rng.h"
#include "collapse/sys.h"
#include "internal.h"

cl_ufm_config cl_ufm_config_default(void)
{
    return (cl_ufm_config){.loss = CL_UFM_CE,
                           .bias = 1,
                           .wd_w = 5e-4,
                           .wd_h = 5e-4,
                           .wd_b = 0,
                           .depth = 1,
                           .act = CL_UFM_RELU,
                           .temperature = 1,
                           .lr = 0.5,
                           .seed = 1,
                           .init_std = 0.1};
}

static int finite_nonneg(double v) { return isfinite(v) && v >= 0; }

/* Samples: the single-label counts plus pairs per two-label set (counts and
 * pairs in range). */
static int64_t samples(const cl_ufm_config *c)
{
    int64_t N = c->pairs * ((int64_t)c->K * (c->K - 1) / 2);
    for (int k = 0; k < c->K; k++) N += c->counts[k];
    return N;
}

int64_t cl_ufm_config_bytes(const cl_ufm_config *c)
{
    int64_t N = samples(c);
    int64_t L = c->depth > 1 ? c->depth : 1, dl = L > 1 ? c->width : c->d;
    int64_t wmax = c->d > dl ? c->d : dl;
    /* doubles: parameters, gradient and velocity (features dominate), the
     * activations of the extra layers, logits and their gradient, two scratch
     * blocks; floats: the copies handed to the analyzer and the .npy writer */
    int64_t params = N * c->d + (L - 1) * (int64_t)c->width * wmax + (int64_t)c->K * (dl + 1);
    int64_t dbl = 3 * params + 2 * (L - 1) * N * c->width + 2 * N * c->K + 2 * N * wmax;
    return 8 * dbl + 4 * 2 * N * wmax;
}

cl_status cl_ufm_config_check(const cl_ufm_config *c)
{
    if (c->K < 2 || c->K > CL_UFM_MAX_CLASSES)
        return cl_error(CL_EINVAL, "--classes: need 2 <= K <= %d, got %d", CL_UFM_MAX_CLASSES,
                        c->K);
    if (c->d < 1 || c->d > 65536)
        return cl_error(CL_EINVAL, "--dim: need 1 <= d <= 65536, got %d", c->d);
    if (!c->counts) return cl_error(CL_EINVAL, "--per-class or --counts is required");
    for (int k = 0; k < c->K; k++) {
        if (c->counts[k] < 1 || c->counts[k] > 100000000)
            return cl_error(CL_EINVAL, "--counts: class %d has %lld samples (need 1..1e8)", k,
                            (long long)c->counts[k]);
    }
    if (c->pairs < 0 || c->pairs > 100000000)
        return cl_error(CL_EINVAL, "--pairs: need 0..1e8 samples per two-label set");
    int pal = c->loss == CL_UFM_PAL || c->loss == CL_UFM_PAL_MEAN;
    if (c->pairs && !pal) return cl_error(CL_EINVAL, "--pairs: needs --loss pal or pal=mean");
    if (pal && !c->pairs) return cl_error(CL_EINVAL, "--loss pal: needs --pairs N (N >= 1)");
    if (c->pairs && c->depth > 1) return cl_error(CL_EINVAL, "--pairs: not with --depth > 1");
    int64_t N = samples(c);
    int dmax = c->depth > 1 && c->width > c->d ? c->width : c->d;
    if (N > (INT64_C(1) << 31) / (dmax > c->K ? dmax : c->K))
        return cl_error(CL_EINVAL, "--counts: N = %lld samples are too many for %s %d",
                        (long long)N, dmax == c->d ? "--dim" : "--width", dmax);
    /* memory: refuse before allocating (under overcommit a job that does not fit
     * is killed when it touches its arrays, with no message) */
    int64_t need = cl_ufm_config_bytes(c), have = cl_sys_memory_bytes();
    if (have > 0 && need > have)
        return cl_error(CL_EINVAL,
                        "--counts: N = %lld samples with %s %d need about %.1f GiB, more than "
                        "this machine's %.1f GiB",
                        (long long)N, dmax == c->d ? "--dim" : "--width", dmax,
                        (double)need / (1 << 30), (double)have / (1 << 30));
    if (!finite_nonneg(c->wd_w)) return cl_error(CL_EINVAL, "--wd-w: need a number >= 0");
    if (!finite_nonneg(c->wd_h)) return cl_error(CL_EINVAL, "--wd-h: need a number >= 0");
    if (!finite_nonneg(c->wd_b)) return cl_error(CL_EINVAL, "--wd-b: need a number >= 0");
    if (c->depth < 1 || c->depth > CL_UFM_MAX_DEPTH)
        return cl_error(CL_EINVAL, "--depth: need 1 <= L <= %d, got %d", CL_UFM_MAX_DEPTH,
                        c->depth);
    if (c->depth > 1 && (c->width < 1 || c->width > 65536))
        return cl_error(CL_EINVAL, "--width: need 1 <= W <= 65536 with --depth > 1");
    if (c->depth == 1 && c->width)
        return cl_error(CL_EINVAL, "--width: only with --depth > 1");
    if (c->dnc_start && c->depth < 2)
        return cl_error(CL_EINVAL, "--dnc-start: only with --depth > 1");
    if (c->dnc_start && (c->loss != CL_UFM_MSE || c->bias))
        return cl_error(CL_EINVAL, "--dnc-start: built for --loss mse --no-bias");
    if (c->dnc_start) {
        int64_t n0 = c->counts[0];
        for (int k = 1; k < c->K; k++)
            if (c->counts[k] != n0)
                return cl_error(CL_EINVAL, "--dnc-start: needs balanced classes (--per-class)");
        if (c->K > c->d || c->K > c->width)
            return cl_error(CL_EINVAL, "--dnc-start: needs --dim and --width >= --classes");
    }
    if (c->lpm && c->sphere) return cl_error(CL_EINVAL, "--lpm: not with --sphere");
    if (c->lpm || c->sphere) {
        const char *f = c->lpm ? "--lpm" : "--sphere";
        if (c->depth > 1) return cl_error(CL_EINVAL, "%s: not with --depth > 1", f);
        if (c->loss != CL_UFM_CE) return cl_error(CL_EINVAL, "%s: needs --loss ce", f);
        if (c->bias) return cl_error(CL_EINVAL, "%s: has no bias (add --no-bias)", f);
        if (c->wd_w || c->wd_h || c->wd_b)
            return cl_error(CL_EINVAL, "%s: replaces weight decay (drop --wd-w/--wd-h/--wd-b "
                                       "or set them to 0)", f);
    }
    if (c->lpm && !(isfinite(c->ew) && c->ew > 0))
        return cl_error(CL_EINVAL, "--ew: need a number > 0 with --lpm");
    if (c->lpm && !(isfinite(c->eh) && c->eh > 0))
        return cl_error(CL_EINVAL, "--eh: need a number > 0 with --lpm");
    if (!c->lpm && (c->ew || c->eh))
        return cl_error(CL_EINVAL, "--ew/--eh: only with --lpm");
    if (c->sphere && !(isfinite(c->temperature) && c->temperature > 0))
        return cl_error(CL_EINVAL, "--temperature: need a number > 0");
    if (!c->sphere && c->temperature != 1)
        return cl_error(CL_EINVAL, "--temperature: only with --sphere");
    if (c->steps < 0) return cl_error(CL_EINVAL, "--steps: need a number >= 0");
    if (!(isfinite(c->lr) && c->lr > 0)) return cl_error(CL_EINVAL, "--lr: need a number > 0");
    if (!(isfinite(c->momentum) && c->momentum >= 0 && c->momentum < 1))
        return cl_error(CL_EINVAL, "--momentum: need 0 <= m < 1");
    if (c->log_every < 0) return cl_error(CL_EINVAL, "--log-every: need a number >= 1");
    if (!(isfinite(c->init_std) && c->init_std > 0))
        return cl_error(CL_EINVAL, "--init-std: need a number > 0");
    return CL_OK;
}

/* Lays theta out as W, b, H1, V_1..V_{L-1}; sizes checked by config_check. */
static cl_status layout(cl_ufm *u)
{
    const cl_ufm_config *c = &u->c;
    u->L = c->depth;
    u->dl = u->L > 1 ? c->width : c->d;
    int64_t n = (int64_t)c->K * u->dl + c->K + u->N * c->d;
    for (int l = 1; l < u->L; l++) {
        u->vin[l] = l == 1 ? c->d : c->width;
        n += (int64_t)c->width * u->vin[l];
    }
    u->n = n;
    u->theta = cl_alloc_array((size_t)n, sizeof(double), "ufm parameters");
    u->grad = cl_alloc_array((size_t)n, sizeof(double), "ufm gradient");
    u->vel = cl_alloc_array((size_t)n, sizeof(double), "ufm velocity");
    if (!u->theta || !u->grad || !u->vel) return CL_ENOMEM;
    double *p = u->theta;
    u->W = p;
    p += (int64_t)c->K * u->dl;
    u->b = p;
    p += c->K;
    u->H1 = p;
    p += u->N * c->d;
    for (int l = 1; l < u->L; l++) {
        u->V[l] = p;
        p += (int64_t)c->width * u->vin[l];
    }
    u->Z[1] = u->H1;
    int wmax = c->d > u->dl ? c->d : u->dl;
    for (int l = 1; l < u->L; l++) {
        u->A[l] = cl_alloc_array((size_t)(u->N * c->width), sizeof(double), "ufm activations");
        u->Z[l + 1] = cl_alloc_array((size_t)(u->N * c->width), sizeof(double), "ufm features");
        if (!u->A[l] || !u->Z[l + 1]) return CL_ENOMEM;
    }
    u->logits = cl_alloc_array((size_t)(u->N * c->K), sizeof(double), "ufm logits");
    u->dlogits = cl_alloc_array((size_t)(u->N * c->K), sizeof(double), "ufm logits");
    u->dZ = cl_alloc_array((size_t)(u->N * wmax), sizeof(double), "ufm scratch");
    u->dA = cl_alloc_array((size_t)(u->N * wmax), sizeof(double), "ufm scratch");
    u->y = cl_alloc_array((size_t)u->N, sizeof(int32_t), "ufm labels");
    u->y2 = cl_alloc_array((size_t)u->N, sizeof(int32_t), "ufm labels");
    if (!u->logits || !u->dlogits || !u->dZ || !u->dA || !u->y || !u->y2) return CL_ENOMEM;
    return CL_OK;
}

cl_status cl_ufm_create(cl_ufm **out, const cl_ufm_config *c)
{
    *out = NULL;
    CL_TRY(cl_ufm_config_check(c));
    cl_ufm *u = cl_alloc(sizeof *u, "ufm");
    if (!u) return CL_ENOMEM;
    u->c = *c;
    memcpy(u->counts, c->counts, sizeof(int64_t) * (size_t)c->K);
    u->c.counts = u->counts;
    if (!u->c.log_every) u->c.log_every = c->steps / 100 > 0 ? c->steps / 100 : 1;
    u->N = samples(c);
    cl_status st = layout(u);
    if (st != CL_OK) {
        cl_ufm_destroy(u);
        return st;
    }
    int64_t i = 0;
    for (int k = 0; k < c->K; k++)
        for (int64_t j = 0; j < c->counts[k]; j++, i++) {
            u->y[i] = k;
            u->y2[i] = -1;
        }
    u->ns = i;
    for (int a = 0; a < c->K; a++) /* two-label sets (a, b), a < b, in order */
        for (int b = a + 1; b < c->K; b++)
            for (int64_t j = 0; j < c->pairs; j++, i++) {
                u->y[i] = a;
                u->y2[i] = b;
            }
    cl_rng rng;
    cl_rng_seed(&rng, c->seed);
    for (int64_t j = 0; j < u->n; j++)
        u->theta[j] = c->init_std * cl_rng_normal(&rng);
    if (!c->bias) memset(u->b, 0, sizeof(double) * (size_t)c->K);
    if (c->sphere) {
        cl_ufm_unit_rows(u->W, c->K, u->dl);
        cl_ufm_unit_rows(u->H1, u->N, c->d);
    }
    if (c->dnc_start) cl_ufm_dnc_init(u);
    *out = u;
    return CL_OK;
}

void cl_ufm_destroy(cl_ufm *u)
{
    if (!u) return;
    cl_free(u->theta);
    cl_free(u->grad);
    cl_free(u->vel);
    for (int l = 1; l < u->L; l++) {
        cl_free(u->A[l]);
        cl_free(u->Z[l + 1]);
    }
    cl_free(u->logits);
    cl_free(u->dlogits);
    cl_free(u->dZ);
    cl_free(u->dA);
    cl_free(u->y);
    cl_free(u->y2);
    cl_free(u);
}

double *cl_ufm_params(cl_ufm *u, int64_t *n)
{
    if (n) *n = u->n;
    return u->theta;
}

const double *cl_ufm_grad(const cl_ufm *u) { return u->grad; }

cl_status cl_ufm_labels_khot(const cl_ufm *u, uint8_t **Yk)
{
    const int K = u->c.K;
    *Yk = cl_alloc_array((size_t)(u->N * K), 1, "ufm K-hot labels");
    if (!*Yk) return CL_ENOMEM;
    for (int64_t i = 0; i < u->N; i++) {
        (*Yk)[i * K + u->y[i]] = 1;
        if (u->y2[i] >= 0) (*Yk)[i * K + u->y2[i]] = 1;
    }
    return CL_OK;
}
