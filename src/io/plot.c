/* PNG line plots through PLplot's cairo driver (see plot.h), written
 * through atomic.h and checked whole before the rename. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <plplot.h>
#include <zlib.h>

#include "collapse/atomic.h"
#include "collapse/mem.h"
#include "collapse/plot.h"

/* cmap0: 0 background (white), 1 foreground (black), 2.. the tab10 colors */
static const PLINT pal_r[12] = {255, 0, 31, 255, 44, 214, 148, 140, 227, 127, 188, 23};
static const PLINT pal_g[12] = {255, 0, 119, 127, 160, 39, 103, 86, 119, 127, 189, 190};
static const PLINT pal_b[12] = {255, 0, 180, 14, 44, 40, 189, 75, 194, 127, 34, 207};
#define PAL_FIRST 2

#define MAX_LEGEND 32
#define LABEL_LEN 96

/* LeakSanitizer's hook (consulted only in -fsanitize=address builds):
 * fontconfig, reached through PLplot's cairo/pango driver, keeps its font
 * caches until the process exits, by design. Those are not our leaks; every
 * other leak is still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }

static int color_index(int c)
{
    c %= CL_PLOT_COLORS;
    if (c < 0) c += CL_PLOT_COLORS;
    return PAL_FIRST + c;
}

/* PLplot reads '#' as an escape: double it. */
static void plain_text(char *dst, size_t cap, const char *src)
{
    size_t j = 0;
    for (const char *p = src ? src : ""; *p && j + 2 < cap; p++) {
        if (*p == '#') dst[j++] = '#';
        dst[j++] = *p;
    }
    dst[j] = 0;
}

static int point_ok(const cl_plot_panel *p, double x, double y)
{
    if (!isfinite(x) || !isfinite(y)) return 0;
    if (p->logx && x <= 0) return 0;
    if (p->logy && y <= 0) return 0;
    return 1;
}

static double axis_value(int log, double v) { return log ? log10(v) : v; }

static void expand(double *lo, double *hi, int log, int any)
{
    if (!any) {
        *lo = 0;
        *hi = 1;
        return;
    }
    if (*hi - *lo <= 1e-12 * fmax(1.0, fabs(*hi))) {
        double d = log ? 0.5 : fmax(0.5, 0.1 * fabs(*hi));
        *lo -= d;
        *hi += d;
        return;
    }
    double pad = 0.04 * (*hi - *lo);
    *lo -= pad;
    *hi += pad;
}

/* The band of se (lo..hi) as polygons in its colour at 20% opacity, one
 * per run of drawable points; bx, by hold 2 * se->n points. */
static void draw_band(const cl_plot_panel *p, const cl_plot_series *se, PLFLT *bx, PLFLT *by)
{
    int c = color_index(se->color), run = 0, start = 0;
    plscol0a(c, pal_r[c], pal_g[c], pal_b[c], 0.2);
    plcol0(c);
    for (int i = 0; i <= se->n; i++) {
        if (i < se->n && point_ok(p, se->x[i], se->lo[i]) && point_ok(p, se->x[i], se->hi[i])) {
            if (!run++) start = i;
            continue;
        }
        for (int k = 0; run > 1 && k < run; k++) {
            bx[k] = bx[2 * run - 1 - k] = axis_value(p->logx, se->x[start + k]);
            by[k] = axis_value(p->logy, se->hi[start + k]);
            by[2 * run - 1 - k] = axis_value(p->logy, se->lo[start + k]);
        }
        if (run > 1) plfill(2 * run, bx, by);
        run = 0;
    }
    plscol0a(c, pal_r[c], pal_g[c], pal_b[c], 1.0);
}

/* Widens [lo, hi] to y (axis units) when drawable. */
static void extend(const cl_plot_panel *p, double x, double y, double *lo, double *hi, int *any)
{
    if (!point_ok(p, x, y)) return;
    y = axis_value(p->logy, y);
    *lo = fmin(*lo, y), *hi = fmax(*hi, y);
    *any = 1;
}

