/*
 * nas.h — the one public C header of the nasrun engine.
 *
 * Tutorial
 * --------
 * A network is a DAG of nodes. Node 0 is the input; every other node applies an
 * op (conv, bn, relu, add, ...) to the outputs of earlier nodes. Shapes are per
 * sample: {C,H,W} for images, {F} for vectors. Building a graph runs shape
 * inference node by node, so a bad node is rejected at the call that adds it,
 * with a message that names the node, the op and the rule that failed.
 *
 *     nas_error err;
 *     int64_t in[3] = {1, 28, 28};
 *     nas_graph *g = nas_graph_new(3, in, &err);
 *     nas_attr conv[] = { NAS_ATTR_INT("out", 32), NAS_ATTR_INT("k", 3) };
 *     int c = nas_graph_add(g, "conv", NULL, 0, conv, 2, &err);  // input: last node
 *     nas_graph_add(g, "relu", NULL, 0, NULL, 0, &err);
 *     nas_graph_add(g, "gap", NULL, 0, NULL, 0, &err);
 *     nas_attr lin[] = { NAS_ATTR_INT("out", 10) };
 *     nas_graph_add(g, "linear", NULL, 0, lin, 1, &err);
 *     printf("%lld params, %lld MACs\n", (long long)nas_graph_params(g),
 *            (long long)nas_graph_flops(g));
 *
 *     nas_model *m;                                   // engine/torch
 *     nas_model_opts mo = nas_model_opts_default();
 *     if (nas_model_new(g, &mo, &m, &err) != NAS_OK) puts(err.msg);
 *
 * Building a graph (engine/core) is separate from running it (engine/torch).
 * FLOPs are multiply-accumulates (MACs) of conv and linear layers (bias adds,
 * element-wise ops, pooling and batch norm count zero), as in fvcore and the
 * NAS-Bench-201 tables.
 *
 * Conventions
 * -----------
 * - Every function that can fail returns nas_status (or -1 / NULL) and writes a
 *   message into a caller-owned nas_error (which may be NULL to ignore it).
 * - Ownership is stated on every function. `_free` functions accept NULL.
 * - No function aborts or exits the process. Functions in engine/torch are
 *   noexcept: every C++ exception becomes a status plus message.
 */
#ifndef NAS_H
#define NAS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every function of the library is declared NAS_API: libnas is built with
 * -fvisibility=hidden, so these declarations are all it exports. */
#if defined(__GNUC__)
#define NAS_API __attribute__((visibility("default")))
#else
#define NAS_API
#endif

/* engine/torch's entry points never throw: they are noexcept in C++ (checked
 * by the compiler against their definitions) and plain functions in C. */
#ifdef __cplusplus
#define NAS_NOEXCEPT noexcept
#else
#define NAS_NOEXCEPT
#endif

#define NAS_VERSION "0.1.0"

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

typedef enum nas_status {
  NAS_OK = 0,
  NAS_EINVAL,     /* bad argument, unknown op/attribute, bad spec */
  NAS_EGRAPH,     /* the graph breaks a rule: shapes, cycle, arity */
  NAS_ENOMEM,     /* out of memory (host or device) */
  NAS_EIO,        /* a file is missing, unreadable or corrupt */
  NAS_ENUMERIC,   /* training diverged: NaN or Inf loss */
  NAS_EDEVICE,    /* device not available (e.g. cuda on a CPU-only build) */
  NAS_EINTERRUPT, /* stopped by nas_interrupt_set() (SIGINT) */
  NAS_ETORCH      /* any other libtorch error */
} nas_status;

typedef struct nas_error {
  nas_status status;
  char msg[512];
} nas_error;

/* Static string naming a status ("graph error", ...). */
NAS_API const char *nas_status_name(nas_status s);

/* Interrupt flag: async-signal-safe to set. Long-running calls (training,
 * evaluation, latency) check it between steps and return NAS_EINTERRUPT. */
NAS_API void nas_interrupt_set(void);
NAS_API void nas_interrupt_clear(void);
NAS_API int nas_interrupt_pending(void);

/* ------------------------------------------------------------------------ */
/* Attributes                                                                */
/* ------------------------------------------------------------------------ */

typedef enum nas_attr_kind {
  NAS_ATTR_KIND_INT = 1, /* integer; booleans are 0/1 ints */
  NAS_ATTR_KIND_FLOAT,   /* double */
  NAS_ATTR_KIND_STR      /* string: padding = "same" | "valid" */
} nas_attr_kind;

/* One key = value pair given to nas_graph_add. Strings are borrowed for the
 * duration of the call only. A boolean is an INT whose s is non-NULL
 * (NAS_ATTR_BOOL): only flag attributes (bias, affine) take one, any other
 * attribute rejects it with an error naming the node and the attribute. */
typedef struct nas_attr {
  const char *key;
  nas_attr_kind kind;
  int64_t i;
  double f;
  const char *s;
} nas_attr;

#define NAS_ATTR_INT(k, v) {(k), NAS_ATTR_KIND_INT, (v), 0.0, NULL}
#define NAS_ATTR_FLOAT(k, v) {(k), NAS_ATTR_KIND_FLOAT, 0, (v), NULL}
#define NAS_ATTR_STR(k, v) {(k), NAS_ATTR_KIND_STR, 0, 0.0, (v)}
#define NAS_ATTR_BOOL(k, v) {(k), NAS_ATTR_KIND_INT, (v) ? 1 : 0, 0.0, (v) ? "true" : "false"}

