/* Checkpoint files: a generic checksummed container, a completion marker,
 * and the model file. What a training run stores besides the model (epoch,
 * optimizer, RNG streams, data order) is train/'s business
 * (cl_train_ckpt_save in train.h), written through the container below.
 *
 * Container file: magic (8 bytes), u32 version (CL_CKPT_VERSION), u32 0,
 * i64 step, then the blobs the writer put, in order, then the u64 FNV-1a
 * checksum of everything before it. It is written to NAME.tmp, fsync'ed and
 * renamed; the reader verifies the magic, the version, the checksum and
 * that nothing follows.
 *
 * A checkpoint folder DIR (a run's OUT/checkpoint) holds two slots, DIR/a
 * and DIR/b. Each slot is one complete checkpoint:
 *   SLOT/model.ckpt  container "CLMODEL1": i64 text length, the model spec
 *                    text (modelcfg.h, enough to rebuild the model),
 *                    i64 nparams, i64 nbufs, float params[nparams],
 *                    float bufs[nbufs]
 *   SLOT/state.ckpt  container "CLSTATE1" (train.h)
 *   SLOT/ckpt.done   "collapse checkpoint step=S\n": the completion marker
 * All little-endian (the host's order; x86-64). A save goes into the slot
 * that does not hold the newest good checkpoint (cl_ckpt_slot_next): it
 * removes that slot's marker first (cl_ckpt_begin) and writes it last
 * (cl_ckpt_commit). So a crash during a save never touches the newest good
 * checkpoint, and the last two good ones are kept. Readers take the newest
 * slot whose marker is present and whose files pass their checksums and
 * name the marker's step (cl_ckpt_find), falling back to the other slot.
 * A folder holding the files and marker itself (the layout before slots,
 * or a slot given directly) is read too. */
#ifndef COLLAPSE_CKPT_H
#define COLLAPSE_CKPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collapse/atomic.h"
#include "collapse/error.h"

#define CL_CKPT_VERSION 1
#define CL_CKPT_PATHMAX 4096

/* ---- the container ---- */

/* A checksummed writer. Errors of cl_ckpt_put are remembered and reported
 * by cl_ckpt_writer_close. */
typedef struct {
    cl_atomic_file a; /* path.tmp, fsynced and renamed by cl_ckpt_writer_close */
    uint64_t h;
} cl_ckpt_writer;

/* Creates path.tmp and writes the header (magic: 8 bytes). Errors: CL_EIO. */
cl_status cl_ckpt_writer_open(cl_ckpt_writer *w, const char *path, const char *magic,
                              int64_t step);
/* Appends n bytes (host order). */
void cl_ckpt_put(cl_ckpt_writer *w, const void *p, size_t n);
void cl_ckpt_put_i32(cl_ckpt_writer *w, int32_t v);
void cl_ckpt_put_i64(cl_ckpt_writer *w, int64_t v);
/* Appends the checksum, flushes, fsyncs, closes and renames path.tmp ->
 * path; on any failure removes path.tmp. Errors: CL_EIO naming the file. */
cl_status cl_ckpt_writer_close(cl_ckpt_writer *w);

/* A checksummed reader: short reads zero the destination and are reported
 * by cl_ckpt_reader_close (or seen early with r->err). */
typedef struct {
    FILE *f;
    const char *path;
    uint64_t h;
    int err;
} cl_ckpt_reader;

/* Opens path (kept by pointer) and checks the header: magic, and what
 * ("model checkpoint", "state checkpoint") names the kind in the error.
 * *step = the header's step. Errors: CL_EIO, CL_EFORMAT (bad magic,
 * unsupported version); the file is closed on error. */
cl_status cl_ckpt_reader_open(cl_ckpt_reader *r, const char *path, const char *magic,
                              const char *what, int64_t *step);
void cl_ckpt_get(cl_ckpt_reader *r, void *p, size_t n);
int32_t cl_ckpt_get_i32(cl_ckpt_reader *r);
int64_t cl_ckpt_get_i64(cl_ckpt_reader *r);
/* Bytes left after the read position (0 if unknown): every size read from
 * the file is checked against it before anything is allocated. */
int64_t cl_ckpt_bytes_left(cl_ckpt_reader *r);
/* Verifies the trailing checksum and that nothing follows; closes.
 * Errors: CL_EFORMAT ("truncated", "checksum mismatch (corrupt)"). */
cl_status cl_ckpt_reader_close(cl_ckpt_reader *r);
/* Closes without verifying (after an error, or when only the header was
 * wanted). */
void cl_ckpt_reader_abort(cl_ckpt_reader *r);

/* ---- the completion marker (of one slot folder) ---- */

/* Creates dir (mkdir -p) and removes its marker: call before writing the
 * files of a new checkpoint. Errors: CL_EIO. */
cl_status cl_ckpt_begin(const char *dir);
/* Writes the marker naming step (temp + fsync + rename) and syncs dir: the
 * checkpoint is complete. Errors: CL_EIO. */
cl_status cl_ckpt_commit(const char *dir, int64_t step);
/* 1 and *step if dir holds a marker, else 0. */
int cl_ckpt_marker(const char *dir, int64_t *step);

/* ---- the slots of a checkpoint folder ---- */

