/* Helpers shared by the CLI tests (tests/test_cli*.c): a scratch folder per
 * test with the child's stdout/stderr files, and a small model file. */
#ifndef COLLAPSE_TESTS_CLI_COMMON_H
#define COLLAPSE_TESTS_CLI_COMMON_H

#include <stddef.h>

typedef struct {
    char dir[64]; /* scratch folder of this test */
    char out[96], err[96];
} ctx;

/* Makes the scratch folder /tmp/cl_cli_<name>_XXXXXX; out and err name the
 * files the child's stdout and stderr go to. */
void ctx_init(ctx *c, const char *name);

/* Removes the scratch folder and all below it. */
void ctx_done(ctx *c);

/* Runs `collapse args...` (NULL-terminated) into c->out / c->err; returns
 * its status as tc_wait (common.h). */
int run(ctx *c, const char *const *args);

/* run() that must succeed: fails the test, showing the child's stderr,
 * unless the status is 0. */
void run_ok(ctx *c, const char *const *args);

/* snprintf into buf[cap]. */
void sub(char *buf, size_t cap, const char *fmt, ...);

/* Writes a small BN MLP model file into the scratch folder; its path goes
 * into buf[cap], which is returned. */
const char *small_model(ctx *c, char *buf, size_t cap);

#endif
