/* Fuzz harnesses: one file per parser, tests/fuzz/<target>.c, which defines
 *
 *   int fuzz_<target>(const uint8_t *data, size_t size);
 *
 * (always returns 0; calls abort() through FUZZ_CHECK when an invariant of
 * the parser's result breaks) and ends with CL_FUZZ_ENTRY(<target>). In the
 * libFuzzer build (clang, -DCL_FUZZ_MAIN, `make fuzz-build`) that line
 * becomes LLVMFuzzerTestOneInput; in the Criterion suite (gcc) it is empty
 * and tests/test_fuzz_replay.c calls fuzz_<target> on every file of
 * tests/fuzz/corpus/<target>/. The Makefile finds targets by file name, so a
 * new target is one new .c file here (plus its corpus folder). A line
 * "FUZZ_ARGS: ..." in the file's top comment gives its libFuzzer options
 * (at least -max_len) for `make fuzz` and tools/fuzz.sh. */
#ifndef COLLAPSE_TESTS_FUZZ_H
#define COLLAPSE_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef CL_FUZZ_MAIN
#define CL_FUZZ_ENTRY(t)                                                      \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);             \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)              \
    {                                                                         \
        return fuzz_##t(data, size);                                          \
    }
#else
#define CL_FUZZ_ENTRY(t)
#endif

/* Harness invariant: a failure is a finding (abort, so both libFuzzer and
 * Criterion report it with the input). */
#define FUZZ_CHECK(cond)                                                      \
    do {                                                                      \
        if (!(cond)) fuzz_fail(#cond, __FILE__, __LINE__);                    \
    } while (0)

void fuzz_fail(const char *what, const char *file, int line);

/* The process's scratch folder (made on first use under /dev/shm, else
 * $TMPDIR or /tmp; removed by fuzz_cleanup and at exit). Harnesses that
 * call path-based parsers write their input here: one file name per role,
 * overwritten on every run, so nothing accumulates and no fd stays open. */
const char *fuzz_dir(void);

/* out[cap] = fuzz_dir()/name. */
void fuzz_path(char *out, size_t cap, const char *name);

/* Writes data[n] to `path` (truncating); aborts on I/O failure (the harness,
 * not the parser, is broken then), and if the descriptor it gets is higher
 * than on the first call (a parser leaked an fd). */
void fuzz_write(const char *path, const void *data, size_t n);

/* mkdir that accepts an existing folder; aborts on other errors. */
void fuzz_mkdir(const char *path);

/* Removes `path` if present. */
void fuzz_unlink(const char *path);

/* Removes the scratch folder and everything in it. */
void fuzz_cleanup(void);

/* Little-endian u16 at p. */
static inline uint32_t fuzz_le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

/* Sum of the bytes of p[n], so ASan sees every byte of a result read. */
uint64_t fuzz_touch(const void *p, size_t n);

#endif
