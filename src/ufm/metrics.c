/* The measurements of one metrics.csv row: objective, the analyzer's keys
 * (every key of cl_nc_key_name, on the classifier's input features and W),
 * norms, margin, the closed form and the gaps to it, and per layer of a
 * deep UFM the rank of the class means and NC1 (the analyzer's, and
 * tr(Sw)/tr(Sb)). With two-label samples (c.pairs > 0) the NC keys and the
 * margin are those of the single-label samples, and the mlab keys (Li, Wang,
 * Li & Qu, ICML 2024) of all of them follow the tail columns. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "collapse/csv.h"
#include "collapse/mem.h"
#include "collapse/mlab.h"
#include "collapse/nc.h"
#include "internal.h"

static const char *const tail_cols[] = {
    "mean_norm_w", "mean_norm_h", "margin", "cf_objective", "gap_objective", "cf_norm_w",
    "gap_norm_w",  "cf_norm_h",   "gap_norm_h", "cf_margin", "gap_margin", "cf_bias",
    "gap_bias",    "gap_gram"};
#define NTAIL ((int)(sizeof tail_cols / sizeof tail_cols[0]))

static void append(char **p, size_t *left, const char *s)
{
    int w = snprintf(*p, *left, "%s", s);
    if (w < 0 || (size_t)w >= *left) w = (int)(*left ? *left - 1 : 0);
    *p += w;
    *left -= (size_t)w;
}

cl_status cl_ufm_header(const cl_ufm *u, char **text)
{
    size_t cap = 64 * (size_t)(cl_nc_nkeys() + NTAIL + 3 * u->L + cl_mlab_key_count() + 4);
    char *h = cl_alloc(cap, "ufm csv header"), *p = h;
    if (!h) return CL_ENOMEM;
    size_t left = cap;
    append(&p, &left, "step,objective,loss");
    for (int i = 0; i < cl_nc_nkeys(); i++) {
        append(&p, &left, ",");
        append(&p, &left, cl_nc_key_name(i));
    }
    for (int i = 0; i < NTAIL; i++) {
        append(&p, &left, ",");
        append(&p, &left, tail_cols[i]);
    }
    for (int i = 0; u->c.pairs && i < cl_mlab_key_count(); i++) {
        append(&p, &left, ",");
        append(&p, &left, cl_mlab_key_name(i));
    }
    if (u->L > 1) {
        char col[32];
        for (int l = 1; l <= u->L; l++) {
            snprintf(col, sizeof col, ",rank_layer%d", l);
            append(&p, &left, col);
        }
        for (int l = 1; l <= u->L; l++) {
            snprintf(col, sizeof col, ",nc1_layer%d", l);
            append(&p, &left, col);
        }
        for (int l = 1; l <= u->L; l++) {
            snprintf(col, sizeof col, ",nc1q_layer%d", l);
            append(&p, &left, col);
        }
    }
    *text = h;
    return CL_OK;
}

static double gap(double x, double ref)
{
    if (!isfinite(ref)) return NAN;
    return ref != 0 ? fabs(x - ref) / fabs(ref) : fabs(x - ref);
}

/* Norms, margin and the gaps to the closed form into s. */
static void geometry(const cl_ufm *u, cl_ufm_summary *s)
{
    const cl_ufm_config *c = &u->c;
    int K = c->K, dl = u->dl;
    const double *Z = u->Z[u->L];
    double sw = 0, sh = 0, sm = 0;
    for (int k = 0; k < K; k++) {
        double q = 0;
        for (int j = 0; j < dl; j++)
            q += u->W[(int64_t)k * dl + j] * u->W[(int64_t)k * dl + j];
        sw += sqrt(q);
    }
    for (int64_t i = 0; i < u->N; i++) {
        double q = 0;
        for (int j = 0; j < dl; j++)
            q += Z[i * dl + j] * Z[i * dl + j];
        sh += sqrt(q);
        if (i >= u->ns) continue; /* the margin of the single-label samples */
        const double *z = u->logits + i * K;
        double other = -INFINITY;
        for (int k = 0; k < K; k++)
            if (k != u->y[i] && z[k] > other) other = z[k];
        sm += z[u->y[i]] - other;
    }
    s->mean_norm_w = sw / K;
    s->mean_norm_h = sh / (double)u->N;
    s->margin = sm / (double)u->ns;
    cl_ufm_cf cf;
    cl_ufm_closed_form(c, &cf);
    s->gap_objective = gap(s->objective, cf.objective);
    s->gap_norm_w = gap(s->mean_norm_w, cf.norm_w);
    s->gap_norm_h = gap(s->mean_norm_h, cf.norm_h);
    s->gap_margin = gap(s->margin, cf.margin);
    s->gap_bias = s->gap_gram = NAN;
    if (!cf.kind) return;
    double bmean = 0, gb = 0, num = 0, den = 0;
    for (int k = 0; k < K; k++)
        bmean += u->b[k] / K;
    for (int k = 0; k < K; k++) {
        double ref = cf.kind == 1 ? bmean : cf.bias;
        gb = fmax(gb, fabs(u->b[k] - ref));
    }
    s->gap_bias = gb;
    for (int a = 0; a < K; a++)
        for (int b = 0; b < K; b++) {
            double g = 0;
            for (int j = 0; j < dl; j++)
                g += u->W[(int64_t)a * dl + j] * u->W[(int64_t)b * dl + j];
            double ref = cf.s * ((a == b) - (cf.kind == 2 ? 0 : 1.0 / K));
            num += (g - ref) * (g - ref);
            den += ref * ref;
        }
    s->gap_gram = den > 0 ? sqrt(num / den) : sqrt(num);
}