static void draw_panel(const cl_plot_panel *p, PLFLT *bx, PLFLT *by)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int any = 0;
    for (int s = 0; s < p->nseries; s++) {
        const cl_plot_series *se = &p->series[s];
        for (int i = 0; i < se->n; i++) {
            if (!point_ok(p, se->x[i], se->y[i])) continue;
            double x = axis_value(p->logx, se->x[i]), y = axis_value(p->logy, se->y[i]);
            xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
            any = 1;
        }
        for (int i = 0; se->lo && se->hi && i < se->n; i++) {
            extend(p, se->x[i], se->lo[i], &ylo, &yhi, &any);
            extend(p, se->x[i], se->hi[i], &ylo, &yhi, &any);
        }
    }
    expand(&xlo, &xhi, p->logx, any);
    expand(&ylo, &yhi, p->logy, any);
    /* PLplot labels a log axis only at powers of ten: a range inside one
     * decade would have no label at all, so it is widened to the decade */
    if (p->logx && ceil(xlo) > xhi) xlo = floor(xlo), xhi = ceil(xhi);
    if (p->logy && ceil(ylo) > yhi) ylo = floor(ylo), yhi = ceil(yhi);

    plcol0(1);
    pllsty(1);
    plenv(xlo, xhi, ylo, yhi, 0, (p->logx ? 10 : 0) + (p->logy ? 20 : 0));
    char t[LABEL_LEN], xl[LABEL_LEN], yl[LABEL_LEN];
    plain_text(t, sizeof t, p->title);
    plain_text(xl, sizeof xl, p->xlabel);
    plain_text(yl, sizeof yl, p->ylabel);
    pllab(xl, yl, t);

    for (int s = 0; s < p->nseries; s++)
        if (p->series[s].lo && p->series[s].hi) draw_band(p, &p->series[s], bx, by);
    for (int s = 0; s < p->nseries; s++) {
        const cl_plot_series *se = &p->series[s];
        plcol0(color_index(se->color));
        pllsty(se->style == 1 ? 3 : se->style == 2 ? 2 : 1);
        plwidth(2.0);
        int run = 0;
        for (int i = 0; i <= se->n; i++) {
            if (i < se->n && point_ok(p, se->x[i], se->y[i])) {
                bx[run] = axis_value(p->logx, se->x[i]);
                by[run] = axis_value(p->logy, se->y[i]);
                run++;
                continue;
            }
            if (run > 1 && se->points != 2) plline(run, bx, by);
            if (run > 0 && se->points) plpoin(run, bx, by, 17);
            if (run == 1 && !se->points) plpoin(1, bx, by, 1);
            run = 0;
        }
        plwidth(1.0);
    }
    pllsty(1);

    if (p->legend == CL_PLOT_LEGEND_NONE) return;
    int nl = 0;
    PLINT opts[MAX_LEGEND], tcol[MAX_LEGEND], lcol[MAX_LEGEND], lsty[MAX_LEGEND];
    PLFLT lwid[MAX_LEGEND];
    char texts[MAX_LEGEND][LABEL_LEN];
    const char *tp[MAX_LEGEND];
    for (int s = 0; s < p->nseries && nl < MAX_LEGEND; s++) {
        const cl_plot_series *se = &p->series[s];
        if (!se->label) continue;
        opts[nl] = PL_LEGEND_LINE;
        tcol[nl] = 1;
        lcol[nl] = color_index(se->color);
        lsty[nl] = se->style == 1 ? 3 : se->style == 2 ? 2 : 1;
        lwid[nl] = 2.0;
        plain_text(texts[nl], LABEL_LEN, se->label);
        tp[nl] = texts[nl];
        nl++;
    }
    if (!nl) return;
    PLINT pos = PL_POSITION_INSIDE | PL_POSITION_VIEWPORT;
    switch (p->legend) {
    case CL_PLOT_LEGEND_TOP_RIGHT: pos |= PL_POSITION_TOP | PL_POSITION_RIGHT; break;
    case CL_PLOT_LEGEND_BOTTOM_RIGHT: pos |= PL_POSITION_BOTTOM | PL_POSITION_RIGHT; break;
    case CL_PLOT_LEGEND_TOP_LEFT: pos |= PL_POSITION_TOP | PL_POSITION_LEFT; break;
    default: pos |= PL_POSITION_BOTTOM | PL_POSITION_LEFT; break;
    }
    PLFLT lw, lh;
    plcol0(1);
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, pos, 0.02, 0.02, 0.08, 0,
             1, 1, 0, 0, nl, opts, 0.8, 0.6, 1.6, 0.0, tcol, tp, NULL, NULL, NULL, NULL, lcol, lsty,
             lwid, NULL, NULL, NULL, NULL);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* 1 if the file at path is a whole PNG: the signature, then chunks whose
 * CRCs match, up to an IEND chunk that ends the file. */
