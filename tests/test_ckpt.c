/* Checkpoint files: round trip, completion marker, corruption. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collapse/ckpt.h"
#include "collapse/mem.h"
#include "collapse/train.h"
#include "common.h"

typedef struct {
    cl_model m;
    cl_optim *o;
    cl_train_state st;
    cl_param_range range;
    char dir[64];
    char root[64]; /* temp folder holding dir, which the first save creates */
} fixture;

static void make(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->m.nparams = 37;
    f->m.nbufs = 5;
    f->m.params = cl_alloc_array(37, sizeof(float), "p");
    f->m.bufs = cl_alloc_array(5, sizeof(float), "b");
    for (int i = 0; i < 37; i++) f->m.params[i] = 0.25f * (float)i - 3.0f;
    for (int i = 0; i < 5; i++) f->m.bufs[i] = 1.0f + (float)i;
    f->range = (cl_param_range){0, 37, 0, 0};
    cl_optim_cfg oc = cl_optim_cfg_default(CL_OPTIM_ADAM);
    cr_assert_eq(cl_optim_create(&f->o, &oc, 37, &f->range, 1), CL_OK);
    for (int64_t i = 0; i < f->o->state_len; i++) f->o->state[i] = (float)i * 0.5f;
    f->o->step = 11;
    f->st.epoch = 3;
    f->st.pos = 256;
    f->st.step = 77;
    f->st.config_hash = 0x1234abcdULL;
    cl_rng_seed(&f->st.rng_data, 5);
    cl_rng_seed(&f->st.rng_aug, 6);
    (void)cl_rng_normal(&f->st.rng_aug); /* leaves a cached spare */
    f->st.n = 10;
    f->st.perm = cl_alloc_array(10, sizeof(int32_t), "perm");
    for (int i = 0; i < 10; i++) f->st.perm[i] = 9 - i;
    tc_tmpdir_make(f->root, sizeof f->root, "ckpt");
    tc_path(f->dir, sizeof f->dir, f->root, "ck");
}

static void drop(fixture *f)
{
    cl_free(f->m.params);
    cl_free(f->m.bufs);
    cl_free(f->st.perm);
    cl_optim_destroy(f->o);
    tc_tmpdir_remove(f->root);
}

