/* Fuzz target: the checkpoint readers (cl_ckpt_read_model on model.ckpt,
 * cl_train_ckpt_load on a folder). Input: byte 0 = flags, then the file.
 *   bit 0: the file is state.ckpt (else model.ckpt); the folder then also
 *          gets a checksummed model.ckpt header and a ckpt.done marker with
 *          the step of the input's header, so the reader gets past the
 *          checksum and step checks;
 *   bit 1: recompute the trailing FNV-1a checksum, so mutations reach the
 *          code behind the checksum check;
 *   bit 2: load the state into an SGD optimizer with 4 floats of state
 *          (else into none).
 * FUZZ_ARGS: -max_len=8192 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collapse/ckpt.h"
#include "collapse/train.h"
#include "collapse/mem.h"
#include "collapse/optim.h"
#include "fuzz.h"

static void read_model(const char *path)
{
    char *text;
    float *p, *b;
    int64_t np = -1, nb = -1, step;
    if (cl_ckpt_read_model(path, &text, &p, &np, &b, &nb, &step) != CL_OK) {
        FUZZ_CHECK(text == NULL && p == NULL && b == NULL);
        return;
    }
    FUZZ_CHECK(np >= 0 && nb >= 0);
    (void)fuzz_touch(text, strlen(text) + 1);
    (void)fuzz_touch(p, sizeof(float) * (size_t)np);
    (void)fuzz_touch(b, sizeof(float) * (size_t)nb);
    cl_free(text);
    cl_free(p);
    cl_free(b);
}

static void load_state(const char *dir, const uint8_t *file, size_t n, int with_optim)
{
    int64_t step = 0;
    if (n >= 24) memcpy(&step, file + 16, 8);
    char p[600];
    /* a model.ckpt header with the same step and its checksum (the loader
     * verifies every file of the checkpoint, then reads only this header) */
    uint8_t hdr[32] = "CLMODEL1";
    uint32_t ver = CL_CKPT_VERSION;
    memcpy(hdr + 8, &ver, 4);
    memcpy(hdr + 16, &step, 8);
    uint64_t h = cl_fnv1a(CL_FNV_INIT, hdr, 24);
    memcpy(hdr + 24, &h, 8);
    snprintf(p, sizeof p, "%s/model.ckpt", dir);
    fuzz_write(p, hdr, sizeof hdr);
    char mk[64];
    int ml = snprintf(mk, sizeof mk, "collapse checkpoint step=%lld\n", (long long)step);
    snprintf(p, sizeof p, "%s/ckpt.done", dir);
    fuzz_write(p, mk, (size_t)ml);
    cl_optim *o = NULL;
    if (with_optim) {
        cl_optim_cfg oc = cl_optim_cfg_default(CL_OPTIM_SGD);
        cl_param_range r = {0};
        r.off = 0;
        r.len = 4;
        FUZZ_CHECK(cl_optim_create(&o, &oc, 4, &r, 1) == CL_OK);
        FUZZ_CHECK(o->state_len == 4);
    }
    cl_train_state st;
    if (cl_train_ckpt_load(dir, &st, o) == CL_OK) {
        FUZZ_CHECK(st.n >= 0 && st.step == step);
        (void)fuzz_touch(st.perm, sizeof(int32_t) * (size_t)st.n);
        cl_free(st.perm);
    } else {
        FUZZ_CHECK(st.perm == NULL);
    }
    cl_optim_destroy(o);
}

int fuzz_ckpt(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int flags = data[0];
    data++;
    size--;
    uint8_t *file = malloc(size ? size : 1);
    FUZZ_CHECK(file != NULL);
    memcpy(file, data, size);
    if ((flags & 2) && size >= 8) {
        uint64_t h = cl_fnv1a(CL_FNV_INIT, file, size - 8);
        memcpy(file + size - 8, &h, 8);
    }
    char dir[512], p[600];
    fuzz_path(dir, sizeof dir, "ckpt");
    fuzz_mkdir(dir);
    snprintf(p, sizeof p, "%s/%s", dir, (flags & 1) ? "state.ckpt" : "model.ckpt");
    fuzz_write(p, file, size);
    if (flags & 1) load_state(dir, file, size, flags & 4);
    else read_model(p);
    free(file);
    return 0;
}

CL_FUZZ_ENTRY(ckpt)
