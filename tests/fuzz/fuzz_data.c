/* Fuzz target: the dataset loaders (nas_data_load_idx, nas_data_load_cifar) on
 * malformed, truncated and compressed files.
 *
 * Input: one mode byte, then the files' bytes.
 *   mode & 3     0, 3: IDX (images + labels), 1: CIFAR-10, 2: CIFAR-100
 *   mode & 4     gzip the first file (zlib, as gzip -c does); mode & 8: the others
 *   mode & 16    cut the gzip stream(s) short by the next byte's count of bytes
 *   mode & 32    one path names a missing file, mode & 64 a folder
 * IDX: two bytes give where the images end and the labels begin. CIFAR: one
 * byte gives the number of files (1..3), then two bytes per cut between them.
 * The files go to a private temporary folder.
 *
 * A rejected file must give NULL with a status and a message; a loaded one a
 * dataset whose shape, classes, batches (with crop and flip), split, subset and
 * concat all behave. Anything else aborts, so libFuzzer keeps the input. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "nas.h"

#define CHECK(cond, ...)                                              \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "fuzz_data: broken promise: %s\n  ", #cond);  \
      fprintf(stderr, __VA_ARGS__);                                   \
      fputc('\n', stderr);                                            \
      abort();                                                        \
    }                                                                 \
  } while (0)

static char dir[256];

static void cleanup(void) {
  char path[320];
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/f%d", dir, i);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/folder", dir);
  rmdir(path);
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *base = getenv("TMPDIR");
  struct stat sb;
  if (!base || !*base) base = stat("/dev/shm", &sb) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof dir, "%s/nas_fuzz_data_XXXXXX", base);
  if (!mkdtemp(dir)) {
    perror("fuzz_data: mkdtemp");
    abort();
  }
  char sub[300];
  snprintf(sub, sizeof sub, "%s/folder", dir);
  mkdir(sub, 0700);
  atexit(cleanup);
  return 0;
}

/* Writes bytes to path, gzip-compressed when gz (cut short by `cut` bytes). */
static void write_file(const char *path, const uint8_t *p, size_t n, int gz, size_t cut) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    abort();
  }
  if (!gz) {
    if (n) fwrite(p, 1, n, f);
  } else {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    unsigned char *out = malloc(cap);
    if (!out) abort();
    z.next_in = (unsigned char *)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    len = cut < len ? len - cut : 0;
    if (len) fwrite(out, 1, len, f);
    free(out);
  }
  fclose(f);
}

static void check_rejected(const nas_error *err, const char *what) {
  CHECK(err->status != NAS_OK, "%s: NULL without a status", what);
  CHECK(err->msg[0] != '\0', "%s: NULL without a message (%s)", what, nas_status_name(err->status));
}

