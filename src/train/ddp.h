/* Internal: data-parallel training steps (issue 12), used by trainer.c.
 * Semantics of PyTorch's DistributedDataParallel: every rank draws the same
 * global batch (same permutation, same augmentation draws: the whole batch is
 * gathered on every rank, so the augmentation of a sample does not depend on
 * the rank count), trains on its slice (cl_comm_shard), and the gradients are
 * summed over the ranks in buckets while backward runs (MPI_Iallreduce per
 * bucket of layers, last layer first; waited for before the optimizer step).
 * The slice's dlogits are scaled by n_rank / n_global before backward, so the
 * summed gradient is the gradient of the global batch mean loss even when the
 * slices differ in size, and synchronised BN (nn.h cl_run.comm) sees global
 * gradient terms. With one process (comm NULL or of size 1) every function
 * below does exactly what the plain loop did. */
#ifndef COLLAPSE_TRAIN_DDP_H
#define COLLAPSE_TRAIN_DDP_H

#include "collapse/comm.h"
#include "collapse/train.h"

typedef struct {
    cl_comm *comm;    /* NULL or size 1: one process */
    int size, rank, sync_bn;
    cl_model *m;
    int64_t lo, hi;   /* gradients final but not yet posted: grads[lo, hi) */
    int64_t bucket;   /* floats per bucket, at least (the last may be smaller) */
    cl_status post_st;
    int stop;         /* the stop flag as agreed by every rank at this step */
    int64_t steps;
    double exposed;   /* seconds this rank waited for the sums after backward */
    double last;      /* the same, of the last step only */
    double tail;      /* sum over steps of the shortest wait over the ranks: the
                         slowest rank's wait, the communication backward did not
                         hide (the other ranks also wait for the slowest) */
    double *sums;     /* [2 + size] per-step sums: loss, correct, each rank's last wait */
    double blocking;  /* seconds of one blocking sum of all gradients (measured at start) */
    double step_s;    /* seconds in training steps */
} cl_ddp;

/* Checks the sizes (every rank needs a sample of every batch), measures a
 * blocking sum of the whole gradient (3 times, after one warm-up). Collective. */
cl_status cl_ddp_init(cl_ddp *d, const cl_train_config *cfg, cl_model *m, int64_t N);
int cl_ddp_on(const cl_ddp *d);

/* Forward of this rank's slice x [n, in] (train mode, sync BN when asked). */
const float *cl_ddp_forward(cl_ddp *d, const float *x, int n);
/* After the loss of the slice: agrees on st and the stop flag (*stop, may be
 * NULL) with every rank; sums loss * n and the correct count into the global
 * batch's mean *loss and *correct; scales dlogits [n, K] by n / global. */
cl_status cl_ddp_after_loss(cl_ddp *d, cl_status st, const volatile sig_atomic_t *stop,
                            int n, int global, int K, double *loss, int64_t *correct,
                            float *dlogits);
/* Zeroes the gradients, runs backward with the bucketed sums, waits for them. */
cl_status cl_ddp_backward(cl_ddp *d, const float *x, const float *dlogits, int n);
/* The stop flag, agreed by every rank (collective in a group). */
int cl_ddp_stop(cl_ddp *d, const volatile sig_atomic_t *stop, int agree);
/* Fills the allreduce timings of the result (0 for one process) and frees
 * what cl_ddp_init allocated. */
void cl_ddp_finish(cl_ddp *d, cl_train_result *res);

#endif