/* ------------------------------------------------------------------------ */
/* Ops (the op table, engine/core/ops.c)                                     */
/* ------------------------------------------------------------------------ */

#define NAS_MAX_DIMS 3
#define NAS_MAX_INPUTS 16

/* Op ids. The ops named here keep their ids (part of the ABI); an op added to
 * the op table after them has the next id and is known by its name
 * (nas_op_lookup). nas_op_count() is the number of ops. NAS_OP_INPUT is node 0
 * only; NAS_OP_NONE is "no op" (an invalid node). */
typedef enum nas_op {
  NAS_OP_NONE = -1,
  NAS_OP_INPUT = 0,
  NAS_OP_CONV,     /* out, k, [stride=1, padding="same", dilation=1, groups=1, bias=1] */
  NAS_OP_SEP_CONV, /* out, k, [stride=1, padding="same", bias=0]: depthwise kxk + pointwise 1x1 */
  NAS_OP_DIL_CONV, /* out, k, [stride=1, padding="same", dilation=2, bias=0]: dilated depthwise + pointwise */
  NAS_OP_LINEAR,   /* out, [bias=1]; input must be {F} */
  NAS_OP_BN,       /* [affine=1, eps=1e-5, momentum=0.1]; input {C,H,W} or {F} */
  NAS_OP_RELU,
  NAS_OP_RELU6,
  NAS_OP_SIGMOID,
  NAS_OP_HSWISH,
  NAS_OP_MAXPOOL,  /* k, [stride=k, padding=0] */
  NAS_OP_AVGPOOL,  /* k, [stride=k, padding=0]; padded cells are not counted */
  NAS_OP_GAP,      /* {C,H,W} -> {C} */
  NAS_OP_FLATTEN,  /* {C,H,W} -> {C*H*W} */
  NAS_OP_DROPOUT,  /* [p=0.5] */
  NAS_OP_IDENTITY,
  NAS_OP_ZERO,     /* [stride=1]: zeros of the input's shape (spatially strided) */
  NAS_OP_ADD,      /* 2+ inputs of equal shape */
  NAS_OP_CONCAT,   /* 2+ inputs, joined on channels (dim 0 of the per-sample shape) */
  NAS_OP_MUL,      /* 2 inputs: a * b, b of a's shape or {C} broadcast over H,W (squeeze-excite) */
  NAS_OP_MIXED,    /* decision (int >= 0, required): 1..16 inputs of equal shape, the candidate
                      ops of one architecture decision of a supernet; output = input shape;
                      0 params, 0 MACs (the branches count their own). How the inputs are mixed
                      is the model's mix mode (see "Supernets") */
} nas_op;

/* Number of ops in the op table (ids 0 .. nas_op_count() - 1). */
NAS_API int nas_op_count(void);

/* Static name of an op ("conv"), or NULL when out of range. */
NAS_API const char *nas_op_name(nas_op op);
/* Op code for a name, or -1 when unknown. */
NAS_API int nas_op_lookup(const char *name);
/* Attribute schema of an op: number of keys, and key i's name, kind, whether
 * it is required, and its default (meaningless when required). Static strings. */
NAS_API int nas_op_attr_count(nas_op op);
NAS_API const char *nas_op_attr_key(nas_op op, int i);
NAS_API nas_attr_kind nas_op_attr_kind(nas_op op, int i);
NAS_API int nas_op_attr_required(nas_op op, int i);
/* Default of key i: padding "same" is -1; a pool's stride defaults to k
 * (reported as -1). FLOAT keys through _int are truncated, INT keys through
 * _float converted. 0 when out of range. */
NAS_API int64_t nas_op_attr_default_int(nas_op op, int i);
NAS_API double nas_op_attr_default_float(nas_op op, int i);
/* Arity: min and max number of inputs (max may be NAS_MAX_INPUTS). */
NAS_API int nas_op_min_inputs(nas_op op);
NAS_API int nas_op_max_inputs(nas_op op);

/* ------------------------------------------------------------------------ */
/* Graph (engine/core/graph.c)                                               */
/* ------------------------------------------------------------------------ */

typedef struct nas_graph nas_graph;

/* New graph whose node 0 is the input with per-sample shape dims[0..ndim).
 * ndim is 1 ({F}) or 3 ({C,H,W}); every dim > 0. Returns NULL on error.
 * The caller owns the graph: release with nas_graph_free. */
NAS_API nas_graph *nas_graph_new(int ndim, const int64_t *dims, nas_error *err);
NAS_API void nas_graph_free(nas_graph *g);
/* Deep copy; caller owns it. NULL on out-of-memory. */
NAS_API nas_graph *nas_graph_clone(const nas_graph *g);

/* Appends a node and runs its shape rule. inputs are ids of earlier nodes;
 * ninputs == 0 means "the last node added" (the input node for the first op).
 * attrs are checked against the op's schema: an unknown key, a wrong kind, a
 * missing required key or a bad value is an error. Returns the new node id
 * (>= 1), or -1 with err set; on error the graph is unchanged. */