static int png_whole(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size > 8 && fseek(f, 0, SEEK_SET) == 0) buf = cl_alloc((size_t)size, "PNG check");
    int ok = buf && fread(buf, 1, (size_t)size, f) == (size_t)size && !memcmp(buf, sig, 8);
    fclose(f);
    size_t at = 8, n = ok ? (size_t)size : 0;
    ok = 0;
    while (n >= 12 && at <= n - 12) {
        size_t len = be32(buf + at);
        if (len > n - 12 - at) break;
        const unsigned char *type = buf + at + 4;
        uLong crc = crc32(crc32(0L, Z_NULL, 0), type, (uInt)(len + 4));
        if (crc != be32(type + 4 + len)) break;
        at += 12 + len;
        if (!memcmp(type, "IEND", 4)) {
            ok = at == n;
            break;
        }
    }
    cl_free(buf);
    return ok;
}

/* Draws one PNG at path through draw(ctx, bx, by) on a fresh PLplot stream
 * with a cols x rows grid and character scale chr, bx/by holding maxn
 * points; written under PATH.tmp, checked whole and renamed (atomic.h). */
static cl_status render(const char *path, int width, int height, int cols, int rows, double chr,
                        int64_t maxn, void (*draw)(const void *ctx, PLFLT *bx, PLFLT *by),
                        const void *ctx)
{
    cl_atomic_file a;
    CL_TRY(cl_atomic_name(&a, path));
    /* PLplot exits the process when it cannot open its file: check first */
    FILE *f = fopen(a.tmp, "wb");
    if (!f) return cl_error(CL_EIO, "%s: cannot write: %s", a.tmp, strerror(errno));
    fclose(f);
    PLFLT *bx = cl_alloc_array((size_t)maxn, sizeof(PLFLT), "plot buffer");
    PLFLT *by = cl_alloc_array((size_t)maxn, sizeof(PLFLT), "plot buffer");
    if (!bx || !by) {
        cl_free(bx);
        cl_free(by);
        cl_atomic_abort(&a);
        return CL_ENOMEM;
    }
    PLINT strm;
    plmkstrm(&strm);
    plsdev("pngcairo");
    plsfnam(a.tmp);
    plspage(0, 0, width, height, 0, 0);
    plscmap0(pal_r, pal_g, pal_b, 12);
    plssub(cols, rows);
    plinit();
    plschr(0, chr);
    draw(ctx, bx, by);
    plend1();
    cl_free(bx);
    cl_free(by);

    /* PLplot does not report write errors: check the PNG is whole */
    if (!png_whole(a.tmp)) {
        cl_atomic_abort(&a);
        return cl_error(CL_EIO, "%s: write failed: PLplot wrote an incomplete PNG", path);
    }
    return cl_atomic_commit(&a);
}

typedef struct {
    const cl_plot_panel *panels;
    int npanels;
} panels_ctx;

static void draw_panels(const void *ctx, PLFLT *bx, PLFLT *by)
{
    const panels_ctx *c = ctx;
    for (int i = 0; i < c->npanels; i++) draw_panel(&c->panels[i], bx, by);
}

