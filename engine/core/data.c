/* Datasets: IDX and CIFAR loaders, views (split / subset / concat),
 * normalisation and batching with augmentation.
 *
 * Layout (data_impl.h): one uint8 NCHW storage per load, shared by any number
 * of views; a view is a list of storage rows plus its normalisation.
 *
 * Normalisation semantics (shared with torchvision's ToTensor + Normalize):
 *   x = (pixel/255 - mean[c]) / std[c]
 * Loaders set mean/std to the per-channel statistics of the rows they loaded
 * (population std over every pixel of the channel). Views made by split,
 * subset and concat copy their parent's normalisation, so a validation split
 * is normalised with the statistics of the whole training file. A test set
 * loaded from its own file gets its own statistics by default: the Lua layer
 * must hand it the training statistics with nas_data_get_norm on the training
 * set and nas_data_set_norm on the test set — valid/test data is always
 * normalised with the training statistics.
 *
 * Padding semantics of the random crop (torchvision RandomCrop(padding=p) on
 * the uint8 image, before ToTensor/Normalize): padded pixels are raw 0 pixels,
 * so after normalisation they hold (0 - mean[c]) / std[c], not 0.0.
 *
 * The normalisation belongs to the view object: nas_data_set_norm changes it
 * for every holder of that view (nas_data_ref shares the object), while views
 * made later by split/subset/concat take a copy at creation time.
 *
 * Random draws of nas_data_batch, per sample in order: when crop_pad > 0, the
 * crop's top then left offset, each nas_rng_below(rng, 2*pad + 1); then, when
 * flip is set, nas_rng_below(rng, 2) (1 = mirror); then, when erase > 0,
 * nas_rng_uniform(rng) < erase decides the erasing, and each of its up to 10
 * tries draws the area fraction, the log aspect ratio (nas_rng_uniform each)
 * and, when the rectangle fits, its top then left (nas_rng_below). The crop
 * is applied first, then the flip, then the erasing. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data_impl.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define CIFAR_PIXELS 3072 /* 3 x 32 x 32 */
#define READ_CHUNK (1 << 30)

/* ------------------------------------------------------------------------ */
/* Storage and views                                                         */
/* ------------------------------------------------------------------------ */

static nas_data_storage *storage_new(void) {
  nas_data_storage *st = calloc(1, sizeof *st);
  if (st) atomic_init(&st->refs, 1);
  return st;
}

static void storage_unref(nas_data_storage *st) {
  if (!st) return;
  if (atomic_fetch_sub(&st->refs, 1) == 1) {
    free(st->pixels);
    free(st->labels);
    free(st);
  }
}

/* A view of n rows over st (rows left uninitialised); takes a storage ref. */
static nas_dataset *view_new(nas_data_storage *st, int64_t n) {
  nas_dataset *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  if (n > 0) {
    d->rows = malloc((size_t)n * sizeof *d->rows);
    if (!d->rows) {
      free(d);
      return NULL;
    }
  }
  atomic_init(&d->refs, 1);
  d->n = n;
  d->st = st;
  atomic_fetch_add(&st->refs, 1);
  return d;
}

static void copy_norm(nas_dataset *dst, const nas_dataset *src) {
  memcpy(dst->mean, src->mean, sizeof dst->mean);
  memcpy(dst->std, src->std, sizeof dst->std);
  memcpy(dst->lut, src->lut, sizeof dst->lut);
}

nas_dataset *nas_data_ref(nas_dataset *d) {
  if (d) atomic_fetch_add(&d->refs, 1);
  return d;
}

void nas_data_free(nas_dataset *d) {
  if (!d) return;
  if (atomic_fetch_sub(&d->refs, 1) == 1) {
    storage_unref(d->st);
    free(d->rows);
    free(d);
  }
}

int64_t nas_data_count(const nas_dataset *d) { return d ? d->n : 0; }
int nas_data_classes(const nas_dataset *d) { return d ? d->st->classes : 0; }

int nas_data_shape(const nas_dataset *d, int64_t dims[NAS_MAX_DIMS]) {
  if (!d) return 0;
  dims[0] = d->st->c;
  dims[1] = d->st->h;
  dims[2] = d->st->w;
  return 3;
}

int64_t nas_data_sample_size(const nas_dataset *d) {
  return d ? (int64_t)d->st->c * d->st->h * d->st->w : 0;
}