NAS_API int nas_graph_add(nas_graph *g, const char *op, const int *inputs, int ninputs,
                          const nas_attr *attrs, int nattrs, nas_error *err);

/* A whole graph from node descriptions in any order (as read from JSON):
 * node i+1 is descs[i]; inputs may name any node id 0..n, so forward
 * references are allowed; a cycle is an error naming the nodes on it. When
 * the descs are already in topological order the ids are kept; otherwise
 * nodes are renumbered into a topological order (stable: ties keep desc order).
 * output < 0 means the last node. Returns NULL with err set on error. */
typedef struct nas_node_desc {
  const char *op;
  const int *inputs;
  int ninputs; /* explicit: 0 is an error here unless the op takes none */
  const nas_attr *attrs;
  int nattrs;
} nas_node_desc;
NAS_API nas_graph *nas_graph_from_desc(int ndim, const int64_t *dims,
                                       const nas_node_desc *descs, int n, int output,
                                       nas_error *err);

/* The output node: the last node added unless set. */
NAS_API int nas_graph_output(const nas_graph *g);
NAS_API nas_status nas_graph_set_output(nas_graph *g, int node, nas_error *err);

/* Invariant: every node's inputs have smaller ids than the node, so id order
 * is a topological order (nas_graph_from_desc renumbers to keep it).
 * Number of nodes, including the input node 0. */
NAS_API int nas_graph_node_count(const nas_graph *g);
NAS_API nas_op nas_graph_node_op(const nas_graph *g, int node);
NAS_API int nas_graph_node_ninputs(const nas_graph *g, int node);
NAS_API int nas_graph_node_input(const nas_graph *g, int node, int i);
/* Output shape of a node; returns ndim, fills dims[0..ndim). */
NAS_API int nas_graph_node_shape(const nas_graph *g, int node, int64_t dims[NAS_MAX_DIMS]);
/* Resolved attribute value (defaults filled in) by schema index or key.
 * padding is an int: -1 means "same". Unknown key: returns 0. */
NAS_API int64_t nas_graph_node_int(const nas_graph *g, int node, const char *key);
NAS_API double nas_graph_node_float(const nas_graph *g, int node, const char *key);
/* Params / MACs of one node. */
NAS_API int64_t nas_graph_node_params(const nas_graph *g, int node);
NAS_API int64_t nas_graph_node_flops(const nas_graph *g, int node);

/* Whole-graph costs, analytic, from the IR alone. */
NAS_API int64_t nas_graph_params(const nas_graph *g);      /* trainable parameters */
NAS_API int64_t nas_graph_flops(const nas_graph *g);       /* MACs for one sample */
NAS_API int64_t nas_graph_activations(const nas_graph *g); /* floats of all node outputs, one sample */
/* Training-time memory estimate in bytes for a batch: float32 weights,
 * gradients and optimizer state (2 copies), plus activations * batch * 2
 * (forward outputs and their gradients). Documented as an estimate. */
NAS_API int64_t nas_graph_memory_bytes(const nas_graph *g, int batch);
/* Number of conv/linear layers (the "layers" constraint). */
NAS_API int nas_graph_layers(const nas_graph *g);

/* Canonical 64-bit hash: equal for graphs computing the same function with
 * the same ops and attributes, whatever the node numbering; inputs of add
 * (commutative) are order-free, of concat ordered. Nodes that do not reach
 * the output do not change it. */
NAS_API uint64_t nas_graph_hash(const nas_graph *g);

/* Human-readable table (one line per node: id, op, attrs, inputs, shape,
 * params, MACs) into buf; returns the length it needed (like snprintf). */
NAS_API size_t nas_graph_summary(const nas_graph *g, char *buf, size_t cap);

/* ------------------------------------------------------------------------ */
/* Data (engine/core/data.c)                                                 */
/* ------------------------------------------------------------------------ */

/* A dataset is a view (a list of row indices) over shared uint8 storage;
 * batches are normalised to float on the fly. Views keep the storage alive
 * (reference counted); free every dataset you own. */
typedef struct nas_dataset nas_dataset;

/* Loads IDX files (gzip or raw, detected from the bytes): images and labels.
 * Errors name the file and what is wrong (missing, bad magic, truncated, count
 * mismatch, label out of range). Caller owns the result. */
NAS_API nas_dataset *nas_data_load_idx(const char *images_path, const char *labels_path,
                                       nas_error *err);
/* Loads CIFAR-10 (label_bytes 1) or CIFAR-100 (label_bytes 2, fine label)
 * binary batch files, concatenated in the given order. */
NAS_API nas_dataset *nas_data_load_cifar(const char *const *paths, int npaths,
                                         int label_bytes, nas_error *err);

/* Normalisation applied by nas_data_batch: x = (pixel/255 - mean[c]) / std[c].
 * Loaders set the training set's per-channel statistics computed over the rows. */
NAS_API void nas_data_set_norm(nas_dataset *d, const float *mean, const float *std, int channels);
NAS_API void nas_data_get_norm(const nas_dataset *d, float *mean, float *std); /* channels floats each */
/* Per-channel mean/std over the view's rows (pixel/255). */
NAS_API void nas_data_compute_norm(const nas_dataset *d, float *mean, float *std);

