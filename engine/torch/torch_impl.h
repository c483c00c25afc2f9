/* Private C++ declarations shared by the files of engine/torch.
 * Never included from C, never includes lua.h. */
#ifndef NAS_TORCH_IMPL_H
#define NAS_TORCH_IMPL_H

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core_impl.h"

namespace nas_torch {

struct NasNet;
struct NodeSpec;
struct Walk;

/* ---- the op table of engine/torch (ops.cpp) --------------------------------
 * Per op, one row: how to build the node's submodules from the graph
 * (register them on the NasNet, read the attributes the forward needs into
 * NodeSpec) and the node's forward. Every pass over the network -- training,
 * evaluation, latency, zero-cost proxies, BN recalibration, supernets -- runs
 * these forwards through the one walk, NasNet::run. */

/* What an op is, for the code around the walk. */
enum OpFlags : unsigned {
  OPF_CONV = 1u << 0,      /* a convolution: the memory format matters (train.cpp's AUTO choice) */
  OPF_BATCHNORM = 1u << 1, /* normalises with batch statistics in training: a batch of 1 fails */
  OPF_RECTIFIER = 1u << 2, /* a rectifier: the sign of its input is an activation code (naswot) */
};

/* One node's build: the graph, the node and the module to register on. */
struct Build {
  const nas_graph *g;
  NasNet &net;
  NodeSpec &s;
  int id;
  int in_ndim;                  /* shape of input 0 */
  int64_t in_dims[NAS_MAX_DIMS];
  int64_t I(const char *key) const { return nas_graph_node_int(g, id, key); }
  double F(const char *key) const { return nas_graph_node_float(g, id, key); }
  /* Registers m on the net as "n<id>_<suffix>" (the names of save files and
   * exported PyTorch code); returns its module, for NodeSpec::mods. */
  template <class Holder> typename Holder::ContainedType *add(const char *suffix, Holder m);
  [[noreturn]] void fail(const std::string &why) const;
};

/* One node's PyTorch source (nas_model_export_pytorch): what the op's
 * emitter writes for it. The variables are Python names: "x<i>" holds node
 * i's value, "x0" the (normalised) input. */
struct Emit {
  const NasNet &net;
  int id;
  std::vector<std::string> in; /* the variables of the node's inputs, in order */
  std::string init;            /* __init__ lines (unindented, one per '\n'): its submodules as
                                  "self.n<id>_<kind> = torch.nn...", the names Build::add registers */
  std::string pre;             /* forward lines before the node's assignment (may stay empty) */
  std::string expr;            /* the node's value, an expression over `in` */
  /* Tensors the source registers as buffers beyond the submodules' (a
   * supernet's architecture logits): name -> value, saved with the weights. */
  std::vector<std::pair<std::string, at::Tensor>> &extra;
  std::string mod(const char *kind) const { return "self.n" + std::to_string(id) + "_" + kind; }
  [[noreturn]] void fail(const std::string &why) const;
};

using BuildFn = void (*)(Build &b);
/* a: the node's input 0 (vals[s.in[0]]); the others through w.in(s, i). */
using ForwardFn = at::Tensor (*)(Walk &w, const NodeSpec &s, const at::Tensor &a);
/* Fills e.init / e.pre / e.expr for node s; e.fail() when it cannot. */
using EmitFn = void (*)(Emit &e, const NodeSpec &s);

struct OpImpl {
  BuildFn build;
  ForwardFn forward;
  unsigned flags;
  EmitFn emit; /* its PyTorch source; NULL: the op cannot be exported */
};
/* The row of op, or NULL when engine/torch has none. */
const OpImpl *op_impl(nas_op op);

/* One graph node as the module runs it. */
struct NodeSpec {
  nas_op op = NAS_OP_IDENTITY;
  ForwardFn forward = nullptr;            /* the op's row, copied at build */
  unsigned flags = 0;
  std::vector<int> in;
  int ndim = 0;
  int64_t dims[NAS_MAX_DIMS] = {0, 0, 0}; /* per-sample output shape */
  bool live = false;                      /* reaches the output */
  int last_use = -1;                      /* id of the last live consumer */
  int decision = -1;                      /* mixed: its decision's index */
  /* Per op (its row in ops.cpp says which): its submodules (owned by the
   * NasNet, which registered them) and the attributes its forward reads. */
  void *mods[2] = {nullptr, nullptr};
  int64_t ia[4] = {0, 0, 0, 0};
  double fa = 0.0;
  template <class Impl> Impl &mod(int i) const { return *static_cast<Impl *>(mods[i]); }
};

/* ---- the walk's hooks ----------------------------------------------------------
 * Plain function pointers and a context: no allocation per node or step, and
 * one null test per node when a pass has no hooks (training). */

/* Which parameter of a layer an op asks for (Hooks::param). */
enum ParamRole : int { PARAM_WEIGHT, PARAM_BIAS, PARAM_NORM_WEIGHT, PARAM_NORM_BIAS };

struct Hooks {
  enum BnMode : int {
    BN_MODULE, /* batch norm as its module runs in the net's train/eval mode */
    BN_BATCH,  /* normalise with the batch's statistics; running statistics untouched */
    BN_OFF     /* batch norm is the identity */
  };
  BnMode bn = BN_MODULE;
  bool dropout = true; /* false: dropout is the identity (no RNG draw) */
  void *ctx = nullptr; /* passed to every callback */
  /* Before node id runs; vals[s.in[i]] are its inputs. */
  void (*before)(void *ctx, int id, const NodeSpec &s, const std::vector<at::Tensor> &vals) = nullptr;
  /* After node id ran; may replace its output. */
  void (*after)(void *ctx, int id, const NodeSpec &s, at::Tensor &out) = nullptr;
  /* The output of every conv or linear layer, in order (a separable conv has
   * two: depthwise then pointwise). */
  void (*layer_out)(void *ctx, int id, const at::Tensor &out) = nullptr;
  /* Substitutes a parameter: the tensor the op uses in place of p (defined
   * parameters only). In BN_MODULE mode batch norm runs its module and asks
   * for none. */
  at::Tensor (*param)(void *ctx, int id, ParamRole role, const at::Tensor &p) = nullptr;
};

/* The state of one pass, as an op's forward sees it. */
struct Walk {
  NasNet &net;
  const Hooks *h;           /* NULL: no hooks */
  const at::Tensor &x;      /* the net's input */
  int64_t N;                /* batch size */
  int id = 0;               /* the node running */
  at::Tensor sub[4];        /* substituted parameters of the node running, per ParamRole */
  Walk(NasNet &n, const Hooks *hk, const at::Tensor &in0) : net(n), h(hk), x(in0), N(in0.size(0)) {}
  const at::Tensor &in(const NodeSpec &s, size_t i) const;
  bool training() const;
  bool bn_module() const { return !h || h->bn == Hooks::BN_MODULE; }
  /* p, or the hook's substitute for it */
  const at::Tensor &param(const at::Tensor &p, ParamRole r) {
    if (!h || !h->param || !p.defined()) return p;
    sub[r] = h->param(h->ctx, id, r, p);
    return sub[r];
  }
  /* a conv or linear layer's output */
  const at::Tensor &layer(const at::Tensor &t) const {
    if (h && h->layer_out) h->layer_out(h->ctx, id, t);
    return t;
  }
};

struct NasNet : torch::nn::Module {
  std::vector<NodeSpec> nodes;
  int output = 0;
  std::vector<at::Tensor> vals;  /* per-node outputs, reused across calls */
  std::vector<at::Tensor> tmp;   /* concat scratch */