/* ------------------------------------------------------------------------ */
/* Normalisation                                                             */
/* ------------------------------------------------------------------------ */

/* Channels beyond `channels` reuse the last given value (channels == 1
 * broadcasts one mean/std to every channel). A std that is not a positive
 * finite number is replaced by 1, a non-finite mean by 0: this function
 * cannot fail, so callers (the Lua layer) validate before calling. */
void nas_data_set_norm(nas_dataset *d, const float *mean, const float *std, int channels) {
  if (!d || !mean || !std || channels < 1) return;
  for (int c = 0; c < d->st->c; c++) {
    int k = c < channels ? c : channels - 1;
    float m = mean[k], s = std[k];
    if (!isfinite(m)) m = 0.0f;
    if (!(isfinite(s) && s > 0.0f)) s = 1.0f;
    d->mean[c] = m;
    d->std[c] = s;
    for (int p = 0; p < 256; p++)
      d->lut[c][p] = (float)(((double)p / 255.0 - (double)m) / (double)s);
  }
}

void nas_data_get_norm(const nas_dataset *d, float *mean, float *std) {
  if (!d) return;
  for (int c = 0; c < d->st->c; c++) {
    if (mean) mean[c] = d->mean[c];
    if (std) std[c] = d->std[c];
  }
}

/* Exact per-channel histograms, then mean and population std of pixel/255.
 * An empty view gives mean 0, std 1; a constant channel gets std 1. */
void nas_data_compute_norm(const nas_dataset *d, float *mean, float *std) {
  if (!d) return;
  const nas_data_storage *st = d->st;
  const int C = st->c;
  const size_t HW = (size_t)st->h * st->w, CHW = C * HW;
  uint64_t(*hist)[256] = calloc((size_t)C, sizeof *hist);
  if (!hist) { /* 4 KiB per channel; fall back to the identity */
    for (int c = 0; c < C; c++) {
      if (mean) mean[c] = 0.0f;
      if (std) std[c] = 1.0f;
    }
    return;
  }
  for (int64_t i = 0; i < d->n; i++) {
    const uint8_t *img = st->pixels + (size_t)d->rows[i] * CHW;
    for (int c = 0; c < C; c++) {
      const uint8_t *p = img + c * HW;
      uint64_t *h = hist[c];
      for (size_t k = 0; k < HW; k++) h[p[k]]++;
    }
  }
  for (int c = 0; c < C; c++) {
    double n = 0, s1 = 0, s2 = 0;
    for (int v = 0; v < 256; v++) {
      double cnt = (double)hist[c][v];
      n += cnt;
      s1 += cnt * v;
      s2 += cnt * v * v;
    }
    double m = 0.0, sd = 1.0;
    if (n > 0) {
      m = s1 / n / 255.0;
      double var = s2 / n / (255.0 * 255.0) - m * m;
      sd = var > 0 ? sqrt(var) : 0.0;
      if (!(sd > 1e-12)) sd = 1.0;
    }
    if (mean) mean[c] = (float)m;
    if (std) std[c] = (float)sd;
  }
  free(hist);
}

/* The view of every row of a freshly loaded storage, normalised with its own
 * statistics. Consumes the caller's storage reference. */
static nas_dataset *view_all(nas_data_storage *st, const char *what, nas_error *err) {
  const int64_t n = st->n;
  nas_dataset *d = view_new(st, n);
  storage_unref(st); /* the view holds it now (or it is freed on failure) */
  if (!d) {
    nas_seterr(err, NAS_ENOMEM, "%s: out of memory for %lld row indices", what, (long long)n);
    return NULL;
  }
  for (int64_t i = 0; i < d->n; i++) d->rows[i] = i;
  float mean[NAS_DATA_MAX_CHANNELS], sd[NAS_DATA_MAX_CHANNELS];
  nas_data_compute_norm(d, mean, sd);
  nas_data_set_norm(d, mean, sd, st->c);
  return d;
}

/* ------------------------------------------------------------------------ */
/* Reading files (zlib reads gzip and raw files alike)                       */
/* ------------------------------------------------------------------------ */

static gzFile open_file(const char *path, nas_error *err) {
  errno = 0;
  gzFile f = gzopen(path, "rb");
  if (!f) {
    nas_seterr(err, NAS_EIO, "cannot open '%s': %s", path,
               errno ? strerror(errno) : "out of memory");
    return NULL;
  }
  gzbuffer(f, 1 << 17);
  return f;
}