/* The analyzer on the float32 export, with the conventions of `collapse
 * analyze` (its defaults plus the gnc group). Class means of rank <
 * min(K-1, dim) (minority collapse, low-rank DUFM layers) leave nc1 and D
 * NAN and every other key computed; a refusal (non-finite features) makes
 * *ok = 0 and every key NAN. */
static cl_status analyze(cl_ufm *u, cl_nc_result *r, int *ok, cl_mlab_result *m)
{
    float *H, *W, *b;
    int32_t *y;
    int64_t N;
    int dl;
    CL_TRY(cl_ufm_export(u, &H, &W, &b, &y, &N, &dl));
    cl_nc_opts o = cl_ufm_nc_opts();
    cl_status st = cl_nc_analyze(H, u->ns, dl, y, u->c.K, W, b, &o, r); /* singles first */
    *ok = st == CL_OK;
    if (st == CL_ENUMERIC) st = CL_OK;
    cl_mlab_result_init(m, N, dl, u->c.K);
    uint8_t *Yk = NULL;
    if (st == CL_OK && u->c.pairs && (st = cl_ufm_labels_khot(u, &Yk)) == CL_OK) {
        st = cl_mlab_analyze(H, N, dl, Yk, u->c.K, m);
        if (st == CL_ENUMERIC) cl_mlab_result_init(m, N, dl, u->c.K), st = CL_OK;
    }
    cl_free(Yk);
    cl_free(H);
    cl_free(W);
    cl_free(b);
    cl_free(y);
    return st;
}

/* Per layer l = 1..L: rank of the class means of Z_l and the analyzer's nc1
 * (NAN when those means are rank-deficient). */
static cl_status layers(cl_ufm *u, cl_ufm_summary *s)
{
    for (int l = 1; l <= u->L; l++) {
        int dim = l == 1 ? u->c.d : u->c.width;
        s->rank[l - 1] = cl_ufm_class_mean_rank(u, u->Z[l], dim);
        s->nc1_layer[l - 1] = NAN;
        s->nc1q_layer[l - 1] = cl_ufm_nc1_quotient(u, u->Z[l], dim);
        float *Zf = cl_alloc_array((size_t)(u->N * dim), sizeof(float), "ufm layer features");
        if (!Zf) return CL_ENOMEM;
        for (int64_t i = 0; i < u->N * dim; i++)
            Zf[i] = (float)u->Z[l][i];
        cl_nc_result r;
        cl_status st = cl_nc_analyze(Zf, u->N, dim, u->y, u->c.K, NULL, NULL, NULL, &r);
        cl_free(Zf);
        if (st == CL_OK) s->nc1_layer[l - 1] = r.nc1;
        else if (st != CL_ENUMERIC) return st;
    }
    return CL_OK;
}

cl_status cl_ufm_row(cl_ufm *u, int64_t step, char *row, size_t cap, cl_ufm_summary *s)
{
    memset(s, 0, sizeof *s);
    s->step = step;
    cl_ufm_eval(u, 0, &s->objective, &s->loss);
    geometry(u, s);
    cl_nc_result r;
    cl_mlab_result ml;
    int ok;
    CL_TRY(analyze(u, &r, &ok, &ml));
    s->mlab_angle = ml.angle;
    s->mlab_scale_mean = ml.scale_mean;
    s->mlab_scale_cv = ml.scale_cv;
    s->nc1 = ok ? r.nc1 : NAN;
    s->minority_cos_W = ok ? r.minority_cos_W : NAN;
    s->majority_cos_W = ok ? r.majority_cos_W : NAN;
    if (u->L > 1) CL_TRY(layers(u, s));
    cl_ufm_cf cf;
    cl_ufm_closed_form(&u->c, &cf);
    snprintf(row, cap, "%lld", (long long)step);
    cl_csv_put(row, cap, s->objective, 0);
    cl_csv_put(row, cap, s->loss, 0);
    for (int i = 0; i < cl_nc_nkeys(); i++)
        cl_csv_put(row, cap, ok ? cl_nc_key_value(&r, i) : NAN, 0);
    const double tail[NTAIL] = {s->mean_norm_w,    s->mean_norm_h,   s->margin,
                                cf.objective,      s->gap_objective, cf.norm_w,
                                s->gap_norm_w,     cf.norm_h,        s->gap_norm_h,
                                cf.margin,         s->gap_margin,    cf.bias,
                                s->gap_bias,       s->gap_gram};
    for (int i = 0; i < NTAIL; i++)
        cl_csv_put(row, cap, tail[i], 0);
    for (int i = 0; u->c.pairs && i < cl_mlab_key_count(); i++)
        cl_csv_put(row, cap, cl_mlab_key_value(&ml, i), 0);
    if (u->L > 1) {
        for (int l = 0; l < u->L; l++)
            cl_csv_put(row, cap, s->rank[l], 0);
        for (int l = 0; l < u->L; l++)
            cl_csv_put(row, cap, s->nc1_layer[l], 0);
        for (int l = 0; l < u->L; l++)
            cl_csv_put(row, cap, s->nc1q_layer[l], 0);
    }
    return CL_OK;
}

cl_nc_opts cl_ufm_nc_opts(void)
{
    cl_nc_opts o = cl_nc_opts_default();
    o.gnc = 1;
    return o;
}

cl_status cl_ufm_measure(cl_ufm *u, cl_ufm_summary *s)
{
    char row[16384];
    return cl_ufm_row(u, 0, row, sizeof row, s);
}