  /* Supernet (graphs with mixed nodes; ops.cpp runs them, supernet.cpp holds
   * the API). The architecture logits are plain tensors, not registered
   * submodule parameters: parameters() (the weights the trainer updates, the
   * param count, save/load) never includes them. */
  bool has_mixed = false;
  std::vector<int> dsize;          /* candidates per decision */
  std::vector<at::Tensor> alpha;   /* logits per decision, requires_grad, on the model's device */
  nas_mix_mode mix = NAS_MIX_SOFTMAX;
  double tau = 1.0;                /* Gumbel temperature */
  std::vector<int> path;           /* NAS_MIX_PATH: 0-based choice per decision */
  at::Generator gen;               /* Gumbel noise (private: the global RNG is not drawn from) */
  std::vector<int> pick;           /* per forward: the one branch per decision, or -1 (all) */
  std::vector<at::Tensor> w;       /* per forward: weights per decision (softmax, sigmoid, hard Gumbel) */
  std::vector<char> need;          /* per forward: nodes to compute */
  std::vector<int> last_pick;      /* the picks of the last forward (GDAS: the sampled path) */
  void prepare_mix();

  /* The one walk: every live node (a supernet: every needed node) in order,
   * through its op's forward, with optional hooks (NULL: none). */
  at::Tensor run(const at::Tensor &x, const Hooks *h);
  at::Tensor forward(const at::Tensor &x) { return run(x, nullptr); }
};

inline const at::Tensor &Walk::in(const NodeSpec &s, size_t i) const { return net.vals[(size_t)s.in[i]]; }
inline bool Walk::training() const { return net.is_training(); }

template <class Holder> typename Holder::ContainedType *Build::add(const char *suffix, Holder m) {
  char name[64];
  snprintf(name, sizeof name, "n%d_%s", id, suffix);
  return net.register_module(name, std::move(m)).get();
}

/* Builds the module of a graph (ops.cpp); throws std::runtime_error naming
 * the node on a graph it cannot build. *flags: the OR of the live nodes' op
 * flags. */
std::shared_ptr<NasNet> build_net(const nas_graph *g, unsigned *flags);

/* The PyTorch source of a net (ops.cpp, through each op's emitter): one
 * torch.nn.Module named cls whose submodules carry the engine's names, so the
 * state dict of the nodes it computes loads into it. mean/std (empty: none;
 * 1 or C values) normalise the input first. Throws std::runtime_error naming
 * the node and op that cannot be exported. */
struct PySource {
  std::string code;                                         /* model.py */
  std::vector<char> nodes;                                  /* per node id: 1 when the source computes it */
  std::vector<std::pair<std::string, at::Tensor>> extra;    /* buffers beyond the submodules' */
};
PySource python_source(NasNet &net, const std::string &cls, const std::vector<float> &mean,
                       const std::vector<float> &stdev, const std::string &header);

} // namespace nas_torch