/* Exercises a loaded dataset: shape, labels, batches, views. */
static void check_dataset(nas_dataset *d, int cifar) {
  int64_t n = nas_data_count(d);
  int classes = nas_data_classes(d);
  int64_t dims[NAS_MAX_DIMS];
  CHECK(n > 0, "loaded %lld rows", (long long)n);
  CHECK(classes >= 1 && classes <= 256, "%d classes", classes);
  CHECK(nas_data_shape(d, dims) == 3 && dims[0] > 0 && dims[1] > 0 && dims[2] > 0, "bad shape");
  if (cifar) CHECK(dims[0] == 3 && dims[1] == 32 && dims[2] == 32, "CIFAR shape %lldx%lldx%lld", (long long)dims[0],
                   (long long)dims[1], (long long)dims[2]);
  int64_t ss = nas_data_sample_size(d);
  CHECK(ss == dims[0] * dims[1] * dims[2], "sample size %lld", (long long)ss);
  int rows_n = n < 3 ? (int)n : 3;
  int64_t rows[4] = {0, n - 1, n / 2, 0};
  rows[rows_n] = n + 5; /* out of range: zeros and the label -1 */
  float *x = malloc((size_t)(rows_n + 1) * (size_t)ss * sizeof *x);
  int64_t y[4];
  if (!x) return;
  nas_rng rng;
  nas_rng_seed(&rng, (uint64_t)n);
  nas_augment aug = {2, 1, 0};
  nas_data_batch(d, rows, rows_n + 1, &aug, &rng, x, y);
  for (int i = 0; i < rows_n; i++) CHECK(y[i] >= 0 && y[i] < classes, "label %lld of %d classes", (long long)y[i], classes);
  CHECK(y[rows_n] == -1, "row out of range gave label %lld", (long long)y[rows_n]);
  for (int64_t k = 0; k < (int64_t)(rows_n + 1) * ss; k++) CHECK(isfinite(x[k]), "batch value %lld is not finite", (long long)k);
  free(x);
  float mean[4], sd[4];
  nas_data_compute_norm(d, mean, sd);
  for (int c = 0; c < dims[0] && c < 4; c++) CHECK(isfinite(mean[c]) && sd[c] > 0, "channel %d: mean %g std %g", c, mean[c], sd[c]);
  nas_error err;
  if (n >= 2) {
    nas_dataset *a = NULL, *b = NULL;
    CHECK(nas_data_split(d, 1, 7, &a, &b, &err) == NAS_OK, "split: %s", err.msg);
    CHECK(nas_data_count(a) == n - 1 && nas_data_count(b) == 1, "split sizes");
    nas_dataset *c = nas_data_concat(a, b, &err);
    CHECK(c && nas_data_count(c) == n, "concat: %s", err.msg);
    nas_data_free(c);
    nas_data_free(a);
    nas_data_free(b);
  }
  nas_dataset *s = nas_data_subset(d, 1, 3, &err);
  CHECK(s && nas_data_count(s) == 1, "subset: %s", err.msg);
  nas_data_free(s);
  CHECK(nas_data_subset(d, n + 1, 3, &err) == NULL && err.status == NAS_EINVAL, "subset of n+1 rows accepted");
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  size_t cut = 0;
  if ((mode & 16) && n > 0) {
    cut = p[0];
    p++;
    n--;
  }
  char paths[3][320];
  int kind = mode & 3;
  int nfiles = 2;
  size_t starts[4];
  if (kind == 1 || kind == 2) {
    nfiles = n > 0 ? p[0] % 3 + 1 : 1;
    if (n > 0) {
      p++;
      n--;
    }
    size_t at[2] = {0, 0};
    for (int i = 0; i < nfiles - 1; i++)
      if (n >= 2) {
        at[i] = be16(p);
        p += 2;
        n -= 2;
      }
    /* cuts are sizes of whole records most of the time */
    size_t rec = kind == 1 ? 3073 : 3074, prev = 0;
    for (int i = 0; i < nfiles - 1; i++) {
      size_t pos = (at[i] & 0x8000) ? prev + (at[i] & 0x7fff) : prev + rec * (at[i] & 7);
      starts[i] = prev;
      prev = pos < n ? pos : n;
    }
    starts[nfiles - 1] = prev;
  } else {
    size_t at = n >= 2 ? be16(p) : n;
    if (n >= 2) {
      p += 2;
      n -= 2;
    }
    starts[0] = 0;
    starts[1] = at < n ? at : n;
  }
  starts[nfiles] = n;
  for (int i = 0; i < nfiles; i++) {
    snprintf(paths[i], sizeof paths[i], "%s/f%d", dir, i);
    int gz = i == 0 ? (mode & 4) != 0 : (mode & 8) != 0;
    write_file(paths[i], p + starts[i], starts[i + 1] - starts[i], gz, cut);
  }
  int bad = -1;
  if (mode & 32) {
    bad = (mode >> 6 & 1) % nfiles;
    snprintf(paths[bad], sizeof paths[bad], "%s/missing", dir);
  } else if (mode & 64) {
    bad = (mode >> 7) % nfiles;
    snprintf(paths[bad], sizeof paths[bad], "%s/folder", dir);
  }

  nas_error err;
  memset(&err, 0x55, sizeof err);
  nas_dataset *d;
  if (kind == 1 || kind == 2) {
    const char *list[3] = {paths[0], paths[1], paths[2]};
    d = nas_data_load_cifar(list, nfiles, kind, &err);
  } else {
    d = nas_data_load_idx(paths[0], paths[1], &err);
  }
  if (!d) {
    check_rejected(&err, kind == 1 || kind == 2 ? "load_cifar" : "load_idx");
    CHECK(err.status == NAS_EIO || err.status == NAS_ENOMEM, "a bad file gave %s: %s", nas_status_name(err.status),
          err.msg);
    return 0;
  }
  CHECK(bad < 0, "loaded although '%s' is not a readable file", paths[bad]);
  CHECK(err.status == NAS_OK, "loaded with status %s", nas_status_name(err.status));
  check_dataset(d, kind == 1 || kind == 2);
  nas_data_free(d);
  return 0;
}