Test(ckpt, round_trip)
{
    fixture f;
    make(&f);
    cr_assert_eq(cl_train_ckpt_save(f.dir, &f.m, "[input]\nshape = 1,1,1\n", &f.st, f.o), CL_OK, "%s",
                 cl_errmsg());
    cr_assert(cl_ckpt_exists(f.dir));
    char *text;
    float *p, *b;
    int64_t np, nb, step;
    cr_assert_eq(cl_ckpt_read_model(f.dir, &text, &p, &np, &b, &nb, &step), CL_OK, "%s", cl_errmsg());
    cr_assert_str_eq(text, "[input]\nshape = 1,1,1\n");
    cr_assert_eq(np, 37);
    cr_assert_eq(nb, 5);
    cr_assert_eq(step, 77);
    cr_assert_eq(memcmp(p, f.m.params, 37 * sizeof(float)), 0);
    cr_assert_eq(memcmp(b, f.m.bufs, 5 * sizeof(float)), 0);
    cl_free(text);
    cl_free(p);
    cl_free(b);

    cl_optim *o2;
    cl_optim_cfg oc = cl_optim_cfg_default(CL_OPTIM_ADAM);
    cr_assert_eq(cl_optim_create(&o2, &oc, 37, &f.range, 1), CL_OK);
    cl_train_state s2;
    cr_assert_eq(cl_train_ckpt_load(f.dir, &s2, o2), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(s2.epoch, 3);
    cr_assert_eq(s2.pos, 256);
    cr_assert_eq(s2.step, 77);
    cr_assert_eq(s2.config_hash, 0x1234abcdULL);
    cr_assert_eq(memcmp(s2.perm, f.st.perm, 10 * sizeof(int32_t)), 0);
    cr_assert_eq(cl_rng_u64(&s2.rng_data), cl_rng_u64(&f.st.rng_data));
    cr_assert_eq(cl_rng_normal(&s2.rng_aug), cl_rng_normal(&f.st.rng_aug), "cached normal kept");
    cr_assert_eq(o2->step, 11);
    cr_assert_eq(memcmp(o2->state, f.o->state, (size_t)o2->state_len * sizeof(float)), 0);
    cl_free(s2.perm);

    /* a different optimizer kind is refused */
    cl_optim *o3;
    oc = cl_optim_cfg_default(CL_OPTIM_SGD);
    cr_assert_eq(cl_optim_create(&o3, &oc, 37, &f.range, 1), CL_OK);
    cr_assert_eq(cl_train_ckpt_load(f.dir, &s2, o3), CL_EFORMAT);
    cl_optim_destroy(o3);
    cl_optim_destroy(o2);

    /* params into a model of the wrong size are refused */
    cl_model small = f.m;
    small.nparams = 36;
    cr_assert_eq(cl_ckpt_load_params(f.dir, small.params, small.nparams, small.bufs, small.nbufs), CL_EFORMAT);
    drop(&f);
}

Test(ckpt, marker_and_corruption)
{
    fixture f;
    make(&f);
    cr_assert_eq(cl_train_ckpt_save(f.dir, &f.m, "x", &f.st, f.o), CL_OK);
    char path[128];
    /* flip one byte of the params: checksum catches it */
    snprintf(path, sizeof path, "%s/model.ckpt", f.dir);
    FILE *fp = fopen(path, "r+b");
    cr_assert_not_null(fp);
    fseek(fp, 60, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, 60, SEEK_SET);
    fputc(c ^ 0x40, fp);
    fclose(fp);
    char *text;
    float *p, *b;
    int64_t np, nb;
    cr_assert_eq(cl_ckpt_read_model(path, &text, &p, &np, &b, &nb, NULL), CL_EFORMAT);
    cr_assert_neq(strstr(cl_errmsg(), "model.ckpt"), NULL);
    /* truncated */
    cr_assert_eq(truncate(path, 40), 0);
    cr_assert_eq(cl_ckpt_read_model(path, &text, &p, &np, &b, &nb, NULL), CL_EFORMAT);
    /* not a checkpoint */
    snprintf(path, sizeof path, "%s/ckpt.done", f.dir);
    cr_assert_eq(cl_ckpt_read_model(path, &text, &p, &np, &b, &nb, NULL), CL_EFORMAT);
    cr_assert_neq(strstr(cl_errmsg(), "bad magic"), NULL);
    /* missing marker: no complete checkpoint */
    cr_assert_eq(remove(path), 0);
    cr_assert(!cl_ckpt_exists(f.dir));
    cl_train_state s2;
    cr_assert_eq(cl_train_ckpt_load(f.dir, &s2, f.o), CL_EIO);
    cr_assert_neq(strstr(cl_errmsg(), "ckpt.done"), NULL);
    /* no temp files left behind by a good save */
    cr_assert_eq(cl_train_ckpt_save(f.dir, &f.m, "x", &f.st, f.o), CL_OK);
    snprintf(path, sizeof path, "%s/model.ckpt.tmp", f.dir);
    cr_assert_neq(access(path, F_OK), 0);
    drop(&f);
}

/* A foreign checkpoint with a valid checksum but a permutation that is not
 * one (an index out of [0, n), or a repeated index) is refused on load:
 * the trainer would gather out of bounds (issue 11). */
Test(ckpt, permutation_checked_on_load)
{
    fixture f;
    make(&f);
    const int32_t bad[][2] = {{3, 10}, {7, -1}, {0, 8}}; /* {position, value} */
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i < 10; i++) f.st.perm[i] = 9 - i;
        f.st.perm[bad[t][0]] = bad[t][1];
        cr_assert_eq(cl_train_ckpt_save(f.dir, &f.m, "x", &f.st, f.o), CL_OK);
        cl_train_state s2;
        cr_assert_eq(cl_train_ckpt_load(f.dir, &s2, f.o), CL_EFORMAT, "case %d loaded", t);
        cr_assert_neq(strstr(cl_errmsg(), "permutation"), NULL, "%s", cl_errmsg());
        cr_assert_null(s2.perm);
    }
    drop(&f);
}

/* Flips one byte of a file in the middle, or cuts it to `keep` bytes. */
static void damage(const char *path, long keep)
{
    size_t len;
    char *b = tc_slurp(path, &len);
    cr_assert(b && len > 16, "%s", path);
    if (keep < 0)
        b[len / 2] ^= 0x40;
    else
        len = (size_t)keep;
    tc_write_file(path, b, len);
    free(b);
}

/* Two slots: the newest good one is read; a damaged, truncated or missing
 * file in it falls back to the other slot and says why; a slot whose
 * marker is gone (a save cut short) is ignored; the folder's own files
 * (the layout before slots) are read too. */