/* Seeded split: `first` gets n - nsecond random rows, `second` nsecond rows.
 * Both share the storage and the normalisation. Returns NAS_OK or an error
 * when nsecond is not in [0, n). Caller owns both. */
NAS_API nas_status nas_data_split(const nas_dataset *d, int64_t nsecond, uint64_t seed,
                                  nas_dataset **first, nas_dataset **second, nas_error *err);
/* A view of the first `count` rows of a seeded permutation (fidelity knob). */
NAS_API nas_dataset *nas_data_subset(const nas_dataset *d, int64_t count, uint64_t seed,
                                     nas_error *err);
/* Union of two views over the same storage (train + valid for retraining). */
NAS_API nas_dataset *nas_data_concat(const nas_dataset *a, const nas_dataset *b, nas_error *err);
/* Reference to the same view (refcount up); nas_data_free releases. */
NAS_API nas_dataset *nas_data_ref(nas_dataset *d);
NAS_API void nas_data_free(nas_dataset *d);

NAS_API int64_t nas_data_count(const nas_dataset *d);
NAS_API int nas_data_classes(const nas_dataset *d);
/* Per-sample shape {C,H,W}; returns ndim (3). */
NAS_API int nas_data_shape(const nas_dataset *d, int64_t dims[NAS_MAX_DIMS]);
/* Floats per sample (C*H*W). */
NAS_API int64_t nas_data_sample_size(const nas_dataset *d);

/* Small deterministic RNG (splitmix64 seeded xoshiro256**). */
typedef struct nas_rng { uint64_t s[4]; } nas_rng;
NAS_API void nas_rng_seed(nas_rng *r, uint64_t seed);
NAS_API uint64_t nas_rng_next(nas_rng *r);
NAS_API double nas_rng_uniform(nas_rng *r);                 /* [0,1) */
NAS_API int64_t nas_rng_below(nas_rng *r, int64_t n);       /* [0,n), unbiased */
NAS_API void nas_rng_shuffle(nas_rng *r, int64_t *a, int64_t n);

/* Augmentation for nas_data_batch: random crop from a zero-padded image
 * (pad pixels each side), random horizontal flip, and random erasing (Zhong
 * et al., AAAI 2020; torchvision's RandomErasing with its defaults: with
 * probability `erase`, a rectangle of 2-33 % of the image, aspect ratio 0.3-3.3
 * log-uniform, up to 10 tries to fit, set to 0 after normalisation, i.e. the
 * training mean, on every channel). */
typedef struct nas_augment {
  int crop_pad; /* 0 = no crop */
  int flip;     /* 1 = random horizontal flip */
  double erase; /* probability of random erasing, in [0,1]; 0 = off */
} nas_augment;

/* Fills x (n * sample_size floats, NCHW) and y (n labels) with rows
 * rows[0..n) of the view (indices into the view, not the storage).
 * aug and rng may be NULL (no augmentation). */
NAS_API void nas_data_batch(const nas_dataset *d, const int64_t *rows, int n,
                            const nas_augment *aug, nas_rng *rng, float *x, int64_t *y);

/* ------------------------------------------------------------------------ */
/* Models: libtorch behind a C ABI (engine/torch)                            */
/* ------------------------------------------------------------------------ */

typedef struct nas_model nas_model;
typedef struct nas_trainer nas_trainer;

typedef enum nas_memfmt {
  NAS_MEMFMT_AUTO = 0,  /* measure both on the first training steps, keep the faster */
  NAS_MEMFMT_NCHW,
  NAS_MEMFMT_CHANNELS_LAST
} nas_memfmt;

typedef struct nas_model_opts {
  uint64_t seed;       /* weight init seed */
  const char *device;  /* "cpu" (default), "cuda", "cuda:N" */
  nas_memfmt memfmt;
} nas_model_opts;
NAS_API nas_model_opts nas_model_opts_default(void) NAS_NOEXCEPT;

/* Builds a libtorch module for any DAG graph. The model keeps its own copy of
 * the graph. Caller owns *out: release with nas_model_free. */
NAS_API nas_status nas_model_new(const nas_graph *g, const nas_model_opts *o,
                                 nas_model **out, nas_error *err) NAS_NOEXCEPT;
NAS_API void nas_model_free(nas_model *m) NAS_NOEXCEPT;
/* libtorch's own count of trainable parameter elements (cross-check). */
NAS_API int64_t nas_model_param_count(const nas_model *m) NAS_NOEXCEPT;
/* Device the model lives on ("cpu", "cuda:0"), static or model-owned string. */
NAS_API const char *nas_model_device(const nas_model *m) NAS_NOEXCEPT;
/* Memory format in use after training started (AUTO resolved). */
NAS_API nas_memfmt nas_model_memfmt(const nas_model *m) NAS_NOEXCEPT;

/* Forward of n samples x (n * sample floats) into out (n * output floats);
 * eval mode, no grad. */
NAS_API nas_status nas_model_forward(nas_model *m, const float *x, int n, float *out,
                                     nas_error *err) NAS_NOEXCEPT;
/* The same in training mode, without gradients: batch norm normalises with
 * the batch's statistics and updates its running statistics (as a training
 * step's forward does), dropout is active. The model's mode is restored. */
NAS_API nas_status nas_model_forward_train(nas_model *m, const float *x, int n, float *out,
                                           nas_error *err) NAS_NOEXCEPT;