/* Reads up to len bytes; returns how many were read. A zlib or system error
 * (corrupt or cut gzip stream, EISDIR, ...) is copied into zmsg (else ""). */
static int64_t read_bytes(gzFile f, const char *path, void *buf, int64_t len, char *zmsg,
                          size_t zcap) {
  int64_t got = 0;
  zmsg[0] = '\0';
  while (got < len) {
    int64_t want = len - got < READ_CHUNK ? len - got : READ_CHUNK;
    int r = gzread(f, (char *)buf + got, (unsigned)want);
    if (r <= 0) {
      int e = Z_OK;
      const char *m = gzerror(f, &e);
      if (e != Z_OK && m) {
        size_t pl = strlen(path); /* zlib prefixes the path: drop it */
        if (strncmp(m, path, pl) == 0 && strncmp(m + pl, ": ", 2) == 0) m += pl + 2;
        snprintf(zmsg, zcap, " (%s)", m);
      }
      break;
    }
    got += r;
  }
  return got;
}

/* Reads up to len bytes into a malloc'd buffer that grows as the bytes arrive
 * (from 64 MiB, doubling), so that a header announcing more data than the file
 * holds costs memory for what is there only. Stores the buffer in *buf (NULL
 * when none could be allocated); returns the bytes read, or -1 when out of
 * memory. zmsg as for read_bytes. */
static int64_t read_grow(gzFile f, const char *path, uint8_t **buf, int64_t len, char *zmsg,
                         size_t zcap) {
  const int64_t first = (int64_t)1 << 26;
  int64_t cap = 0, got = 0;
  uint8_t *b = NULL;
  zmsg[0] = '\0';
  while (got < len) {
    if (got == cap) {
      int64_t ncap = cap == 0 ? (len < first ? len : first) : (cap > len / 2 ? len : cap * 2);
      uint8_t *nb = realloc(b, (size_t)ncap);
      if (!nb) {
        free(b);
        *buf = NULL;
        return -1;
      }
      b = nb;
      cap = ncap;
    }
    got += read_bytes(f, path, b + got, cap - got, zmsg, zcap);
    if (got < cap) break; /* the end of the file, or an error (zmsg) */
  }
  *buf = b;
  return got;
}

