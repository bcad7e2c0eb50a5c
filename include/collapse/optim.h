/* Optimizers over the model's flat parameter vector (PyTorch semantics).
 *
 * The parameter vector is described by a list of cl_param_range (nn.h):
 * each range has a group (0 body, 1 classifier) with its own weight decay,
 * and frozen ranges are never changed (params nor state). Parameters covered
 * by no range are not touched either.
 *
 * Per element, with g the gradient, p the parameter, wd the range's group
 * weight decay, t the step count after increment (1 on the first step):
 *   SGD    d = g + wd*p; buf = mu*buf + d;
 *          d = nesterov ? d + mu*buf : buf;   (mu = 0: d = g + wd*p, no state)
 *          p -= lr*d
 *          (torch.optim.SGD with dampening 0; the first step gives buf = d as
 *          in PyTorch because buf starts at zero.)
 *   ADAM   g' = g + wd*p; m = b1*m + (1-b1)*g'; v = b2*v + (1-b2)*g'^2;
 *          p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   ADAMW  p *= 1 - lr*wd; then ADAM with g' = g.
 *
 * State is ONE flat float vector in the parameter layout, so a checkpoint
 * writes it with one fwrite: SGD with momentum: buf [nparams]; SGD without
 * momentum: empty; ADAM/ADAMW: m [nparams] then v [nparams]. Plus the step
 * count t. Elementwise updates are parallel (OpenMP) and deterministic. */
#ifndef COLLAPSE_OPTIM_H
#define COLLAPSE_OPTIM_H

#include <stdint.h>

#include "collapse/error.h"
#include "collapse/nn.h"

typedef enum { CL_OPTIM_SGD, CL_OPTIM_ADAM, CL_OPTIM_ADAMW, CL_OPTIM_KIND_COUNT } cl_optim_kind;

typedef struct {
    cl_optim_kind kind;
    double momentum;       /* SGD mu, >= 0 */
    int nesterov;          /* SGD: 1 = Nesterov (needs momentum > 0) */
    double beta1, beta2;   /* ADAM/ADAMW, in [0, 1) */
    double eps;            /* ADAM/ADAMW, > 0 */
    double wd[2];          /* weight decay of group 0 (body) and 1 (classifier), >= 0 */
} cl_optim_cfg;

typedef struct {
    cl_optim_cfg cfg;
    int64_t nparams;
    int nranges;
    cl_param_range *ranges; /* owned copy */
    float *state;           /* state_len floats, layout above; owned */
    int64_t state_len;
    int64_t step;           /* number of cl_optim_step calls so far */
} cl_optim;

/* Defaults: Papyan et al. SGD (momentum 0.9, wd 5e-4 both groups, no
 * Nesterov) for SGD; betas (0.9, 0.999), eps 1e-8, wd 0 (ADAM) or 1e-2
 * (ADAMW, PyTorch default) otherwise. */
cl_optim_cfg cl_optim_cfg_default(cl_optim_kind kind);

/* "sgd", "adam", "adamw" -> *kind. Errors: CL_EINVAL (anything else;
 * *kind untouched). */
cl_status cl_optim_kind_parse(const char *name, cl_optim_kind *kind);
const char *cl_optim_kind_name(cl_optim_kind k);

/* Creates an optimizer for a vector of nparams floats described by ranges
 * (copied; typically m->ranges, m->nranges of a cl_model). State starts at
 * zero, step at 0. Errors: CL_EINVAL (bad cfg value, range outside
 * [0, nparams), overlapping ranges, group not 0/1), CL_ENOMEM. */
cl_status cl_optim_create(cl_optim **out, const cl_optim_cfg *cfg, int64_t nparams,
                          const cl_param_range *ranges, int nranges);
void cl_optim_destroy(cl_optim *o);

/* One update of params [nparams] from grads [nparams] with learning rate lr.
 * Increments o->step. Does not zero grads. */
void cl_optim_step(cl_optim *o, float *params, const float *grads, double lr);

/* Zeroes the state and the step count. */
void cl_optim_reset(cl_optim *o);

/* L2 norm of x [n], accumulated in double (serial, so deterministic). */
double cl_grad_norm(const float *x, int64_t n);

/* 1 if every x[i] is finite, else 0 (stops training on NaN/Inf). */
int cl_all_finite(const float *x, int64_t n);

#endif