typedef enum nas_optim { NAS_OPT_SGD = 0, NAS_OPT_ADAM, NAS_OPT_ADAMW } nas_optim;
typedef enum nas_sched { NAS_SCHED_CONSTANT = 0, NAS_SCHED_STEP, NAS_SCHED_COSINE } nas_sched;

typedef struct nas_train_opts {
  int epochs;            /* used when steps == 0 */
  int64_t steps;         /* > 0: exactly this many steps (epochs ignored) */
  int batch;
  nas_optim optimizer;
  double lr, momentum, weight_decay;
  int nesterov;
  double beta1, beta2, eps;     /* Adam/AdamW */
  nas_sched schedule;
  int64_t step_size;     /* NAS_SCHED_STEP: decay every step_size epochs */
  double gamma;          /* NAS_SCHED_STEP: decay factor */
  double warmup_epochs;  /* linear warm-up, 0 = none */
  double label_smoothing;
  double fraction;       /* (0,1]: train on this fraction of the data */
  uint64_t seed;         /* shuffling, augmentation, dropout */
  nas_augment augment;
  double grad_clip;      /* 0 = none: max global grad norm */
} nas_train_opts;
NAS_API nas_train_opts nas_train_opts_default(void) NAS_NOEXCEPT;

typedef struct nas_train_progress {
  int64_t step, total_steps; /* steps done so far / planned */
  int epoch, epochs;         /* current epoch (1-based) / planned */
  double loss;               /* mean loss of the steps of the last nas_trainer_run call */
  double epoch_loss;         /* mean loss over the current (or just finished) epoch */
  double epoch_accuracy;     /* training accuracy over the current epoch */
  int epoch_done;            /* 1 when the last call finished an epoch */
  int done;                  /* 1 when all steps are done */
  double lr;                 /* learning rate of the last step */
  double seconds;            /* wall time inside training so far */
} nas_train_progress;

/* Starts training m on d. The trainer borrows m and takes a reference on d:
 * m must outlive it. Caller owns *out: nas_trainer_free. */
NAS_API nas_status nas_trainer_new(nas_model *m, nas_dataset *d, const nas_train_opts *o,
                                   nas_trainer **out, nas_error *err) NAS_NOEXCEPT;
/* Runs at most max_steps steps (stops at an epoch end, so callers can record
 * per-epoch history), fills p. NaN/Inf loss: NAS_ENUMERIC. */
NAS_API nas_status nas_trainer_run(nas_trainer *t, int64_t max_steps, nas_train_progress *p,
                                 nas_error *err) NAS_NOEXCEPT;
NAS_API void nas_trainer_free(nas_trainer *t) NAS_NOEXCEPT;

typedef struct nas_eval_result {
  double accuracy; /* fraction in [0,1] */
  double loss;     /* mean cross-entropy */
  int64_t count;
} nas_eval_result;
NAS_API nas_status nas_model_evaluate(nas_model *m, nas_dataset *d, int batch,
                                      nas_eval_result *r, nas_error *err) NAS_NOEXCEPT;

typedef struct nas_latency_opts {
  int batch, runs, warmup, threads; /* threads 0 = current setting */
} nas_latency_opts;
typedef struct nas_latency_result {
  double median_ms, p90_ms, mean_ms, min_ms;
} nas_latency_result;
NAS_API nas_status nas_model_latency(nas_model *m, const nas_latency_opts *o,
                                     nas_latency_result *r, nas_error *err) NAS_NOEXCEPT;

/* Weights (parameters and buffers) to/from a file. Loading checks that the
 * file's tensors match the model's names and shapes. */
NAS_API nas_status nas_model_save(nas_model *m, const char *path, nas_error *err) NAS_NOEXCEPT;
NAS_API nas_status nas_model_load(nas_model *m, const char *path, nas_error *err) NAS_NOEXCEPT;

/* Export to PyTorch: writes <dir>/model.py, readable standalone code (only
 * `import torch`): one torch.nn.Module whose constructor builds the
 * submodules under the engine's names (n<i>_conv, n<i>_bn, ...) and whose
 * forward computes the nodes in id order, each with a comment naming its op
 * and output shape; and <dir>/weights.pt, its state dict (parameters and
 * buffers, BN running statistics included) in the zip format Python's
 * torch.load reads. Only the nodes a forward computes are written (nodes that
 * do not reach the output are left out, with their tensors). Mixed nodes: in
 * the fixed and path mix modes the picked candidate; in softmax and sigmoid
 * the weighted sum, the logits of decision d a buffer "alpha_<d>" in
 * weights.pt; the gumbel mode is refused (NAS_EINVAL naming the node). An op
 * without a PyTorch emitter is refused the same way. The folder must exist;
 * the files are overwritten. In eval mode the exported module computes what
 * nas_model_forward computes, in training mode what nas_model_forward_train
 * does (up to float rounding of the normalisation). */
typedef struct nas_export_opts {
  const char *class_name; /* the module's class: a Python identifier, not a keyword; default "Net" */
  int norm_channels;      /* 0 (default): the input is used as given; 1 or C: the module first
                             computes (x - mean[c]) / std[c] (mean, std: that many floats) */
  const float *mean, *std;
  const char *header;     /* NULL or text for model.py's top comment (lines become "# " lines) */
} nas_export_opts;
NAS_API nas_export_opts nas_export_opts_default(void) NAS_NOEXCEPT;
NAS_API nas_status nas_model_export_pytorch(nas_model *m, const char *dir, const nas_export_opts *o,
                                            nas_error *err) NAS_NOEXCEPT;

