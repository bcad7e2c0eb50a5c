/* Helpers shared by the Criterion tests (tests/common.c).
 *
 * Suite naming rule: every file tests/test_<name>.c holds exactly one
 * Criterion suite, named <name> (Test(<name>, ...)). <name> starts with the
 * module under test (src/<module>/ or the CLI command); a module whose tests
 * do not fit one file of < 500 lines gets one file per concept,
 * test_<module>_<concept>.c with suite <module>_<concept> (test_data_png.c
 * holds suite data_png). Helpers shared only by the files of one module live
 * in tests/<module>_common.{h,c}.
 *
 * Criterion runs every test in its own process, so the temporary folder of
 * tc_tmp_init() is private to the running test.
 *
 * Tests and benches include only public headers (include/collapse/) and,
 * where a test needs a module's internals, the module's documented
 * src/<module>/internal.h. */
#ifndef COLLAPSE_TESTS_COMMON_H
#define COLLAPSE_TESTS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "collapse/error.h"
#include "collapse/nn.h"
#include "collapse/rng.h"

/* The one .timeout (seconds) of every test that needs one. Criterion
 * 2.4.1's runner leaks 48 bytes (so LSan fails `make test SAN=1 TESTFLAGS=
 * "--jobs 2"`) when a test starts whose deadline falls before that of a test
 * still running; with a single value the deadlines only grow. */
#define TC_TIMEOUT 300

/* ---- temporary folders (mkdtemp; removed in C, nothing spawned) ---- */

/* Makes a new empty folder /tmp/cl_<tag>_XXXXXX and writes its name into
 * dir[cap] (cap >= 64 is plenty). Fails the test if it cannot. */
void tc_tmpdir_make(char *dir, size_t cap, const char *tag);

/* Removes `dir` and everything below it (nftw, links not followed).
 * A missing folder is fine; any other failure fails the test. */
void tc_tmpdir_remove(const char *dir);

/* Suite .init / .fini: the folder of the running test, "/tmp/cl_test_XXXXXX". */
void tc_tmp_init(void);
void tc_tmp_fini(void);

/* The folder made by tc_tmp_init() (fails the test if there is none). */
const char *tc_tmpdir(void);

/* tc_tmpdir()/name. The result lives in one of TPATH_SLOTS static buffers
 * used in turn: it stays valid until TPATH_SLOTS more calls, so up to that
 * many tpath() results may be used together (e.g. as arguments of one call).
 * Keep a copy (or use tc_path) for anything longer-lived. */
#define TPATH_SLOTS 8
const char *tpath(const char *name);

/* dir/name into buf[cap]; returns buf. Fails the test if it does not fit. */
char *tc_path(char *buf, size_t cap, const char *dir, const char *name);

/* ---- files ---- */

/* Writes n bytes of p to path (created or truncated); fails the test on error. */
void tc_write_file(const char *path, const void *p, size_t n);

/* tc_write_file of a NUL-terminated text. */
void tc_write_text(const char *path, const char *text);

/* The whole file as a malloc'ed NUL-terminated string (free with free()),
 * its length in *len if len is not NULL; NULL if it cannot be opened. */
char *tc_slurp(const char *path, size_t *len);

/* 1 if path exists (any kind of file). */
int tc_exists(const char *path);

/* Number of '\n' in the file at path (fails the test if it cannot be opened). */
int64_t tc_count_lines(const char *path);

/* Number of entries of folder dir other than . and ..; 0 if it is missing. */
int tc_count_entries(const char *dir);

/* 1 if path starts with the 8-byte PNG signature and is > 100 bytes. */
int tc_is_png(const char *path);

/* ---- numbers and specs ---- */

/* n floats shift + scale * N(0, 1) from r, in a cl_alloc'ed array of n + 1
 * (free with cl_free). */
float *tc_randn(int64_t n, cl_rng *r, double scale, double shift);

/* The convolution tests' error measure (test_conv_winograd.c explains it):
 * max_i |a_i - ref_i| / max_i R_i, R = the naive convolution of the
 * magnitudes; a NaN in a gives infinity. */
double tc_err_ratio(const float *a, const float *ref, const float *R, int64_t n);

/* A zeroed layer spec of `kind` with `out` outputs and a bias. */
cl_layer_spec tc_spec(cl_layer_kind kind, int out);

/* Fails the test unless got == want and cl_errmsg() is one line holding
 * `a` and (if not NULL) `b`. */
void tc_expect_err(cl_status got, cl_status want, const char *a, const char *b);

/* ---- memory ---- */

/* Caps this test process's address space (RLIMIT_AS) at its current size
 * plus `extra` bytes, so a parser that tries a big allocation gets NULL
 * (CL_ENOMEM) instead of succeeding. Returns 1, or 0 (no cap) under
 * AddressSanitizer, which reserves terabytes of address space. Criterion
 * runs each test in its own process: the cap ends with the test. */
int tc_limit_memory(size_t extra);

/* ---- running the CLI ($COLLAPSE_BIN, set by make test) ---- */

/* The path of the collapse binary; fails the test if COLLAPSE_BIN is unset. */
const char *tc_bin(void);

/* Starts `collapse args...` (args NULL-terminated, at most 64) with fork +
 * execv, stdout into file `out` and stderr into file `err` (both created or
 * truncated; the same path puts both into one file). Returns the pid. */
pid_t tc_spawn(const char *out, const char *err, const char *const *args);

/* Waits for pid: its exit status, or 1000 + the signal that killed it. */
int tc_wait(pid_t pid);

/* tc_spawn + tc_wait. */
int tc_run(const char *out, const char *err, const char *const *args);

/* Runs `collapse <line>`, the line split at blanks (no quoting: words may
 * not hold blanks), stdout and stderr together into out[cap] (cut to cap - 1
 * bytes, NUL-terminated). Returns the status as tc_wait. */
int tc_run_capture(const char *line, char *out, size_t cap);

#endif
