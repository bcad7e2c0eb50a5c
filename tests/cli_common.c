/* Helpers shared by the CLI tests: see cli_common.h. */
#include "cli_common.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

void ctx_init(ctx *c, const char *name)
{
    char tag[32];
    snprintf(tag, sizeof tag, "cli_%s", name);
    tc_tmpdir_make(c->dir, sizeof c->dir, tag);
    tc_path(c->out, sizeof c->out, c->dir, "stdout");
    tc_path(c->err, sizeof c->err, c->dir, "stderr");
}

void ctx_done(ctx *c)
{
    tc_tmpdir_remove(c->dir);
}

int run(ctx *c, const char *const *args)
{
    return tc_run(c->out, c->err, args);
}

void run_ok(ctx *c, const char *const *args)
{
    int st = run(c, args);
    char *err = tc_slurp(c->err, NULL);
    cr_assert_eq(st, 0, "status %d: %s", st, err);
    free(err);
}

void sub(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

const char *small_model(ctx *c, char *buf, size_t cap)
{
    sub(buf, cap, "%s/small.cfg", c->dir);
    tc_write_text(
        buf, "[flatten]\nkind = flatten\n[fc1]\nkind = linear\nout = 64\n[bn1]\n"
             "kind = batchnorm\n[relu1]\nkind = relu\n[fc2]\nkind = linear\nout = 32\n"
             "[relu2]\nkind = relu\n[fc]\nkind = linear\n");
    return buf;
}