/* ------------------------------------------------------------------------ */
/* Supernets: graphs with mixed nodes (engine/torch/model.cpp, supernet.cpp)  */
/* ------------------------------------------------------------------------ */

/* A graph whose mixed nodes join each decision's candidate ops is a supernet:
 * nas_model_new builds every candidate (all weights shared by every subnet)
 * plus one vector of architecture logits (alpha) per decision. Decision d has
 * the inputs of its mixed nodes as candidates (several mixed nodes may share a
 * decision, e.g. one cell repeated: they share alpha; they must have the same
 * number of inputs); decisions are numbered 0..D-1 without gaps. The logits are
 * not weights: nas_model_param_count, the trainer's optimizer and
 * nas_model_save/load leave them out. They start as 1e-3 * N(0,1) from the
 * model's seed (as in DARTS).
 *
 * How a mixed node combines its inputs x_0..x_{k-1} (decision d):
 *   NAS_MIX_SOFTMAX  sum_i softmax(alpha_d)_i x_i                  (DARTS)
 *   NAS_MIX_GUMBEL   a hard one-hot Gumbel-softmax sample h of softmax((alpha_d + g) / tau),
 *                    straight-through: only the sampled branch j runs, out = h_j x_j +
 *                    sum_{i != j} h_i (values 0, gradients to alpha), as in GDAS; one sample
 *                    per decision per forward, from a private generator (model seed)
 *   NAS_MIX_PATH     x_{path[d]}: only that branch runs (SPOS, ENAS, subnets); no gradient to alpha
 *   NAS_MIX_FIXED    x_{argmax alpha_d}: the derived architecture, only that branch runs
 *   NAS_MIX_SIGMOID  sum_i sigmoid(alpha_i) x_i: Fair DARTS (Chu et al., ECCV 2020), whose
 *                    independent weights remove the exclusive competition that makes DARTS
 *                    collapse to skip connections
 * Nodes that only feed unpicked branches are not computed (liveness is worked
 * out per forward from the output). A graph without mixed nodes runs as before;
 * the functions below give NAS_EINVAL on it (decisions() is 0). */
typedef enum nas_mix_mode {
  NAS_MIX_SOFTMAX = 0,
  NAS_MIX_GUMBEL,
  NAS_MIX_PATH,
  NAS_MIX_FIXED,
  NAS_MIX_SIGMOID
} nas_mix_mode;

/* Number of decisions D (0 for a plain graph), and decision d's candidates (-1 out of range). */
NAS_API int nas_model_decisions(const nas_model *m) NAS_NOEXCEPT;
NAS_API int nas_model_decision_size(const nas_model *m, int d) NAS_NOEXCEPT;
/* Copies decision d's logits to out[0..size) / sets them from in[0..size) (finite). */
NAS_API nas_status nas_model_arch_get(const nas_model *m, int d, float *out, nas_error *err) NAS_NOEXCEPT;
NAS_API nas_status nas_model_arch_set(nas_model *m, int d, const float *in, nas_error *err) NAS_NOEXCEPT;
/* The mix mode of every later forward (training, evaluation, forward, latency).
 * tau > 0 is read by NAS_MIX_GUMBEL only. Default: NAS_MIX_SOFTMAX, tau 1. */
NAS_API nas_status nas_model_set_mix_mode(nas_model *m, nas_mix_mode mode, double tau, nas_error *err) NAS_NOEXCEPT;
NAS_API nas_mix_mode nas_model_get_mix_mode(const nas_model *m) NAS_NOEXCEPT;
/* The path of NAS_MIX_PATH: n == D choices, path[d] in [0, size(d)) (0-based). */
NAS_API nas_status nas_model_set_path(nas_model *m, const int *path, int n, nas_error *err) NAS_NOEXCEPT;
/* The branch each decision ran in the last training or forward pass (-1: all
 * of them, softmax/sigmoid): n == D ints. GDAS reads its sampled path here. */
NAS_API nas_status nas_model_last_path(const nas_model *m, int *path, int n, nas_error *err) NAS_NOEXCEPT;
/* Mean cross-entropy of n samples (x, y as nas_data_batch fills them) in the
 * current mix mode, training mode, and its gradient with respect to every
 * logit, written to grad[0..cap) in decision order (cap >= sum of sizes). The
 * weights, their gradients and the BN running statistics are left as they were. */
NAS_API nas_status nas_model_arch_grad(nas_model *m, const float *x, const int64_t *y, int n, float *grad,
                                       int64_t cap, double *loss, nas_error *err) NAS_NOEXCEPT;
/* BatchNorm recalibration for a subnet of shared weights (SPOS, "weight
 * inheritance"): resets every BN layer's running statistics, then forwards
 * `batches` batches of `batch` rows of d (a seeded random order) in training
 * mode without gradients, with cumulative averaging (momentum None), in the
 * current mix mode (set the path first). Works on any model. */
NAS_API nas_status nas_model_recalibrate_bn(nas_model *m, nas_dataset *d, int batches, int batch, uint64_t seed,
                                            nas_error *err) NAS_NOEXCEPT;

