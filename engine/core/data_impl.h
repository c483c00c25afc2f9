/* Private layout of nas_dataset (engine/core/data.c). Not installed.
 *
 * Storage: the pixels of every loaded image, uint8, N x C x H x W (NCHW), and
 * one int64 label per image. Loaded once, never modified, reference counted.
 *
 * View (nas_dataset): a reference to a storage, a list of storage row indices
 * and the normalisation applied by nas_data_batch, baked into one 256-entry
 * lookup table per channel: x = lut[c][pixel] = (pixel/255 - mean[c]) / std[c].
 * Views are reference counted too (nas_data_ref / nas_data_free); every view
 * holds one reference on its storage. */
#ifndef NAS_DATA_IMPL_H
#define NAS_DATA_IMPL_H

#include <stdatomic.h>

#include "core_impl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NAS_DATA_MAX_CHANNELS 16

typedef struct nas_data_storage {
  atomic_long refs;
  int64_t n;         /* images */
  int c, h, w;       /* per-sample shape */
  int classes;       /* max label + 1, or 10 / 100 for CIFAR */
  uint8_t *pixels;   /* n * c * h * w */
  int64_t *labels;   /* n */
} nas_data_storage;

struct nas_dataset {
  atomic_long refs;
  nas_data_storage *st;
  int64_t n;         /* rows in this view */
  int64_t *rows;     /* n storage indices (NULL when n == 0) */
  float mean[NAS_DATA_MAX_CHANNELS];
  float std[NAS_DATA_MAX_CHANNELS];
  float lut[NAS_DATA_MAX_CHANNELS][256];
};

#ifdef __cplusplus
}
#endif
#endif
