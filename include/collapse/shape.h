/* The shape of one sample or one layer's output, {C, H, W} (a vector is
 * {D, 1, 1}). In core so that data/ and layers/ share it without data/
 * depending on the layers. */
#ifndef COLLAPSE_SHAPE_H
#define COLLAPSE_SHAPE_H

#include <stdint.h>

typedef struct {
    int c, h, w;
} cl_shape;

static inline int64_t cl_shape_size(cl_shape s) { return (int64_t)s.c * s.h * s.w; }

#endif
