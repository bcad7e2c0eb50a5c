/* collapse ufm: the unconstrained-features model simulator (src/ufm/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "collapse/error.h"
#include "collapse/mem.h"
#include "collapse/ufm.h"
#include "opts.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: collapse ufm --classes K --dim d (--per-class n | --counts n1,n2,...)\n"
        "                    --loss ce|mse [--no-bias] --wd-w LW --wd-h LH --wd-b LB\n"
        "                    [--depth L --act relu|linear --width W [--dnc-start]]\n"
        "                    [--lpm --ew EW --eh EH] [--sphere --temperature T]\n"
        "                    --steps S [--lr LR] [--momentum M] [--seed s] [--init-std S]\n"
        "                    [--log-every E] --out DIR\n"
        "\n"
        "Full-batch gradient descent on the unconstrained-features model (Zhu et al. 2021):\n"
        "  (1/N) sum_i loss(W h_i + b, y_i) + LW/2 ||W||^2 + LH/2 ||H||^2 + LB/2 ||b||^2\n"
        "(H penalty not divided by N; MSE = (1/(2N)) ||W H + b 1^T - Y||^2). Objectives and\n"
        "closed forms: docs/THEORY.md.\n"
        "  --classes K, --dim d       classes and feature dimension\n"
        "  --per-class n              n samples per class, or\n"
        "  --counts n1,...,nK         samples of each class (imbalanced)\n"
        "  --loss ce|mse              default ce\n"
        "  --pairs N --loss pal|pal=mean  multi-label (Li et al. 2024): N samples per two-label\n"
        "                             set {i, j} besides the single-label ones; pick-all-label\n"
        "                             loss, sum of CE over the labels or its mean (soft targets);\n"
        "                             adds labels_khot.npy and the mlab columns\n"
        "  --no-bias                  no classifier bias b (implied by --lpm, --sphere)\n"
        "  --wd-w, --wd-h, --wd-b     weight decays (default 5e-4, 5e-4, 0; 0 with --lpm and\n"
        "                             --sphere; LW also on the deep layers)\n"
        "  --depth L                  deep UFM: L-1 bias-free layers between H and W\n"
        "  --act relu|linear          their activation (default relu)\n"
        "  --width W                  their width (needed with --depth > 1)\n"
        "  --dnc-start                start from deep neural collapse (MSE, no bias)\n"
        "  --lpm --ew EW --eh EH      Layer-Peeled Model (Fang et al. 2021): CE, no bias, no\n"
        "                             wd, (1/K) sum ||w_k||^2 <= EW and\n"
        "                             (1/K) sum_k (1/n_k) sum_i ||h_ki||^2 <= EH\n"
        "  --sphere --temperature T   unit-norm w_k, h_i; logits T <w_k, h_i> (CE, no bias, no wd)\n"
        "  --steps S                  gradient steps\n"
        "  --lr LR                    step size (default 0.5)\n"
        "  --momentum M               heavy-ball momentum in [0, 1) (default 0)\n"
        "  --seed s                   seed of the random start (default 1)\n"
        "  --init-std S               the start draws every parameter from N(0, S^2)\n"
        "                             (default 0.1)\n"
        "  --log-every E              a metrics.csv row every E steps (default S/100)\n"
        "  --out DIR                  metrics.csv, W.npy, H.npy, b.npy, labels.npy\n"
        "                             (deep: also H1.npy, V<l>.npy)\n"
        "Exit status 1 on a failed run, 2 on usage.\n");
}

typedef struct {
    cl_ufm_config c;
    int64_t per_class;
    const char *counts, *out;
    int wd_given, steps_given;
} ufm_args;

/* --counts n1,n2,...: exactly K positive integers. Returns 0 or exit 2. */
static int parse_counts(const char *s, int K, int64_t *counts)
{
    const char *p = s;
    for (int k = 0; k < K; k++) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 1 || v > 100000000 || (*end != ',' && *end) ||
            (k < K - 1 && *end != ','))
            return cl_cli_fail(2, "--counts: need %d positive integers separated by commas, "
                                  "got '%s'", K, s);
        counts[k] = v;
        p = end + 1;
        if (!*end && k < K - 1)
            return cl_cli_fail(2, "--counts: need %d values (one per class), got '%s'", K, s);
        if (k == K - 1 && *end)
            return cl_cli_fail(2, "--counts: more than %d values in '%s'", K, s);
    }
    return 0;
}

/* The flags taking a number. Returns 1 if argv[*i] was one (then *rc is 0
 * or the exit status), 0 otherwise. */
