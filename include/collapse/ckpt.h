/* Checkpoints: a self-describing model file and a training-state file.
 *
 * In a checkpoint directory DIR:
 *   DIR/model.ckpt   magic "CLMODEL1", u32 version, u32 0, i64 step,
 *                    i64 text length, the model spec text (modelcfg.h, enough
 *                    to rebuild the model), i64 nparams, i64 nbufs,
 *                    float params[nparams], float bufs[nbufs],
 *                    u64 FNV-1a checksum of everything before it
 *   DIR/state.ckpt   magic "CLSTATE1", u32 version, u32 0, i64 step,
 *                    i32 epoch, i32 0, i64 pos, u64 config_hash,
 *                    two RNG states, i64 n, i32 perm[n],
 *                    i32 optimizer kind, i32 0, i64 optimizer step,
 *                    i64 state_len, float state[state_len], u64 checksum
 *   DIR/ckpt.done    "collapse checkpoint step=S\n": the completion marker
 * All little-endian (the host's order; x86-64). Each file is written to
 * NAME.tmp, fsync'ed and renamed; the marker is removed first and written
 * last, and loading checks it names the same step as both files, so a crash
 * during a save never leaves a mixed checkpoint (only a missing one). */
#ifndef COLLAPSE_CKPT_H
#define COLLAPSE_CKPT_H

#include <stdint.h>

#include "collapse/error.h"
#include "collapse/nn.h"
#include "collapse/optim.h"
#include "collapse/rng.h"

#define CL_CKPT_VERSION 1

/* Where training stands. */
typedef struct {
    int32_t epoch;        /* completed epochs */
    int64_t pos;          /* samples of the running epoch already trained on
                             (0 = at an epoch boundary) */
    int64_t step;         /* optimizer steps done */
    uint64_t config_hash; /* hash of the options that must not change on resume */
    cl_rng rng_data;      /* draws each epoch's permutation */
    cl_rng rng_aug;       /* augmentation draws */
    int64_t n;            /* perm length (train set size) */
    int32_t *perm;        /* the running epoch's sample order */
} cl_ckpt_state;

/* Saves model (params, bufs, spec text) and state (+ optimizer) into dir
 * (created if missing). Errors: CL_EIO naming the file. */
cl_status cl_ckpt_save(const char *dir, const cl_model *m, const char *model_text,
                       const cl_ckpt_state *st, const cl_optim *o);

/* 1 if dir holds a complete checkpoint (marker present), else 0. */
int cl_ckpt_exists(const char *dir);

/* Reads the model file (path resolved by cl_ckpt_model_path): *text
 * (cl_alloc'ed, NUL-terminated), params/bufs (cl_alloc'ed). Errors: CL_EIO,
 * CL_EFORMAT (magic, version, truncation, checksum) naming the file. */
cl_status cl_ckpt_read_model(const char *path, char **text, float **params, int64_t *nparams,
                             float **bufs, int64_t *nbufs, int64_t *step);

/* Copies a checkpoint's params/bufs into m; the sizes must match. */
cl_status cl_ckpt_load_params(const char *path, cl_model *m);

/* Reads DIR/state.ckpt into *st (st->perm cl_alloc'ed, caller frees) and the
 * optimizer state into o (kind and state_len must match), checking the
 * marker and that model, state and marker have the same step. */
cl_status cl_ckpt_load_state(const char *dir, cl_ckpt_state *st, cl_optim *o);

/* Resolves a path to the model file: "DIR" (DIR/model.ckpt, else
 * DIR/checkpoint/model.ckpt, the layout of a results folder) or the file. */
void cl_ckpt_model_path(const char *path, char *out, int cap);

/* FNV-1a 64 over bytes, continuing from h (start with CL_FNV_INIT). */
#define CL_FNV_INIT 0xcbf29ce484222325ULL
uint64_t cl_fnv1a(uint64_t h, const void *data, size_t n);

#endif
