/* The process group of a data-parallel run (issue 12).
 *
 * The plain build (`make`) has exactly one process: cl_comm_init gives rank 0
 * of 1 and every collective is a no-op, so library code calls these
 * unconditionally. The MPI build (`make mpi`, -DCL_MPI, build/collapse-mpi)
 * implements them with MPI (src/core/comm_mpi.c). A NULL cl_comm * means a
 * single process everywhere (rank 0 of 1, collectives are no-ops), so
 * callers that never run distributed (tests, `analyze`) pass NULL.
 *
 * All collectives are blocking, in-place, and must be called by every rank
 * in the same order with the same n. Sums are element-wise over ranks; the
 * float sums are reduced in a fixed order for a fixed rank count (so a run
 * is bit-exact for a fixed N). Errors: CL_EIO with a one-line message when
 * MPI reports a failure. */
#ifndef COLLAPSE_COMM_H
#define COLLAPSE_COMM_H

#include <stdint.h>

#include "collapse/error.h"

typedef struct cl_comm cl_comm;

/* Starts the group (MPI_Init in the MPI build; argc/argv may be NULL) and
 * returns it in *out. The plain build returns a one-process group. Call
 * once per process; cl_comm_finalize ends it (NULL-safe). */
cl_status cl_comm_init(cl_comm **out, int *argc, char ***argv);
void cl_comm_finalize(cl_comm *c);

int cl_comm_rank(const cl_comm *c); /* 0 for NULL */
int cl_comm_size(const cl_comm *c); /* 1 for NULL */
int cl_comm_is_mpi_build(void);     /* 1 when compiled with -DCL_MPI */

/* In-place element-wise sums over all ranks of buf[0..n). */
cl_status cl_comm_sum_f32(cl_comm *c, float *buf, int64_t n);
cl_status cl_comm_sum_f64(cl_comm *c, double *buf, int64_t n);
cl_status cl_comm_sum_i64(cl_comm *c, int64_t *buf, int64_t n);

/* Rank 0's bytes buf[0..bytes) are copied to every rank. */
cl_status cl_comm_bcast(cl_comm *c, void *buf, int64_t bytes);

cl_status cl_comm_barrier(cl_comm *c);

/* The contiguous slice [*begin, *end) of n items that this rank owns: the
 * first n % size ranks get one item more. Rank order = item order, so a
 * concatenation over ranks is the single-process order. */
void cl_comm_shard(const cl_comm *c, int64_t n, int64_t *begin, int64_t *end);

/* ---- nonblocking gradient sums (DDP buckets) ----
 * cl_comm_isum_f32 starts an in-place sum of buf[0..n) over all ranks and
 * returns at once; buf must not be touched until cl_comm_wait_all returns.
 * Every rank posts the same sequence of (n) in the same order. Pending sums
 * are kept inside the group (at most CL_COMM_MAX_PENDING; a full table
 * waits for them first). cl_comm_progress lets MPI advance the pending sums
 * (call it between pieces of work: OpenMPI has no progress thread).
 * cl_comm_wait_all finishes all of them. One-process group / NULL: no-ops. */
#define CL_COMM_MAX_PENDING 256
cl_status cl_comm_isum_f32(cl_comm *c, float *buf, int64_t n);
void cl_comm_progress(cl_comm *c);
cl_status cl_comm_wait_all(cl_comm *c);

/* ---- errors and stops that every rank must see ----
 * Collective. code != 0 marks a failure on this rank, msg[0..cap) its
 * one-line message. Returns 0 when every rank passed 0; else the code of
 * the lowest failing rank, whose message is copied into msg on every rank
 * and whose rank goes into *who (may be NULL). flag (may be NULL): in, this
 * rank's flag; out, 1 if any rank raised it (e.g. a Ctrl-C seen by one rank
 * only). After a failure or a raised flag cl_comm_stopping gives 1: every
 * rank knows and stops together. One process: returns code, flag kept. */
int cl_comm_agree_code(cl_comm *c, int code, char *msg, int64_t cap, int *flag, int *who);
/* The same for a cl_status and the current error message (error.h): the
 * failing rank's status is returned on every rank with its message, prefixed
 * "rank R: " on the others. */
cl_status cl_comm_agree(cl_comm *c, cl_status st, int *flag);
int cl_comm_stopping(const cl_comm *c);

/* Ends every rank of the group at once with exit status code (MPI_Abort):
 * for a failure the other ranks do not know of (they may wait in a
 * collective). The CLI calls it after printing the message. One process /
 * NULL: returns (the caller exits). */
void cl_comm_abort(cl_comm *c, int code);

#endif