cl_status cl_plot_figure(const char *path, const cl_plot_panel *panels, int npanels, int cols,
                         int width, int height)
{
    if (npanels < 1 || cols < 1 || width < 16 || height < 16 || width > 20000 || height > 20000)
        return cl_error(CL_EINVAL, "%s: bad figure size (%d panels, %d columns, %dx%d)", path,
                        npanels, cols, width, height);
    int64_t maxn = 1;
    for (int i = 0; i < npanels; i++)
        for (int s = 0; s < panels[i].nseries; s++)
            if (2 * (int64_t)panels[i].series[s].n > maxn) maxn = 2 * (int64_t)panels[i].series[s].n;
    const panels_ctx c = {panels, npanels};
    return render(path, width, height, cols, (npanels + cols - 1) / cols, 0.75, maxn, draw_panels,
                  &c);
}

/* ---- feature scatter (dim 2 or 3) ---- */

#define SCATTER_MAX_POINTS 20000

/* Top two eigenvectors (columns of P [3, 2], descending eigenvalues) of the
 * symmetric 3x3 matrix C, by cyclic Jacobi rotations. */
static void top2_axes(double C[3][3], double P[3][2])
{
    double V[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    for (int sweep = 0; sweep < 50; sweep++) {
        double off = fabs(C[0][1]) + fabs(C[0][2]) + fabs(C[1][2]);
        if (off < 1e-300) break;
        for (int p = 0; p < 2; p++)
            for (int q = p + 1; q < 3; q++) {
                if (C[p][q] == 0) continue;
                double th = 0.5 * atan2(2 * C[p][q], C[q][q] - C[p][p]);
                double c = cos(th), s = sin(th);
                for (int k = 0; k < 3; k++) { /* C <- C G, V <- V G */
                    double a = C[k][p], b = C[k][q];
                    C[k][p] = c * a - s * b;
                    C[k][q] = s * a + c * b;
                    a = V[k][p], b = V[k][q];
                    V[k][p] = c * a - s * b;
                    V[k][q] = s * a + c * b;
                }
                for (int k = 0; k < 3; k++) { /* C <- G^T C */
                    double a = C[p][k], b = C[q][k];
                    C[p][k] = c * a - s * b;
                    C[q][k] = s * a + c * b;
                }
            }
    }
    int order[3] = {0, 1, 2};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (C[order[j]][order[j]] > C[order[i]][order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    for (int k = 0; k < 3; k++)
        for (int a = 0; a < 2; a++)
            P[k][a] = V[k][order[a]];
}

/* Projection of H [N, dim] to 2-D: the identity for dim 2; for dim 3 the top
 * two principal axes of the (centred) feature covariance, applied to the
 * uncentred features so the origin, where the classifier rays start, stays
 * at the origin. */
static void projection(const float *H, int64_t N, int dim, double P[3][2])
{
    memset(P, 0, sizeof(double) * 6);
    if (dim == 2) {
        P[0][0] = P[1][1] = 1;
        return;
    }
    double mean[3] = {0}, C[3][3] = {{0}};
    for (int64_t i = 0; i < N; i++)
        for (int a = 0; a < 3; a++)
            mean[a] += H[i * 3 + a] / (double)N;
    for (int64_t i = 0; i < N; i++)
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                C[a][b] += (H[i * 3 + a] - mean[a]) * (H[i * 3 + b] - mean[b]);
    top2_axes(C, P);
}

typedef struct {
    const char *title;
    const float *H, *W;
    int64_t N;
    int dim, K;
    const int32_t *y;
    double P[3][2];
} scatter_ctx;

static void draw_scatter(const void *ctx, PLFLT *bx, PLFLT *by)
{
    const scatter_ctx *sc = ctx;
    const char *title = sc->title;
    const float *H = sc->H, *W = sc->W;
    const int64_t N = sc->N;
    const int dim = sc->dim, K = sc->K;
    const int32_t *y = sc->y;
    const double(*P)[2] = sc->P;
    const int64_t step = N > SCATTER_MAX_POINTS ? (N + SCATTER_MAX_POINTS - 1) / SCATTER_MAX_POINTS
                                                : 1;
    double r = 0;
    for (int64_t i = 0; i < N; i += step) {
        double u = 0, v = 0;
        for (int a = 0; a < dim; a++) {
            u += H[i * dim + a] * P[a][0];
            v += H[i * dim + a] * P[a][1];
        }
        if (isfinite(u) && isfinite(v)) r = fmax(r, sqrt(u * u + v * v));
    }
    if (!(r > 0)) r = 1;
    const double lim = 1.08 * r;
    plcol0(1);
    plenv(-lim, lim, -lim, lim, 1, 0); /* equal scales: angles are true */
    char t[LABEL_LEN];
    plain_text(t, sizeof t, title);
    pllab(dim == 2 ? "h1" : "principal axis 1", dim == 2 ? "h2" : "principal axis 2", t);
    plssym(0, 1.0);
    for (int c = 0; c < K; c++) {
        int64_t n = 0;
        for (int64_t i = 0; i < N; i += step) {
            if (y[i] != c) continue;
            double u = 0, v = 0;
            for (int a = 0; a < dim; a++) {
                u += H[i * dim + a] * P[a][0];
                v += H[i * dim + a] * P[a][1];
            }
            if (!isfinite(u) || !isfinite(v)) continue;
            bx[n] = u;
            by[n] = v;
            n++;
        }
        plcol0(color_index(c));
        if (n) plpoin((PLINT)n, bx, by, 17); /* filled dots */
    }
    plssym(0, 1);
    for (int c = 0; W && c < K; c++) { /* the classifier direction of class c */
        double u = 0, v = 0, nw = 0;
        for (int a = 0; a < dim; a++) {
            u += W[c * dim + a] * P[a][0];
            v += W[c * dim + a] * P[a][1];
            nw += (double)W[c * dim + a] * W[c * dim + a];
        }
        if (!(nw > 0) || !isfinite(nw)) continue;
        PLFLT lx[2] = {0, u / sqrt(nw) * r}, ly[2] = {0, v / sqrt(nw) * r};
        plwidth(5.0);
        plcol0(1);
        plline(2, lx, ly);
        plwidth(3.0);
        plcol0(color_index(c));
        plline(2, lx, ly);
        char lab[16];
        snprintf(lab, sizeof lab, "%d", c);
        plcol0(1);
        plptex(lx[1] * 1.04, ly[1] * 1.04, 0, 0, 0.5, lab);
    }
    plwidth(1.0);
}

cl_status cl_plot_features(const char *path, const char *title, const float *H, int64_t N,
                           int dim, const int32_t *y, int K, const float *W, int width,
                           int height)
{
    if (dim != 2 && dim != 3)
        return cl_error(CL_EINVAL,
                        "%s: the features have dim %d; a scatter needs dim 2 or 3 (use "
                        "--feature-dim 2 or 3)",
                        path, dim);
    if (N < 1 || K < 1 || width < 16 || height < 16 || width > 20000 || height > 20000)
        return cl_error(CL_EINVAL, "%s: bad scatter (%lld points, %d classes, %dx%d)", path,
                        (long long)N, K, width, height);
    for (int64_t i = 0; i < N; i++)
        if (y[i] < 0 || y[i] >= K)
            return cl_error(CL_EINVAL, "%s: label %d of sample %lld is not in [0, %d)", path,
                            (int)y[i], (long long)i, K);
    scatter_ctx c = {title, H, W, N, dim, K, y, {{0}}};
    projection(H, N, dim, c.P);
    const int64_t cap = N < SCATTER_MAX_POINTS ? N : SCATTER_MAX_POINTS;
    return render(path, width, height, 1, 1, 0.8, cap + 2, draw_scatter, &c);
}