/* Bilevel search (DARTS, first or second order; GDAS is the same loop in NAS_MIX_GUMBEL
 * mode with tau lowered between runs): each step first takes one Adam step on
 * the logits from a batch of `valid` (arch_lr, betas, arch_weight_decay, as in
 * DARTS: 3e-4, (0.5, 0.999), 1e-3), then one step of nas_trainer_run on `train`
 * with o->weights (the weights only: DARTS uses SGD lr 0.025 cosine, momentum
 * 0.9, weight decay 3e-4, batch 64). The search borrows m and references both
 * datasets; m must outlive it. Caller owns *out: nas_darts_free. */
typedef struct nas_darts nas_darts;
typedef struct nas_darts_opts {
  nas_train_opts weights;
  double arch_lr, arch_beta1, arch_beta2, arch_weight_decay;
  uint64_t seed; /* order of the validation batches (and of the second order's training batches) */
  int order;     /* 1 (default): first order; 2: second order, DARTS's finite-difference
                    approximation: the logits' gradient is taken at the unrolled weights
                    w' = w - lr * (dL_train/dw + weight_decay * w) (lr: the weights' current
                    rate), minus lr * (dL_train/da(w+) - dL_train/da(w-)) / (2 eps), where
                    w+- = w +- eps * dL_val/dw' and eps = 0.01 / ||dL_val/dw'||. */
} nas_darts_opts;
NAS_API nas_darts_opts nas_darts_opts_default(void) NAS_NOEXCEPT;
NAS_API nas_status nas_darts_new(nas_model *m, nas_dataset *train, nas_dataset *valid, const nas_darts_opts *o,
                                   nas_darts **out, nas_error *err) NAS_NOEXCEPT;
/* Runs at most max_steps steps (stops at an epoch end of the weights' trainer),
 * fills p as nas_trainer_run does; *arch_loss (may be NULL): mean validation loss
 * of the architecture steps of this call. */
NAS_API nas_status nas_darts_run(nas_darts *t, int64_t max_steps, nas_train_progress *p, double *arch_loss,
                                 nas_error *err) NAS_NOEXCEPT;
NAS_API void nas_darts_free(nas_darts *t) NAS_NOEXCEPT;

/* ------------------------------------------------------------------------ */
/* Policy controller: an autoregressive LSTM over categorical decisions      */
/* (engine/torch/controller.cpp), for REINFORCE as in ENAS / NAS-RL          */
/* ------------------------------------------------------------------------ */

/* Decision i has sizes[i] >= 1 choices (0-based choice indices 0..sizes[i]-1).
 * Step i feeds the LSTM cell the embedding of decision i-1's choice (a learned
 * start embedding for i = 0); a linear head per decision gives its logits, then
 *   logits = logits / temperature; if (tanh_c > 0) logits = tanh_c * tanh(logits)
 * (as in ENAS), and a softmax. Weights start uniform in [-0.1, 0.1] from seed,
 * drawn from a private generator (the global libtorch RNG is not touched).
 * The controller runs on the CPU (it is tiny; the device is irrelevant).
 * Randomness comes only from the caller's uniforms, so the same seed and the
 * same sequence of calls give bit-identical parameters. */
typedef struct nas_controller nas_controller;

typedef struct nas_controller_opts {
  int hidden;            /* LSTM and embedding width; default 64 (ENAS: 100) */
  double lr;             /* Adam learning rate; default 3.5e-4 (ENAS) */
  double entropy;        /* entropy bonus weight; default 1e-4 (ENAS) */
  double temperature;    /* > 0; default 5 (ENAS) */
  double tanh_c;         /* >= 0, 0 = off; default 2.5 (ENAS) */
  double baseline_decay; /* [0,1); EMA decay of the reward baseline; default 0.9 (NB201) */
  uint64_t seed;         /* weight init; default 0 */
} nas_controller_opts;
NAS_API nas_controller_opts nas_controller_opts_default(void) NAS_NOEXCEPT;

/* New controller over n >= 1 decisions of sizes[0..n) (each >= 1). o may be
 * NULL (defaults). Caller owns *out: release with nas_controller_free. */
NAS_API nas_status nas_controller_new(const int *sizes, int n, const nas_controller_opts *o,
                                      nas_controller **out, nas_error *err) NAS_NOEXCEPT;
NAS_API void nas_controller_free(nas_controller *c) NAS_NOEXCEPT;

/* Number of decisions, and the size of decision i (-1 when out of range). */
NAS_API int nas_controller_decisions(const nas_controller *c) NAS_NOEXCEPT;
NAS_API int nas_controller_size(const nas_controller *c, int i) NAS_NOEXCEPT;

/* Samples one choice per decision, autoregressively: decision i takes the
 * first j with uniforms[i] < cdf_i(j) (inverse CDF of its softmax), given the
 * choices before it. uniforms: n numbers in [0,1) (borrowed). Writes choices
 * (n ints, 0-based) and, when not NULL, the sum over decisions of the log-
 * probability of the choices and of the entropies. No parameter changes. */
NAS_API nas_status nas_controller_sample(nas_controller *c, const double *uniforms, int *choices,
                                         double *logprob, double *entropy, nas_error *err) NAS_NOEXCEPT;