static int parse_number(int argc, char **argv, int *i, ufm_args *a, int *rc)
{
    cl_ufm_config *c = &a->c;
    const char *v;
    int m;
    *rc = 0;
#define NUM(name, call)                                                \
    if ((m = cl_opt_value(argc, argv, i, name, &v)) != 0) {            \
        if (m < 0 || !(call)) *rc = 2;                                 \
        return 1;                                                      \
    }
    NUM("--classes", cl_opt_int("--classes", v, 2, CL_UFM_MAX_CLASSES, &c->K));
    NUM("--dim", cl_opt_int("--dim", v, 1, 65536, &c->d));
    NUM("--per-class", cl_opt_i64("--per-class", v, 1, 100000000, &a->per_class));
    NUM("--pairs", cl_opt_i64("--pairs", v, 1, 100000000, &c->pairs));
    NUM("--wd-w", cl_opt_double("--wd-w", v, 0, 1e6, &c->wd_w));
    NUM("--wd-h", cl_opt_double("--wd-h", v, 0, 1e6, &c->wd_h));
    NUM("--wd-b", cl_opt_double("--wd-b", v, 0, 1e6, &c->wd_b));
    NUM("--depth", cl_opt_int("--depth", v, 1, CL_UFM_MAX_DEPTH, &c->depth));
    NUM("--width", cl_opt_int("--width", v, 1, 65536, &c->width));
    NUM("--ew", cl_opt_double("--ew", v, 1e-300, 1e300, &c->ew));
    NUM("--eh", cl_opt_double("--eh", v, 1e-300, 1e300, &c->eh));
    NUM("--temperature", cl_opt_double("--temperature", v, 1e-300, 1e300, &c->temperature));
    NUM("--steps", cl_opt_i64("--steps", v, 0, INT64_C(1) << 40, &c->steps));
    NUM("--lr", cl_opt_double("--lr", v, 1e-300, 1e300, &c->lr));
    NUM("--momentum", cl_opt_double("--momentum", v, 0, 0.999999, &c->momentum));
    NUM("--seed", cl_opt_u64("--seed", v, &c->seed));
    NUM("--init-std", cl_opt_double("--init-std", v, 1e-300, 1e300, &c->init_std));
    NUM("--log-every", cl_opt_i64("--log-every", v, 1, INT64_C(1) << 40, &c->log_every));
#undef NUM
    return 0;
}

/* Returns 0, -1 after --help, or the exit status. */
static int parse(int argc, char **argv, ufm_args *a)
{
    const char *v;
    for (int i = 1; i < argc; i++) {
        int m, rc;
        if (cl_opt_flag(argv, i, "--help") || cl_opt_flag(argv, i, "-h")) {
            usage(stdout);
            return -1;
        }
        if (!strncmp(argv[i], "--wd-", 5)) a->wd_given = 1;
        if (!strncmp(argv[i], "--steps", 7)) a->steps_given = 1;
        if (parse_number(argc, argv, &i, a, &rc)) {
            if (rc) return rc;
        } else if (cl_opt_flag(argv, i, "--no-bias")) {
            a->c.bias = 0;
        } else if (cl_opt_flag(argv, i, "--lpm")) {
            a->c.lpm = 1;
        } else if (cl_opt_flag(argv, i, "--sphere")) {
            a->c.sphere = 1;
        } else if (cl_opt_flag(argv, i, "--dnc-start")) {
            a->c.dnc_start = 1;
        } else if ((m = cl_opt_value(argc, argv, &i, "--loss", &v)) != 0) {
            if (m < 0) return 2;
            const char *const losses[] = {"ce", "mse", "pal", "pal=mean"};
            int k = 0;
            while (k < 4 && strcmp(v, losses[k]))
                k++;
            if (k == 4)
                return cl_cli_fail(2, "--loss: bad value '%s' (want ce, mse, pal or pal=mean)", v);
            a->c.loss = (cl_ufm_loss)k; /* the order of cl_ufm_loss */
        } else if ((m = cl_opt_value(argc, argv, &i, "--act", &v)) != 0) {
            if (m < 0) return 2;
            if (strcmp(v, "relu") && strcmp(v, "linear"))
                return cl_cli_fail(2, "--act: bad value '%s' (want relu or linear)", v);
            a->c.act = strcmp(v, "relu") ? CL_UFM_LINEAR : CL_UFM_RELU;
        } else if ((m = cl_opt_value(argc, argv, &i, "--counts", &v)) != 0) {
            if (m < 0) return 2;
            a->counts = v;
        } else if ((m = cl_opt_value(argc, argv, &i, "--out", &v)) != 0) {
            if (m < 0) return 2;
            a->out = v;
        } else {
            return cl_cli_fail(2, "ufm: unknown argument '%s' (see collapse ufm --help)",
                               argv[i]);
        }
    }
    if (!a->c.K) return cl_cli_fail(2, "--classes: required (see collapse ufm --help)");
    if (!a->c.d) return cl_cli_fail(2, "--dim: required (see collapse ufm --help)");
    if (!a->per_class == !a->counts)
        return cl_cli_fail(2, "--per-class: give exactly one of --per-class and --counts");
    if (!a->steps_given) return cl_cli_fail(2, "--steps: required (see collapse ufm --help)");
    if (!a->out) return cl_cli_fail(2, "--out: required (see collapse ufm --help)");
    return 0;
}