#define CL_CKPT_NSLOTS 2

/* The folder of slot 0 (DIR/a) or 1 (DIR/b); slot -1 is DIR itself. */
void cl_ckpt_slot_dir(const char *dir, int slot, char *out, size_t cap);

/* The slot a new checkpoint goes into: the other one than `newest` (the
 * slot holding the newest good checkpoint, as found or last written); with
 * newest = -1 (unknown), a slot without a marker, else the older one. */
int cl_ckpt_slot_next(const char *dir, int newest);

/* What cl_ckpt_find chose. */
typedef struct {
    char slot[CL_CKPT_PATHMAX]; /* the chosen slot folder */
    int index;                  /* its slot number, -1 = DIR itself */
    int64_t step;               /* its marker's step */
    /* "" or why newer checkpoints were passed over, e.g.
     * "OUT/checkpoint/b/model.ckpt: checksum mismatch (corrupt)" */
    char skipped[CL_CKPT_PATHMAX + 1024];
} cl_ckpt_found;

/* The newest good checkpoint of dir: of DIR/a, DIR/b and DIR itself, those
 * holding a marker, newest step first, the first whose model.ckpt and
 * state.ckpt pass their checksums and name the marker's step (the files are
 * read through once). Errors: CL_EIO (no marker anywhere: "no complete
 * checkpoint"), CL_EFORMAT (every complete one is corrupt; the message
 * names the newest's fault; f->slot is then the newest). */
cl_status cl_ckpt_find(const char *dir, cl_ckpt_found *f);

/* 1 if dir holds a marker in some slot (or itself), else 0. Does not read
 * the files: cl_ckpt_find does. */
int cl_ckpt_exists(const char *dir);

/* ---- kept checkpoints (collapse train --keep-checkpoints N) ---- */

/* Besides its two slots, a run may keep the checkpoint of every N-th epoch
 * in DIR/epoch-EEEE (at least 4 digits): a complete slot folder like a/b
 * (files, then the marker last), written after that epoch's slot save and
 * never read by a resume. A kill during a keep leaves the folder without its
 * marker, which cl_ckpt_list passes over. */
void cl_ckpt_kept_dir(const char *dir, int epoch, char *out, size_t cap);

typedef struct {
    char path[CL_CKPT_PATHMAX]; /* the slot or kept folder */
    int64_t step;               /* its marker's step */
} cl_ckpt_entry;

/* Every complete checkpoint of the checkpoint folder dir, oldest (lowest
 * step) first: the kept DIR/epoch-* folders and the slots DIR/a, DIR/b
 * holding a marker whose files pass their checksums (cl_ckpt_find); a slot
 * naming the step of a kept folder is dropped (the same weights). *out is
 * cl_alloc'ed (NULL when *n = 0); skipped[cap] = "" or why the first
 * complete-looking one was passed over (a corrupt file). Errors: CL_EIO
 * (dir unreadable), CL_ENOMEM. */
cl_status cl_ckpt_list(const char *dir, cl_ckpt_entry **out, int *n, char *skipped,
                       size_t cap);

/* ---- the model file ---- */

/* Writes DIR/model.ckpt (the spec text, params [nparams], bufs [nbufs])
 * with step in its header. Call between cl_ckpt_begin and cl_ckpt_commit.
 * Errors: CL_EIO. (Flat arrays, not a cl_model: io/ stays below model/.) */
cl_status cl_ckpt_save_model(const char *dir, const float *params, int64_t nparams,
                             const float *bufs, int64_t nbufs, const char *model_text,
                             int64_t step);

/* Reads the model file (path resolved by cl_ckpt_resolve): *text
 * (cl_alloc'ed, NUL-terminated), params/bufs (cl_alloc'ed). Errors: CL_EIO,
 * CL_EFORMAT (magic, version, truncation, checksum) naming the file. */
cl_status cl_ckpt_read_model(const char *path, char **text, float **params, int64_t *nparams,
                             float **bufs, int64_t *nbufs, int64_t *step);

/* Copies a checkpoint's params/bufs into params [nparams] and bufs [nbufs];
 * the sizes must match (else CL_EFORMAT naming the file). */
cl_status cl_ckpt_load_params(const char *path, float *params, int64_t nparams, float *bufs,
                              int64_t nbufs);

/* Resolves a path to a model file into file[cap]: a file is itself; a
 * folder is a checkpoint folder, or a results folder whose checkpoint/ is
 * one: its newest good slot's model.ckpt (cl_ckpt_find, which fills *f if
 * f != NULL: f->skipped tells the caller to say it fell back); a folder
 * holding only a model.ckpt (no marker) gives that file. Errors: those of
 * cl_ckpt_find (file then names the newest candidate's model.ckpt). */
cl_status cl_ckpt_resolve(const char *path, char *file, int cap, cl_ckpt_found *f);

/* cl_ckpt_resolve without the status (an error shows when file is read). */
void cl_ckpt_model_path(const char *path, char *out, int cap);

/* FNV-1a 64 over bytes, continuing from h (start with CL_FNV_INIT). */
#define CL_FNV_INIT 0xcbf29ce484222325ULL
uint64_t cl_fnv1a(uint64_t h, const void *data, size_t n);

#endif
