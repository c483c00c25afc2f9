/* Private C++ declarations shared by engine/torch/model.cpp and train.cpp.
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

/* One graph node as the module runs it. Submodules (registered on the NasNet
 * under stable names, see model.cpp) live in the typed holders. */
struct NodeSpec {
  nas_op op = NAS_OP_IDENTITY;
  std::vector<int> in;
  int64_t k = 0, stride = 1, pad = 0;
  double p = 0.0;
  int ndim = 0;
  int64_t dims[NAS_MAX_DIMS] = {0, 0, 0}; /* per-sample output shape */
  bool live = false;                      /* reaches the output */
  int last_use = -1;                      /* id of the last live consumer */
  int decision = -1;                      /* mixed: its decision's index */
  torch::nn::Conv2d conv{nullptr};        /* conv, or the depthwise half */
  torch::nn::Conv2d pw{nullptr};          /* pointwise half of sep/dil conv */
  torch::nn::Linear lin{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr};
  torch::nn::BatchNorm1d bn1{nullptr};
};

struct NasNet : torch::nn::Module {
  std::vector<NodeSpec> nodes;
  int output = 0;
  bool no_dropout = false;       /* memory-format timing runs: keep the RNG untouched */
  std::vector<at::Tensor> vals;  /* per-node outputs, reused across calls */
  std::vector<at::Tensor> tmp;   /* concat scratch */

  /* Supernet (graphs with mixed nodes; model.cpp runs them, supernet.cpp
   * holds the API). The architecture logits are plain tensors, not registered
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

  at::Tensor forward(const at::Tensor &x);
};

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