static void summary(const cl_ufm_config *c, const cl_ufm_summary *s, const char *out)
{
    cl_ufm_cf cf;
    cl_ufm_closed_form(c, &cf);
    printf("ufm: %lld steps, objective %.8g (loss %.6g), nc1 %.3g, margin %.6g\n",
           (long long)s->step, s->objective, s->loss, s->nc1, s->margin);
    printf("  mean ||w_k|| %.6g, mean ||h_i|| %.6g\n", s->mean_norm_w, s->mean_norm_h);
    if (c->pairs)
        printf("  multi-label (NC keys of the single-label samples): mlab_angle %.3g deg, "
               "mlab_scale_mean %.6g, mlab_scale_cv %.3g\n",
               s->mlab_angle, s->mlab_scale_mean, s->mlab_scale_cv);
    if (cf.kind)
        printf("  closed form (%s): objective %.8g, ||w|| %.6g, ||h|| %.6g; gaps: objective "
               "%.2e, ||w|| %.2e, ||h|| %.2e, Gram %.2e, bias %.2e\n",
               cl_ufm_cf_name(cf.kind), cf.objective, cf.norm_w, cf.norm_h, s->gap_objective,
               s->gap_norm_w, s->gap_norm_h, s->gap_gram, s->gap_bias);
    else
        printf("  no closed form for this configuration\n");
    if (c->depth > 1) {
        printf("  per layer (1 = free features .. %d = classifier input): rank", c->depth);
        for (int l = 0; l < c->depth; l++)
            printf(" %d", s->rank[l]);
        printf(" (tolerance %g x largest singular value); nc1", CL_UFM_RANK_RTOL);
        for (int l = 0; l < c->depth; l++)
            printf(" %.3g", s->nc1_layer[l]);
        printf("; tr(Sw)/tr(Sb)");
        for (int l = 0; l < c->depth; l++)
            printf(" %.3g", s->nc1q_layer[l]);
        printf("\n");
    }
    printf("  written to %s/ (metrics.csv, W.npy, H.npy, b.npy, labels.npy%s)\n", out,
           c->pairs ? ", labels_khot.npy" : "");
}

int cl_cmd_ufm(int argc, char **argv)
{
    ufm_args a = {.c = cl_ufm_config_default()};
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    int64_t *counts = cl_alloc_array((size_t)a.c.K, sizeof(int64_t), "--counts");
    if (!counts) return cl_cli_fail(1, "%s", cl_errmsg());
    if (a.counts) {
        if ((rc = parse_counts(a.counts, a.c.K, counts)) != 0) goto done;
    } else {
        for (int k = 0; k < a.c.K; k++)
            counts[k] = a.per_class;
    }
    a.c.counts = counts;
    if (a.c.lpm || a.c.sphere) { /* these models have no bias and replace weight decay */
        a.c.bias = 0;
        if (!a.wd_given) a.c.wd_w = a.c.wd_h = a.c.wd_b = 0;
    }
    if (cl_ufm_config_check(&a.c) != CL_OK) {
        rc = cl_cli_fail(2, "%s", cl_errmsg());
        goto done;
    }
    cl_ufm *u = NULL;
    if (cl_ufm_create(&u, &a.c) != CL_OK) {
        rc = cl_cli_fail(1, "ufm: %s", cl_errmsg());
        goto done;
    }
    if (!cl_opt_mkdir_p("--out", a.out)) {
        rc = 1;
    } else {
        cl_ufm_summary s;
        if (cl_ufm_run(u, a.out, NULL, NULL, &s) != CL_OK)
            rc = cl_cli_fail(1, "ufm: %s", cl_errmsg());
        else
            summary(&a.c, &s, a.out);
    }
    cl_ufm_destroy(u);
done:
    cl_free(counts);
    return rc;
}