Test(ckpt, slots_newest_good_with_fallback)
{
    fixture f;
    make(&f);
    char a[128], b[128], p[160];
    cl_ckpt_slot_dir(f.dir, 0, a, sizeof a);
    cl_ckpt_slot_dir(f.dir, 1, b, sizeof b);
    cr_assert(strstr(a, "/ck/a") && strstr(b, "/ck/b"), "%s %s", a, b);
    cr_assert(!cl_ckpt_exists(f.dir));
    cr_assert_eq(cl_ckpt_slot_next(f.dir, -1), 0);
    f.st.step = 10;
    cr_assert_eq(cl_train_ckpt_save(a, &f.m, "x", &f.st, f.o), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_ckpt_slot_next(f.dir, -1), 1, "the slot without a marker");
    f.st.step = 20;
    cr_assert_eq(cl_train_ckpt_save(b, &f.m, "x", &f.st, f.o), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(cl_ckpt_slot_next(f.dir, -1), 0, "the older slot");
    cr_assert_eq(cl_ckpt_slot_next(f.dir, 0), 1);
    cr_assert_eq(cl_ckpt_slot_next(f.dir, 1), 0);

    cl_ckpt_found fd;
    cl_train_state s2;
    cr_assert_eq(cl_ckpt_find(f.dir, &fd), CL_OK, "%s", cl_errmsg());
    cr_assert(fd.index == 1 && fd.step == 20 && !fd.skipped[0] && !strcmp(fd.slot, b));
    cr_assert_eq(cl_train_ckpt_load(f.dir, &s2, f.o), CL_OK, "%s", cl_errmsg());
    cr_assert_eq(s2.step, 20);
    cl_free(s2.perm);

    const char *file[3] = {"state.ckpt", "model.ckpt", "model.ckpt"};
    const long keep[3] = {-1, 30, -2};
    const char *why[3] = {"checksum mismatch", "truncated", "missing"};
    for (int t = 0; t < 3; t++) {
        f.st.step = 20;
        cr_assert_eq(cl_train_ckpt_save(b, &f.m, "x", &f.st, f.o), CL_OK);
        tc_path(p, sizeof p, b, file[t]);
        if (keep[t] == -2)
            cr_assert_eq(remove(p), 0);
        else
            damage(p, keep[t]);
        cr_assert_eq(cl_ckpt_find(f.dir, &fd), CL_OK, "case %d: %s", t, cl_errmsg());
        cr_assert(fd.index == 0 && fd.step == 10, "case %d", t);
        cr_assert(strstr(fd.skipped, p) && strstr(fd.skipped, why[t]), "case %d: %s", t,
                  fd.skipped);
        cr_assert_eq(cl_train_ckpt_load(f.dir, &s2, f.o), CL_OK, "%s", cl_errmsg());
        cr_assert_eq(s2.step, 10);
        cl_free(s2.perm);
        char model[256];
        cr_assert_eq(cl_ckpt_resolve(f.dir, model, sizeof model, NULL), CL_OK);
        tc_path(p, sizeof p, a, "model.ckpt");
        cr_assert_str_eq(model, p);
    }

    /* a save into a cut short (marker removed, file half written): nothing
     * good is left but b's damaged files, and that is what the error says */
    cr_assert_eq(cl_ckpt_begin(a), CL_OK);
    tc_path(p, sizeof p, a, "model.ckpt");
    damage(p, 30);
    cr_assert(cl_ckpt_exists(f.dir));
    cr_assert_eq(cl_ckpt_find(f.dir, &fd), CL_EFORMAT);
    cr_assert(strstr(cl_errmsg(), "/ck/b/model.ckpt"), "%s", cl_errmsg());
    cr_assert_eq(cl_train_ckpt_load(f.dir, &s2, f.o), CL_EFORMAT);

    /* the folder's own checkpoint (the layout before slots) is read too */
    f.st.step = 5;
    cr_assert_eq(cl_train_ckpt_save(f.dir, &f.m, "x", &f.st, f.o), CL_OK);
    cr_assert_eq(cl_ckpt_find(f.dir, &fd), CL_OK, "%s", cl_errmsg());
    cr_assert(fd.index == -1 && fd.step == 5 && strstr(fd.skipped, "/ck/b/"), "%s",
              fd.skipped);
    drop(&f);
}