struct nas_model {
  nas_graph *g = nullptr;
  std::shared_ptr<nas_torch::NasNet> net;
  torch::Device device{torch::kCPU};
  std::string device_name{"cpu"};
  nas_memfmt requested = NAS_MEMFMT_AUTO;
  nas_memfmt current = NAS_MEMFMT_NCHW; /* never AUTO */
  bool resolved = false;                /* AUTO measured (or explicit) */
  bool has_conv = false, has_bn = false;
  int in_ndim = 0;
  int64_t in_dims[NAS_MAX_DIMS] = {0, 0, 0};
  int64_t in_size = 0;  /* floats per input sample */
  int out_ndim = 0;
  int64_t out_dims[NAS_MAX_DIMS] = {0, 0, 0};
  int64_t out_size = 0; /* floats per output sample */
  uint64_t seed = 0;
  ~nas_model() { nas_graph_free(g); }
};

namespace nas_torch {

/* Maps a caught c10::Error to a status (out-of-memory messages -> NAS_ENOMEM). */
nas_status torch_error(nas_error *err, const char *where, const c10::Error &e);

/* Converts the model's 4-d parameters to fmt (NCHW or CHANNELS_LAST), with
 * that format's strides set explicitly (also for C == 1, see model.cpp). */
void apply_memfmt(nas_model *m, nas_memfmt fmt);
/* t (4-d) with fmt's dense strides: t itself when it has them, else a copy. */
at::Tensor restride(const at::Tensor &t, nas_memfmt fmt);

/* Wraps n host samples (no copy on CPU), moves them to the model's device and
 * memory format. The host memory must stay valid while the result is used. */
at::Tensor input_tensor(nas_model *m, const float *x, int64_t n);
/* Moves a host batch {n, in_dims...} to the model's device (asynchronously
 * when it is pinned) and memory format. */
at::Tensor to_model(nas_model *m, at::Tensor x);

/* Sets every parameter's gradient to undefined (set_to_none semantics). */
inline void grads_to_none(const std::vector<at::Tensor> &params) {
  for (const auto &p : params) {
    if (p.grad().defined()) const_cast<at::Tensor &>(p).mutable_grad().reset();
  }
}

inline bool is_cuda(const nas_model *m) { return m->device.is_cuda(); }

} // namespace nas_torch

/* Every extern "C" entry point ends with this: no exception crosses the ABI. */
#define NAS_CATCH(err, where)                                                   \
  catch (const c10::Error &e) {                                                 \
    return nas_torch::torch_error((err), (where), e);                           \
  }                                                                             \
  catch (const std::bad_alloc &) {                                              \
    return nas_seterr((err), NAS_ENOMEM, "%s: out of memory", (where));         \
  }                                                                             \
  catch (const std::exception &e) {                                             \
    return nas_seterr((err), NAS_ETORCH, "%s: %s", (where), e.what());          \
  }                                                                             \
  catch (...) {                                                                 \
    return nas_seterr((err), NAS_ETORCH, "%s: unknown C++ exception", (where)); \
  }

#endif