/* Fails when the file holds more bytes than its header announced. */
static nas_status check_end(gzFile f, const char *path, const char *what, nas_error *err) {
  unsigned char extra;
  if (gzread(f, &extra, 1) > 0)
    return nas_seterr(err, NAS_EIO, "'%s': unexpected data after the %s its header announces",
                      path, what);
  return NAS_OK;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads an IDX header of 1 + ndims big-endian uint32 into dims[0..ndims). */
static nas_status read_idx_header(gzFile f, const char *path, uint32_t magic, int ndims,
                                  uint32_t *dims, nas_error *err) {
  unsigned char hdr[16];
  char zmsg[128];
  const int64_t need = 4 * (1 + (int64_t)ndims);
  const int64_t got = read_bytes(f, path, hdr, need, zmsg, sizeof zmsg);
  const char *kind = magic == IDX_IMAGES_MAGIC ? "IDX images: unsigned bytes, 3 dims"
                                               : "IDX labels: unsigned bytes, 1 dim";
  if (got == 0 && zmsg[0])
    return nas_seterr(err, NAS_EIO, "cannot read '%s'%s", path, zmsg);
  if (got == 0)
    return nas_seterr(err, NAS_EIO, "'%s': empty file, expected %s", path, kind);
  if (got < 4)
    return nas_seterr(err, NAS_EIO, "'%s': truncated: expected %lld header bytes, got %lld%s",
                      path, (long long)need, (long long)got, zmsg);
  const uint32_t found = be32(hdr);
  if (found != magic) {
    const char *hint = "";
    if (found == IDX_LABELS_MAGIC)
      hint = "; this is an IDX labels file: are the images and labels paths swapped?";
    else if (found == IDX_IMAGES_MAGIC)
      hint = "; this is an IDX images file: are the images and labels paths swapped?";
    return nas_seterr(err, NAS_EIO, "'%s': bad magic 0x%08x, expected 0x%08x (%s)%s", path,
                      (unsigned)found, (unsigned)magic, kind, hint);
  }
  if (got < need)
    return nas_seterr(err, NAS_EIO, "'%s': truncated: expected %lld header bytes, got %lld%s",
                      path, (long long)need, (long long)got, zmsg);
  for (int i = 0; i < ndims; i++) dims[i] = be32(hdr + 4 * (i + 1));
  return NAS_OK;
}

nas_dataset *nas_data_load_idx(const char *images_path, const char *labels_path,
                               nas_error *err) {
  nas_clearerr(err);
  if (!images_path || !labels_path) {
    nas_seterr(err, NAS_EINVAL, "nas_data_load_idx: images and labels paths are required");
    return NULL;
  }
  gzFile fi = NULL, fl = NULL;
  nas_data_storage *st = NULL;
  uint8_t *lab = NULL;
  uint32_t idims[3] = {0, 0, 0}, ldims[1] = {0};
  char zmsg[128];

  if (!(fi = open_file(images_path, err))) goto fail;
  if (read_idx_header(fi, images_path, IDX_IMAGES_MAGIC, 3, idims, err)) goto fail;
  if (!(fl = open_file(labels_path, err))) goto fail;
  if (read_idx_header(fl, labels_path, IDX_LABELS_MAGIC, 1, ldims, err)) goto fail;

  const int64_t n = idims[0], rows = idims[1], cols = idims[2];
  if (n != (int64_t)ldims[0]) {
    nas_seterr(err, NAS_EIO,
               "image/label count mismatch: '%s' has %lld images, '%s' has %lld labels",
               images_path, (long long)n, labels_path, (long long)ldims[0]);
    goto fail;
  }
  if (n == 0) {
    nas_seterr(err, NAS_EIO, "'%s': empty: its header says 0 images", images_path);
    goto fail;
  }
  if (rows < 1 || cols < 1 || rows > 65535 || cols > 65535) {
    nas_seterr(err, NAS_EIO, "'%s': bad image size %lldx%lld in the header", images_path,
               (long long)rows, (long long)cols);
    goto fail;
  }
  if (n > INT64_MAX / (rows * cols)) { /* n < 2^32 and rows*cols < 2^32: the product may not fit */
    nas_seterr(err, NAS_EIO, "'%s': its header announces %lld images of %lldx%lld, too many bytes",
               images_path, (long long)n, (long long)rows, (long long)cols);
    goto fail;
  }
  const int64_t npix = n * rows * cols;
  if (!(st = storage_new())) {
    nas_seterr(err, NAS_ENOMEM, "'%s': out of memory", images_path);
    goto fail;
  }
  st->n = n;
  st->c = 1;
  st->h = (int)rows;
  st->w = (int)cols;

  /* pixels first, in a buffer that grows as they arrive; the labels' memory
   * only once the file has shown it holds n images */
  int64_t got = read_grow(fi, images_path, &st->pixels, npix, zmsg, sizeof zmsg);
  if (got < 0) {
    nas_seterr(err, NAS_ENOMEM, "'%s': out of memory for %lld images of %lldx%lld",
               images_path, (long long)n, (long long)rows, (long long)cols);
    goto fail;
  }
  if (got < npix) {
    nas_seterr(err, NAS_EIO,
               "'%s': truncated: expected %lld bytes of pixels (%lld images of %lldx%lld) "
               "after the 16-byte header, got %lld%s",
               images_path, (long long)npix, (long long)n, (long long)rows, (long long)cols,
               (long long)got, zmsg);
    goto fail;
  }
  if (check_end(fi, images_path, "images", err)) goto fail;
  if (!(st->labels = malloc((size_t)n * sizeof *st->labels)) || !(lab = malloc((size_t)n))) {
    nas_seterr(err, NAS_ENOMEM, "'%s': out of memory for %lld labels", labels_path, (long long)n);
    goto fail;
  }
  got = read_bytes(fl, labels_path, lab, n, zmsg, sizeof zmsg);
  if (got < n) {
    nas_seterr(err, NAS_EIO,
               "'%s': truncated: expected %lld bytes of labels after the 8-byte header, "
               "got %lld%s",
               labels_path, (long long)n, (long long)got, zmsg);
    goto fail;
  }
  if (check_end(fl, labels_path, "labels", err)) goto fail;

  int maxl = 0;
  for (int64_t i = 0; i < n; i++) {
    st->labels[i] = lab[i];
    if (lab[i] > maxl) maxl = lab[i];
  }
  st->classes = maxl + 1; /* a uint8 label is always in [0, 256) */
  free(lab);
  gzclose(fi);
  gzclose(fl);
  return view_all(st, images_path, err);

fail:
  free(lab);
  storage_unref(st);
  if (fi) gzclose(fi);
  if (fl) gzclose(fl);
  return NULL;
}

/* Appends the records of one CIFAR binary file to st (capacity *cap rows). */
static nas_status read_cifar_file(nas_data_storage *st, int64_t *cap, const char *path,
                                  int label_bytes, nas_error *err) {
  const int rec = label_bytes + CIFAR_PIXELS;
  const int other = (label_bytes == 1 ? 2 : 1) + CIFAR_PIXELS;
  const char *name = label_bytes == 1 ? "CIFAR-10" : "CIFAR-100";
  unsigned char buf[2 + CIFAR_PIXELS];
  char zmsg[128];
  gzFile f = open_file(path, err);
  if (!f) return err ? err->status : NAS_EIO;
  int64_t nrec = 0, bad_rec = -1;
  int bad_coarse = 0, bad_fine = 0;
  nas_status s = NAS_OK;
  for (;;) {
    int64_t got = read_bytes(f, path, buf, rec, zmsg, sizeof zmsg);
    if (got == 0 && zmsg[0] == '\0' && nrec > 0) break;
    if (got < rec) {
      long long size = (long long)(nrec * rec + got);
      if (size == 0 && zmsg[0]) {
        s = nas_seterr(err, NAS_EIO, "cannot read '%s'%s", path, zmsg);
      } else if (size == 0) {
        s = nas_seterr(err, NAS_EIO, "'%s': empty file, expected %s records", path, name);
      } else if (zmsg[0]) {
        s = nas_seterr(err, NAS_EIO, "'%s': read error after %lld bytes%s", path, size, zmsg);
      } else {
        s = nas_seterr(err, NAS_EIO,
                       "'%s': size %lld bytes is not a multiple of the %s record size %d "
                       "(%d label byte%s + 3072 pixels)%s",
                       path, size, name, rec, label_bytes, label_bytes == 1 ? "" : "s",
                       size % other == 0
                           ? (label_bytes == 1
                                  ? "; it is a multiple of 3074: a CIFAR-100 file (label_bytes 2)?"
                                  : "; it is a multiple of 3073: a CIFAR-10 file (label_bytes 1)?")
                           : "");
      }
      goto done;
    }
    /* A bad label is reported after the whole file is read, so that a file of
     * the wrong format is reported as such (its size) rather than by a label. */
    int coarse = label_bytes == 2 ? buf[0] : 0, label = buf[label_bytes - 1];
    if (bad_rec < 0 && (label >= (label_bytes == 1 ? 10 : 100) || coarse >= 20)) {
      bad_rec = nrec;
      bad_coarse = coarse;
      bad_fine = label;
    }
    if (st->n == *cap) {
      int64_t ncap = *cap ? *cap * 2 : 10000;
      uint8_t *px = realloc(st->pixels, (size_t)ncap * CIFAR_PIXELS);
      if (px) st->pixels = px;
      int64_t *lb = px ? realloc(st->labels, (size_t)ncap * sizeof *lb) : NULL;
      if (!lb) {
        s = nas_seterr(err, NAS_ENOMEM, "'%s': out of memory for %lld images", path,
                       (long long)ncap);
        goto done;
      }
      st->labels = lb;
      *cap = ncap;
    }
    memcpy(st->pixels + (size_t)st->n * CIFAR_PIXELS, buf + label_bytes, CIFAR_PIXELS);
    st->labels[st->n++] = label;
    nrec++;
  }
  if (bad_rec >= 0) {
    if (label_bytes == 1)
      s = nas_seterr(err, NAS_EIO,
                     "'%s': record %lld has label %d out of range: CIFAR-10 labels are 0..9",
                     path, (long long)bad_rec, bad_fine);
    else
      s = nas_seterr(err, NAS_EIO,
                     "'%s': record %lld has labels coarse %d, fine %d out of range: CIFAR-100 "
                     "coarse labels are 0..19, fine 0..99",
                     path, (long long)bad_rec, bad_coarse, bad_fine);
  }
done:
  gzclose(f);
  return s;
}

nas_dataset *nas_data_load_cifar(const char *const *paths, int npaths, int label_bytes,
                                 nas_error *err) {
  nas_clearerr(err);
  if (!paths || npaths < 1) {
    nas_seterr(err, NAS_EINVAL, "nas_data_load_cifar: no files given");
    return NULL;
  }
  if (label_bytes != 1 && label_bytes != 2) {
    nas_seterr(err, NAS_EINVAL,
               "nas_data_load_cifar: label_bytes must be 1 (CIFAR-10) or 2 (CIFAR-100), got %d",
               label_bytes);
    return NULL;
  }
  nas_data_storage *st = storage_new();
  if (!st) {
    nas_seterr(err, NAS_ENOMEM, "nas_data_load_cifar: out of memory");
    return NULL;
  }
  st->c = 3;
  st->h = st->w = 32;
  st->classes = label_bytes == 1 ? 10 : 100;
  int64_t cap = 0;
  for (int i = 0; i < npaths; i++) {
    if (!paths[i]) {
      nas_seterr(err, NAS_EINVAL, "nas_data_load_cifar: path %d is NULL", i + 1);
      storage_unref(st);
      return NULL;
    }
    if (read_cifar_file(st, &cap, paths[i], label_bytes, err)) {
      storage_unref(st);
      return NULL;
    }
  }
  return view_all(st, paths[0], err);
}

/* ------------------------------------------------------------------------ */
/* Split, subset, concat                                                     */
/* ------------------------------------------------------------------------ */

/* Marks in mark[0..n) the first k positions of a seeded permutation of 0..n-1.
 * The first k of a permutation are nested in the first k' > k of the same
 * seed, so subsets of one seed grow by adding rows. */
static int choose(int64_t n, int64_t k, uint64_t seed, unsigned char *mark) {
  int64_t *perm = malloc((size_t)(n > 0 ? n : 1) * sizeof *perm);
  if (!perm) return -1;
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  nas_rng r;
  nas_rng_seed(&r, seed);
  nas_rng_shuffle(&r, perm, n);
  memset(mark, 0, (size_t)n);
  for (int64_t i = 0; i < k; i++) mark[perm[i]] = 1;
  free(perm);
  return 0;
}

/* Views of the marked (want = 1) or unmarked (want = 0) rows of d, in d's order. */
static nas_dataset *pick(const nas_dataset *d, const unsigned char *mark, int want,
                         int64_t count) {
  nas_dataset *v = view_new(d->st, count);
  if (!v) return NULL;
  int64_t j = 0;
  for (int64_t i = 0; i < d->n; i++)
    if (mark[i] == want) v->rows[j++] = d->rows[i];
  copy_norm(v, d);
  return v;
}

nas_status nas_data_split(const nas_dataset *d, int64_t nsecond, uint64_t seed,
                          nas_dataset **first, nas_dataset **second, nas_error *err) {
  nas_clearerr(err);
  if (first) *first = NULL;
  if (second) *second = NULL;
  if (!d || !first || !second)
    return nas_seterr(err, NAS_EINVAL, "nas_data_split: dataset and both outputs are required");
  if (nsecond < 0 || nsecond >= d->n)
    return nas_seterr(err, NAS_EINVAL,
                      "nas_data_split: the second part must have 0 to %lld rows (the dataset "
                      "has %lld), got %lld",
                      (long long)(d->n - 1), (long long)d->n, (long long)nsecond);
  unsigned char *mark = malloc((size_t)d->n);
  if (!mark || choose(d->n, nsecond, seed, mark)) {
    free(mark);
    return nas_seterr(err, NAS_ENOMEM, "nas_data_split: out of memory");
  }
  nas_dataset *a = pick(d, mark, 0, d->n - nsecond);
  nas_dataset *b = a ? pick(d, mark, 1, nsecond) : NULL;
  free(mark);
  if (!b) {
    nas_data_free(a);
    return nas_seterr(err, NAS_ENOMEM, "nas_data_split: out of memory");
  }
  *first = a;
  *second = b;
  return NAS_OK;
}

nas_dataset *nas_data_subset(const nas_dataset *d, int64_t count, uint64_t seed,
                             nas_error *err) {
  nas_clearerr(err);
  if (!d) {
    nas_seterr(err, NAS_EINVAL, "nas_data_subset: dataset is required");
    return NULL;
  }
  if (count < 1 || count > d->n) {
    nas_seterr(err, NAS_EINVAL,
               "nas_data_subset: count must be in 1..%lld (the dataset's rows), got %lld",
               (long long)d->n, (long long)count);
    return NULL;
  }
  unsigned char *mark = malloc((size_t)d->n);
  nas_dataset *v = NULL;
  if (mark && !choose(d->n, count, seed, mark)) v = pick(d, mark, 1, count);
  free(mark);
  if (!v) nas_seterr(err, NAS_ENOMEM, "nas_data_subset: out of memory");
  return v;
}

nas_dataset *nas_data_concat(const nas_dataset *a, const nas_dataset *b, nas_error *err) {
  nas_clearerr(err);
  if (!a || !b) {
    nas_seterr(err, NAS_EINVAL, "nas_data_concat: two datasets are required");
    return NULL;
  }
  if (a->st != b->st) {
    nas_seterr(err, NAS_EINVAL,
               "nas_data_concat: the datasets come from different loads (different storage); "
               "concat joins views of one loaded dataset, e.g. the two parts of a split");
    return NULL;
  }
  nas_dataset *v = view_new(a->st, a->n + b->n);
  if (!v) {
    nas_seterr(err, NAS_ENOMEM, "nas_data_concat: out of memory");
    return NULL;
  }
  if (a->n) memcpy(v->rows, a->rows, (size_t)a->n * sizeof *v->rows);
  if (b->n) memcpy(v->rows + a->n, b->rows, (size_t)b->n * sizeof *v->rows);
  copy_norm(v, a);
  return v;
}

/* ------------------------------------------------------------------------ */
/* Batching (the training hot path: no allocation, one table lookup a pixel) */
/* ------------------------------------------------------------------------ */

/* One channel of one sample, shifted by (dy, dx) with normalised-zero fill,
 * then mirrored when flip: out(i, j) = src(i + dy, j' + dx), j' = flip ? W-1-j : j. */
static void crop_flip(float *o, const uint8_t *s, const float *lut, int H, int W, int dy,
                      int dx, int flip) {
  const float zero = lut[0];
  /* unflipped columns j with a source pixel: [j0, j1) */
  int j0 = -dx < 0 ? 0 : (-dx > W ? W : -dx);
  int j1 = W - dx > W ? W : W - dx;
  if (j1 < j0) j1 = j0;
  const int k0 = flip ? W - j1 : j0, k1 = flip ? W - j0 : j1;
  for (int i = 0; i < H; i++, o += W) {
    const int sy = i + dy;
    if (sy < 0 || sy >= H) {
      for (int j = 0; j < W; j++) o[j] = zero;
      continue;
    }
    const uint8_t *row = s + (size_t)sy * W;
    int j = 0;
    for (; j < k0; j++) o[j] = zero;
    if (flip) {
      for (; j < k1; j++) o[j] = lut[row[W - 1 - j + dx]];
    } else {
      for (; j < k1; j++) o[j] = lut[row[j + dx]];
    }
    for (; j < W; j++) o[j] = zero;
  }
}

static void batch_rows(const nas_dataset *d, const int64_t *rows, int i0, int i1, int pad,
                       int flip, double erase, nas_rng *rng, float *x, int64_t *y);

/* Random erasing of one sample (C planes of H x W), torchvision's rule. */
static void erase_rect(float *out, int C, int H, int W, double p, nas_rng *rng) {
  if (nas_rng_uniform(rng) >= p) return;
  const double area = (double)H * W, lo = log(0.3), hi = log(3.3);
  for (int attempt = 0; attempt < 10; attempt++) {
    const double target = area * (0.02 + (0.33 - 0.02) * nas_rng_uniform(rng));
    const double ratio = exp(lo + (hi - lo) * nas_rng_uniform(rng));
    const int h = (int)lround(sqrt(target * ratio)), w = (int)lround(sqrt(target / ratio));
    if (h < 1 || w < 1 || h >= H || w >= W) continue;
    const int top = (int)nas_rng_below(rng, H - h + 1), left = (int)nas_rng_below(rng, W - w + 1);
    for (int c = 0; c < C; c++)
      for (int i = top; i < top + h; i++) {
        float *row = out + ((size_t)c * H + i) * W + left;
        for (int j = 0; j < w; j++) row[j] = 0.0f;
      }
    return;
  }
}

#if defined(__GNUC__) || defined(__clang__)
#define NAS_PREFETCH(p) __builtin_prefetch(p)
#else
#define NAS_PREFETCH(p) ((void)(p))
#endif

/* Preconditions: x holds n * sample_size floats, y n labels (y may be NULL),
 * rows[i] in [0, count). A row out of range gives a sample of zeros and the
 * label -1 (which cross-entropy then rejects) rather than reading outside
 * the view. rows == NULL means rows 0..n-1. Thread-safe for distinct rng and
 * outputs: d is only read. */
void nas_data_batch(const nas_dataset *d, const int64_t *rows, int n,
                    const nas_augment *aug, nas_rng *rng, float *x, int64_t *y) {
  if (!d || n <= 0 || !x) return;
  const nas_data_storage *st = d->st;
  const size_t CHW = (size_t)st->c * st->h * st->w;
  int pad = 0, flip = 0;
  double erase = 0;
  if (aug && rng) {
    pad = aug->crop_pad > 0 ? aug->crop_pad : 0;
    flip = aug->flip != 0;
    erase = aug->erase > 0 && st->h > 1 && st->w > 1 ? (aug->erase > 1 ? 1.0 : aug->erase) : 0;
  }
  /* Rows are random accesses into the storage (a shuffled epoch): a first
   * pass over a chunk of the batch prefetches every cache line of its source
   * images and labels, so the misses overlap instead of stalling one by one
   * (measured 2x on Fashion-MNIST batches of 32 and 128). Chunks of about
   * PREFETCH_BYTES of pixels keep the prefetched lines in the cache. */
  enum { PREFETCH_BYTES = 128 * 1024 };
  const int chunk = CHW >= PREFETCH_BYTES ? 1 : CHW ? (int)(PREFETCH_BYTES / CHW) : n;
  for (int i0 = 0; i0 < n; i0 += chunk) {
    const int i1 = n - i0 > chunk ? i0 + chunk : n;
    for (int i = i0; i < i1; i++) {
      const int64_t r = rows ? rows[i] : i;
      if (r < 0 || r >= d->n) continue;
      const int64_t s = d->rows[r];
      if (y) NAS_PREFETCH(st->labels + s);
      const char *p = (const char *)(st->pixels + (size_t)s * CHW);
      for (size_t k = 0; k < CHW; k += 64) NAS_PREFETCH(p + k);
      if (CHW) NAS_PREFETCH(p + CHW - 1);
    }
    batch_rows(d, rows, i0, i1, pad, flip, erase, rng, x, y);
  }
}

/* Converts rows [i0, i1) of a batch (see nas_data_batch). */
static void batch_rows(const nas_dataset *d, const int64_t *rows, int i0, int i1, int pad,
                       int flip, double erase, nas_rng *rng, float *x, int64_t *y) {
  const nas_data_storage *st = d->st;
  const int C = st->c, H = st->h, W = st->w;
  const size_t HW = (size_t)H * W, CHW = (size_t)C * HW;
  for (int i = i0; i < i1; i++) {
    float *out = x + (size_t)i * CHW;
    const int64_t r = rows ? rows[i] : i;
    if (r < 0 || r >= d->n) {
      memset(out, 0, CHW * sizeof *out);
      if (y) y[i] = -1;
      continue;
    }
    const int64_t s = d->rows[r];
    if (y) y[i] = st->labels[s];
    const uint8_t *src = st->pixels + (size_t)s * CHW;
    int dy = 0, dx = 0, fl = 0;
    if (pad) {
      dy = (int)nas_rng_below(rng, 2 * (int64_t)pad + 1) - pad;
      dx = (int)nas_rng_below(rng, 2 * (int64_t)pad + 1) - pad;
    }
    if (flip) fl = (int)nas_rng_below(rng, 2);
    for (int c = 0; c < C; c++) {
      const float *lut = d->lut[c];
      const uint8_t *sc = src + c * HW;
      float *oc = out + c * HW;
      if (dy == 0 && dx == 0 && !fl) {
        for (size_t k = 0; k < HW; k++) oc[k] = lut[sc[k]];
      } else {
        crop_flip(oc, sc, lut, H, W, dy, dx, fl);
      }
    }
    if (erase > 0) erase_rect(out, C, H, W, erase, rng);
  }
}
