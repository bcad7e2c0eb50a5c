/* The UFM simulator's state, shared by the files of src/ufm/ (and tests). */
#ifndef COLLAPSE_UFM_INTERNAL_H
#define COLLAPSE_UFM_INTERNAL_H

#include "collapse/ufm.h"

struct cl_ufm {
    cl_ufm_config c;
    int64_t counts[CL_UFM_MAX_CLASSES];
    int64_t N;
    int L;               /* depth */
    int dl;              /* the classifier's input dimension */
    int32_t *y;          /* [N] labels, class by class (a pair's lower label) */
    int32_t *y2;         /* [N] a pair's second label, -1 for single-label samples */
    int64_t ns;          /* single-label samples (the first ns rows) */
    /* theta, grad and velocity share one layout */
    int64_t n;           /* parameters */
    double *theta, *grad, *vel;
    double *W, *b, *H1;  /* views into theta */
    double *V[CL_UFM_MAX_DEPTH];   /* V[1..L-1] (V[0] unused) */
    int vin[CL_UFM_MAX_DEPTH];     /* input dimension of V[l] */
    /* activations: Z[1] = H1 (a view), Z[l+1] = act(A[l]) [N, width] */
    double *Z[CL_UFM_MAX_DEPTH + 1], *A[CL_UFM_MAX_DEPTH];
    double *logits, *dlogits;      /* [N, K] */
    double *dZ, *dA;               /* [N, max(d, width)] scratch */
};

/* optim.c: each row of x [rows, cols] scaled to unit norm (zero rows stay zero). */
void cl_ufm_unit_rows(double *x, int64_t rows, int cols);

/* objective.c */
void cl_ufm_forward(cl_ufm *u);

/* deep.c: the deep-neural-collapse start (class means on scaled
 * coordinate axes through every layer, balanced scales). */
void cl_ufm_dnc_init(cl_ufm *u);
/* Numerical rank (CL_UFM_RANK_RTOL) of the K x dim class-mean matrix of
 * Z [N, dim]; -1 if the eigendecomposition fails. */
int cl_ufm_class_mean_rank(const cl_ufm *u, const double *Z, int dim);

/* tr(Sw)/tr(Sb) of Z [N, dim] (Sb of the centred class means, mu_G their
 * unweighted mean as in analysis/): defined also when the class means are
 * rank-deficient, where the analyzer's tr(Sw Sb^+)/K is not. */
double cl_ufm_nc1_quotient(const cl_ufm *u, const double *Z, int dim);

/* metrics.c: the header of metrics.csv and one row. */
cl_status cl_ufm_header(const cl_ufm *u, char **text);
cl_status cl_ufm_row(cl_ufm *u, int64_t step, char *row, size_t cap, cl_ufm_summary *s);

#endif