/* One REINFORCE step for choices (n_decisions == the controller's n, 0-based):
 * recomputes their log-probability teacher-forced, updates the baseline first
 * (bias-corrected EMA as in NB201: num = d*num + (1-d)*r, den = d*den + (1-d),
 * baseline = num/den, so the first update's baseline is the reward), then
 *   loss = -(reward - baseline) * logprob - entropy_weight * entropy
 * and one Adam step. reward must be finite. A NaN/Inf loss is NAS_ENUMERIC and
 * changes nothing. */
NAS_API nas_status nas_controller_update(nas_controller *c, const int *choices, int n_decisions,
                                         double reward, nas_error *err) NAS_NOEXCEPT;
/* Baseline after the last update (0 before any), and the number of updates. */
NAS_API double nas_controller_baseline(const nas_controller *c) NAS_NOEXCEPT;
NAS_API int64_t nas_controller_updates(const nas_controller *c) NAS_NOEXCEPT;

/* The distribution of decision k (0 <= k < n) given the choices prefix[0..k)
 * of the decisions before it: writes size(k) probabilities into probs_out. */
NAS_API nas_status nas_controller_probs(nas_controller *c, const int *prefix, int k, double *probs_out,
                                        nas_error *err) NAS_NOEXCEPT;

/* All parameters as float32, in a fixed order (tests compare them bit for
 * bit): count, and a copy into out[0..cap) (NAS_EINVAL when cap is short). */
NAS_API int64_t nas_controller_param_count(const nas_controller *c) NAS_NOEXCEPT;
NAS_API nas_status nas_controller_params(const nas_controller *c, float *out, int64_t cap, nas_error *err) NAS_NOEXCEPT;

/* ------------------------------------------------------------------------ */
/* Zero-cost proxies (engine/torch/proxy.cpp)                                */
/* ------------------------------------------------------------------------ */

/* Scores a model at its current weights from one batch, without training, as
 * in Abdelfattah et al. 2021 (SamsungLabs/zero-cost-nas) and Mellor et al.
 * 2021. Higher is better for every proxy. Conv and linear weights are the
 * "layers" summed over (both halves of a sep/dil conv count):
 *   synflow    sum |theta * dR/dtheta|, R = sum of the output for an input of
 *              ones (1 sample), every parameter replaced by its absolute value,
 *              batch norm removed (the reference's bn=False), in float64
 *   naswot     log|det K|, K[i][j] = sum over ReLU/ReLU6 nodes of the number
 *              of units where samples i and j agree (both > 0 or both <= 0 at
 *              the node's input): N_A - Hamming distance of the binary codes
 *   grad_norm  sum over layers of ||dL/dW||_2 (L = mean cross-entropy on y)
 *   snip       sum |W * dL/dW|
 *   fisher     sum over layers and output channels k of 0.5 * mean_n
 *              (sum_{spatial} a * dL/da)^2, a = the layer's output
 *   jacob_cov  -sum_i (log(v_i + 1e-5) + 1 / (v_i + 1e-5)), v = eigenvalues
 *              of the correlation matrix of the per-sample input gradients of
 *              the summed output
 *   params     trainable parameters (nas_graph_params), flops: MACs
 *              (nas_graph_flops) — baselines from the graph
 * Except for synflow, batch norm uses the batch's statistics (train-mode BN as
 * in the references) without updating the running statistics. Dropout is the
 * identity. The model is left exactly as it was: weights, buffers, gradients,
 * train/eval mode; no RNG stream is drawn from.
 *
 * x: n samples (n * input size floats, NCHW); y: n labels in [0, outputs),
 * read only by grad_norm, snip and fisher (which need a {F} output); either
 * may be NULL where not read (x is not read by synflow, params, flops).
 * NAS_EINVAL for an unknown name or a bad argument; NAS_ENUMERIC when the
 * score is not finite (*score still holds it: e.g. naswot's -inf for a
 * singular kernel, jacob_cov's NaN when a sample's input gradient is constant). */
NAS_API nas_status nas_proxy_compute(nas_model *m, const char *name, const float *x, const int64_t *y, int n,
                                   double *score, nas_error *err) NAS_NOEXCEPT;
/* The proxies by index, i = 0 .. nas_proxy_count() - 1 (static strings; NULL
 * out of range), and whether one reads labels: 1, 0, or -1 when unknown. */
NAS_API int nas_proxy_count(void) NAS_NOEXCEPT;
NAS_API const char *nas_proxy_name(int i) NAS_NOEXCEPT;
NAS_API int nas_proxy_uses_labels(const char *name) NAS_NOEXCEPT;

/* Engine-wide settings. */
NAS_API void nas_threads_set(int n) NAS_NOEXCEPT;           /* intra-op threads; <= 0 leaves it */
NAS_API int nas_threads_get(void) NAS_NOEXCEPT;
NAS_API int nas_cuda_available(void) NAS_NOEXCEPT;          /* 1 when built with CUDA and a GPU is visible */
NAS_API int nas_cuda_device_count(void) NAS_NOEXCEPT;       /* visible GPUs (0 on a CPU-only build) */
NAS_API const char *nas_torch_version(void) NAS_NOEXCEPT;

#ifdef __cplusplus
}
#endif
#endif /* NAS_H */
