/* engine/torch/model.cpp — a libtorch module built from a nas_graph, behind
 * the C ABI of nas.h: build, forward, parameter count, latency, save/load,
 * device and engine-wide settings.
 *
 * Module layout (stable: save files and exported PyTorch code rely on it).
 * Node i gets submodules registered on the root module as
 *   conv               -> "n<i>_conv"  (Conv2d)
 *   sep_conv/dil_conv  -> "n<i>_dw" (depthwise Conv2d, groups=in, no bias)
 *                         "n<i>_pw" (pointwise 1x1 Conv2d, bias attr)
 *   linear             -> "n<i>_linear" (Linear)
 *   bn                 -> "n<i>_bn" (BatchNorm2d for {C,H,W}, BatchNorm1d for {F})
 * so tensors are named like "n3_conv.weight", "n5_bn.running_mean". Other ops
 * are parameter-free functions. "same" padding is dilation*(k-1)/2.
 * Mixed nodes (supernets) are mixed per the model's mix mode (nas.h,
 * "Supernets"); their architecture logits are not submodule parameters.
 *
 * Weights file format: the bytes of torch::pickle_save of a
 * Dict[str, Tensor] (parameters then buffers, contiguous NCHW, on CPU) — the
 * zip format of Python's torch.save, so `torch.load(path)` in Python returns
 * a state_dict for a PyTorch module with the same submodule names.
 */
#include "torch_impl.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>

using nas_torch::NasNet;
using nas_torch::NodeSpec;

namespace nas_torch {

nas_status torch_error(nas_error *err, const char *where, const c10::Error &e) {
  const char *msg = e.what_without_backtrace();
  std::string s = msg ? msg : "unknown libtorch error";
  /* keep the first line or two: libtorch messages can be long */
  if (s.size() > 400) s.resize(400);
  nas_status st = NAS_ETORCH;
  if (s.find("out of memory") != std::string::npos ||
      s.find("can't allocate memory") != std::string::npos)
    st = NAS_ENOMEM;
  return nas_seterr(err, st, "%s: %s", where, s.c_str());
}

/* The strides of a dense {N,C,H,W} tensor in fmt. Set explicitly rather than
 * through is_contiguous(fmt)/contiguous(fmt): a tensor with C == 1 (or
 * H == W == 1) counts as contiguous in both formats, so contiguous() returns
 * it unchanged with NCHW strides, and libtorch's convolution then treats it as
 * NCHW (it picks the format from the strides: suggest_memory_format). Python's
 * .to(memory_format=torch.channels_last) sets the strides explicitly too. */
static void fmt_strides(at::IntArrayRef sz, bool cl, int64_t st[4]) {
  const int64_t C = sz[1], H = sz[2], W = sz[3];
  if (cl) {
    st[0] = H * W * C; st[1] = 1; st[2] = W * C; st[3] = C;
  } else {
    st[0] = C * H * W; st[1] = H * W; st[2] = W; st[3] = 1;
  }
}

static bool has_strides(const at::Tensor &t, const int64_t st[4]) {
  const auto s = t.strides();
  return s[0] == st[0] && s[1] == st[1] && s[2] == st[2] && s[3] == st[3];
}

at::Tensor restride(const at::Tensor &t, nas_memfmt fmt) {
  if (t.dim() != 4) return t;
  const bool cl = fmt == NAS_MEMFMT_CHANNELS_LAST;
  int64_t st[4];
  fmt_strides(t.sizes(), cl, st);
  if (has_strides(t, st)) return t;
  return at::empty(t.sizes(), t.options().memory_format(cl ? at::MemoryFormat::ChannelsLast
                                                             : at::MemoryFormat::Contiguous))
      .copy_(t);
}

void apply_memfmt(nas_model *m, nas_memfmt fmt) {
  torch::NoGradGuard ng;
  for (auto &p : m->net->parameters()) {
    if (p.dim() != 4) continue;
    at::Tensor r = restride(p, fmt);
    if (!r.is_same(p)) p.set_data(r);
  }
  m->current = fmt;
}

at::Tensor to_model(nas_model *m, at::Tensor x) {
  if (m->device.is_cuda()) x = x.to(m->device, /*non_blocking=*/true);
  if (m->current == NAS_MEMFMT_CHANNELS_LAST && x.dim() == 4) {
    /* C == 1: the same bytes in both formats, only the strides change */
    if (x.size(1) == 1 && x.is_contiguous()) {
      int64_t st[4];
      fmt_strides(x.sizes(), true, st);
      return x.as_strided(x.sizes(), at::IntArrayRef(st, 4));
    }
    x = restride(x, NAS_MEMFMT_CHANNELS_LAST);
  }
  return x;
}

at::Tensor input_tensor(nas_model *m, const float *x, int64_t n) {
  int64_t sz[NAS_MAX_DIMS + 1] = {n, 0, 0, 0};
  for (int i = 0; i < m->in_ndim; i++) sz[i + 1] = m->in_dims[i];
  return to_model(m, torch::from_blob(const_cast<float *>(x), at::IntArrayRef(sz, m->in_ndim + 1),
                                      torch::kFloat32));
}

/* Per forward of a supernet: the weights or the one branch of every decision,
 * then the nodes to compute, from the output back (a mixed node with a picked
 * branch needs only that input; a zero node needs none: it takes its shape
 * from the IR). */
void NasNet::prepare_mix() {
  const int D = (int)alpha.size();
  pick.assign((size_t)D, -1);
  w.assign((size_t)D, at::Tensor());
  for (int d = 0; d < D; d++) {
    const at::Tensor &a = alpha[(size_t)d];
    switch (mix) {
    case NAS_MIX_SOFTMAX: w[(size_t)d] = torch::softmax(a, 0); break;
    case NAS_MIX_SIGMOID: w[(size_t)d] = torch::sigmoid(a); break;
    case NAS_MIX_PATH: pick[(size_t)d] = path[(size_t)d]; break;
    case NAS_MIX_FIXED: pick[(size_t)d] = (int)a.detach().argmax().item<int64_t>(); break;
    case NAS_MIX_GUMBEL: {
      at::Tensor u = torch::rand({a.size(0)}, gen, torch::kFloat32).clamp_(1e-10, 1.0 - 1e-7);
      at::Tensor g = -torch::log(-torch::log(u)).to(a.device());
      at::Tensor soft = torch::softmax((a + g) / tau, 0);
      const int64_t j = soft.detach().argmax().item<int64_t>();
      at::Tensor hard = torch::zeros_like(soft);
      hard.select(0, j).fill_(1.0);
      w[(size_t)d] = hard - soft.detach() + soft; /* straight-through */
      pick[(size_t)d] = (int)j;
      break;
    }
    }
  }
  last_pick = pick;
  const int n = (int)nodes.size();
  need.assign((size_t)n, 0);
  need[(size_t)output] = 1;
  need[0] = 1;
  for (int id = output; id >= 1; id--) {
    if (!need[(size_t)id]) continue;
    const NodeSpec &s = nodes[(size_t)id];
    if (s.op == NAS_OP_MIXED && pick[(size_t)s.decision] >= 0)
      need[(size_t)s.in[(size_t)pick[(size_t)s.decision]]] = 1;
    else if (s.op != NAS_OP_ZERO)
      for (int j : s.in) need[(size_t)j] = 1;
  }
}

at::Tensor NasNet::forward(const at::Tensor &x) {
  const int n = (int)nodes.size();
  if ((int)vals.size() != n) vals.assign(n, at::Tensor());
  if (has_mixed) prepare_mix();
  struct Clear { /* leaves no tensor behind, also when an op throws */
    std::vector<at::Tensor> &v;
    ~Clear() { for (auto &t : v) t.reset(); }
  } clear{vals};
  vals[0] = x;
  const int64_t N = x.size(0);
  for (int id = 1; id <= output; id++) {
    NodeSpec &s = nodes[id];
    if (has_mixed ? !need[(size_t)id] : !s.live) continue;
    const at::Tensor &a = vals[s.in[0]];
    at::Tensor r;
    switch (s.op) {
    case NAS_OP_CONV: r = s.conv->forward(a); break;
    case NAS_OP_SEP_CONV:
    case NAS_OP_DIL_CONV: r = s.pw->forward(s.conv->forward(a)); break;
    case NAS_OP_LINEAR: r = s.lin->forward(a); break;
    case NAS_OP_BN: r = s.ndim == 3 ? s.bn2->forward(a) : s.bn1->forward(a); break;
    case NAS_OP_RELU: r = torch::relu(a); break;
    case NAS_OP_RELU6: r = torch::hardtanh(a, 0.0, 6.0); break;
    case NAS_OP_SIGMOID: r = torch::sigmoid(a); break;
    case NAS_OP_HSWISH: r = torch::hardswish(a); break;
    case NAS_OP_MAXPOOL:
      r = torch::max_pool2d(a, {s.k, s.k}, {s.stride, s.stride}, {s.pad, s.pad});
      break;
    case NAS_OP_AVGPOOL:
      r = torch::avg_pool2d(a, {s.k, s.k}, {s.stride, s.stride}, {s.pad, s.pad},
                            /*ceil_mode=*/false, /*count_include_pad=*/false);
      break;
    case NAS_OP_GAP: r = a.mean({2, 3}); break;
    case NAS_OP_FLATTEN: r = a.flatten(1); break;
    case NAS_OP_DROPOUT: r = torch::dropout(a, s.p, is_training() && !no_dropout); break;
    case NAS_OP_IDENTITY: r = a; break;
    case NAS_OP_ZERO: {
      int64_t sz[NAS_MAX_DIMS + 1] = {N, 0, 0, 0};
      for (int i = 0; i < s.ndim; i++) sz[i + 1] = s.dims[i];
      const at::Tensor &ref = a.defined() ? a : x; /* a supernet skips a zero's input */
      auto opts = ref.options();
      if (s.ndim == 3 && ref.dim() == 4) opts = opts.memory_format(ref.suggest_memory_format());
      r = torch::zeros(at::IntArrayRef(sz, s.ndim + 1), opts);
      break;
    }
    case NAS_OP_ADD:
      r = a + vals[s.in[1]];
      for (size_t i = 2; i < s.in.size(); i++) r.add_(vals[s.in[i]]);
      break;
    case NAS_OP_CONCAT:
      tmp.clear();
      for (int j : s.in) tmp.push_back(vals[j]);
      r = torch::cat(at::TensorList(tmp.data(), tmp.size()), 1);
      tmp.clear();
      break;
    case NAS_OP_MUL: {
      const at::Tensor &b = vals[s.in[1]];
      if (a.dim() == 4 && b.dim() == 2)
        r = a * b.reshape({b.size(0), b.size(1), 1, 1});
      else
        r = a * b;
      break;
    }
    case NAS_OP_MIXED: {
      const int p = pick[(size_t)s.decision];
      const at::Tensor &wd = w[(size_t)s.decision];
      if (p >= 0 && !wd.defined()) {
        r = vals[s.in[(size_t)p]]; /* PATH, FIXED */
      } else if (p >= 0) { /* GUMBEL: h_p x_p + sum of the other h (0, with gradients) */
        r = vals[s.in[(size_t)p]] * wd[p] + (wd.sum() - wd[p]);
      } else { /* SOFTMAX, SIGMOID: zero candidates add nothing */
        for (size_t i = 0; i < s.in.size(); i++) {
          if (nodes[(size_t)s.in[i]].op == NAS_OP_ZERO) continue;
          at::Tensor t = vals[s.in[i]] * wd[(int64_t)i];
          r = r.defined() ? r + t : t;
        }
        if (!r.defined()) r = a * wd[0];
      }
      break;
    }
    default:
      throw std::runtime_error("node " + std::to_string(id) + ": op " +
                               std::to_string((int)s.op) + " has no libtorch builder");
    }
    vals[id] = std::move(r);
    for (int j : s.in)
      if (nodes[j].last_use == id && j != output) vals[j].reset();
  }
  return vals[output];
}

} // namespace nas_torch

namespace {

const char *op_str(nas_op op) {
  const char *s = nas_op_name(op);
  return s ? s : "?";
}

/* Builds the module for g; throws on error. */
std::shared_ptr<NasNet> build_net(const nas_graph *g, bool *has_conv, bool *has_bn) {
  auto net = std::make_shared<NasNet>();
  const int n = nas_graph_node_count(g);
  net->nodes.resize(n);
  net->output = nas_graph_output(g);
  *has_conv = *has_bn = false;
  for (int id = 0; id < n; id++) {
    NodeSpec &s = net->nodes[id];
    s.op = nas_graph_node_op(g, id);
    s.ndim = nas_graph_node_shape(g, id, s.dims);
    const int nin = nas_graph_node_ninputs(g, id);
    for (int i = 0; i < nin; i++) s.in.push_back(nas_graph_node_input(g, id, i));
  }
  /* liveness: nodes that reach the output */
  net->nodes[net->output].live = true;
  for (int id = net->output; id >= 1; id--)
    if (net->nodes[id].live)
      for (int j : net->nodes[id].in) net->nodes[j].live = true;
  net->nodes[0].live = true;
  for (int id = 1; id < n; id++)
    if (net->nodes[id].live)
      for (int j : net->nodes[id].in) net->nodes[j].last_use = id;

  char name[64];
  for (int id = 1; id < n; id++) {
    NodeSpec &s = net->nodes[id];
    if (s.in.empty()) throw std::runtime_error("node " + std::to_string(id) + " has no input");
    int64_t ind[NAS_MAX_DIMS] = {0, 0, 0};
    const int indim = nas_graph_node_shape(g, s.in[0], ind);
    auto I = [&](const char *key) { return nas_graph_node_int(g, id, key); };
    switch (s.op) {
    case NAS_OP_CONV: {
      const int64_t k = I("k"), dil = std::max<int64_t>(1, I("dilation"));
      int64_t pad = I("padding");
      if (pad < 0) pad = dil * (k - 1) / 2;
      snprintf(name, sizeof name, "n%d_conv", id);
      s.conv = net->register_module(
          name, torch::nn::Conv2d(torch::nn::Conv2dOptions(ind[0], I("out"), k)
                                      .stride(std::max<int64_t>(1, I("stride")))
                                      .padding(pad)
                                      .dilation(dil)
                                      .groups(std::max<int64_t>(1, I("groups")))
                                      .bias(I("bias") != 0)));
      if (s.live) *has_conv = true;
      break;
    }
    case NAS_OP_SEP_CONV:
    case NAS_OP_DIL_CONV: {
      const int64_t k = I("k");
      const int64_t dil = s.op == NAS_OP_DIL_CONV ? std::max<int64_t>(1, I("dilation")) : 1;
      int64_t pad = I("padding");
      if (pad < 0) pad = dil * (k - 1) / 2;
      const int64_t c = ind[0];
      snprintf(name, sizeof name, "n%d_dw", id);
      s.conv = net->register_module(
          name, torch::nn::Conv2d(torch::nn::Conv2dOptions(c, c, k)
                                      .stride(std::max<int64_t>(1, I("stride")))
                                      .padding(pad)
                                      .dilation(dil)
                                      .groups(c)
                                      .bias(false)));
      snprintf(name, sizeof name, "n%d_pw", id);
      s.pw = net->register_module(
          name, torch::nn::Conv2d(torch::nn::Conv2dOptions(c, I("out"), 1).bias(I("bias") != 0)));
      if (s.live) *has_conv = true;
      break;
    }
    case NAS_OP_LINEAR:
      snprintf(name, sizeof name, "n%d_linear", id);
      s.lin = net->register_module(
          name, torch::nn::Linear(torch::nn::LinearOptions(ind[0], I("out")).bias(I("bias") != 0)));
      break;
    case NAS_OP_BN: {
      const double eps = nas_graph_node_float(g, id, "eps");
      const double mom = nas_graph_node_float(g, id, "momentum");
      const bool affine = I("affine") != 0;
      snprintf(name, sizeof name, "n%d_bn", id);
      if (indim == 3)
        s.bn2 = net->register_module(
            name, torch::nn::BatchNorm2d(
                      torch::nn::BatchNorm2dOptions(ind[0]).eps(eps).momentum(mom).affine(affine)));
      else
        s.bn1 = net->register_module(
            name, torch::nn::BatchNorm1d(
                      torch::nn::BatchNorm1dOptions(ind[0]).eps(eps).momentum(mom).affine(affine)));
      if (s.live) *has_bn = true;
      break;
    }
    case NAS_OP_MAXPOOL:
    case NAS_OP_AVGPOOL:
      s.k = I("k");
      s.stride = I("stride");
      if (s.stride <= 0) s.stride = s.k;
      s.pad = I("padding");
      if (s.pad < 0) s.pad = (s.k - 1) / 2; /* "same" */
      break;
    case NAS_OP_DROPOUT: s.p = nas_graph_node_float(g, id, "p"); break;
    case NAS_OP_MUL:
    case NAS_OP_ADD:
    case NAS_OP_CONCAT:
      if (s.in.size() < 2)
        throw std::runtime_error("node " + std::to_string(id) + " (" + op_str(s.op) +
                                 "): needs 2+ inputs");
      break;
    case NAS_OP_MIXED: {
      const int64_t d = I("decision");
      if (d < 0 || d > 100000)
        throw std::runtime_error("node " + std::to_string(id) + " (mixed): bad decision " + std::to_string(d));
      s.decision = (int)d;
      net->has_mixed = true;
      if ((int64_t)net->dsize.size() <= d) net->dsize.resize((size_t)d + 1, 0);
      int &sz = net->dsize[(size_t)d];
      if (sz != 0 && sz != (int)s.in.size())
        throw std::runtime_error("node " + std::to_string(id) + " (mixed): decision " + std::to_string(d) +
                                 " has " + std::to_string(s.in.size()) + " candidates here but " +
                                 std::to_string(sz) + " at another mixed node");
      sz = (int)s.in.size();
      break;
    }
    case NAS_OP_RELU: case NAS_OP_RELU6: case NAS_OP_SIGMOID: case NAS_OP_HSWISH:
    case NAS_OP_GAP: case NAS_OP_FLATTEN: case NAS_OP_IDENTITY: case NAS_OP_ZERO:
      break;
    default:
      throw std::runtime_error("node " + std::to_string(id) + " (" + op_str(s.op) +
                               "): no libtorch builder for this op");
    }
  }
  for (size_t d = 0; d < net->dsize.size(); d++)
    if (net->dsize[d] == 0)
      throw std::runtime_error("decision " + std::to_string(d) + " has no mixed node: decisions must be numbered "
                               "0.." + std::to_string(net->dsize.size() - 1) + " without gaps");
  return net;
}

/* The architecture logits (after the module moved to its device). */
void init_arch(nas_model *m) {
  NasNet &net = *m->net;
  if (!net.has_mixed) return;
  at::Generator g = at::detail::createCPUGenerator(m->seed ^ 0x61726368ULL /* "arch" */);
  net.alpha.clear();
  for (int k : net.dsize)
    net.alpha.push_back((1e-3 * torch::randn({k}, g, torch::kFloat32)).to(m->device).requires_grad_(true));
  net.path.assign(net.dsize.size(), 0);
  net.gen = at::detail::createCPUGenerator(m->seed ^ 0x67756d62ULL /* "gumb" */);
}

int64_t prod(const int64_t *d, int n) {
  int64_t p = 1;
  for (int i = 0; i < n; i++) p *= d[i];
  return p;
}

/* Parses "cpu", "cuda", "cuda:N" into m->device; NAS_EDEVICE when CUDA is missing. */
nas_status parse_device(nas_model *m, const char *dev, nas_error *err) {
  if (!dev || !*dev || strcmp(dev, "cpu") == 0) {
    m->device = torch::Device(torch::kCPU);
    m->device_name = "cpu";
    return NAS_OK;
  }
  if (strncmp(dev, "cuda", 4) == 0 && (dev[4] == '\0' || dev[4] == ':')) {
    long idx = 0;
    if (dev[4] == ':') {
      char *end = nullptr;
      errno = 0;
      idx = strtol(dev + 5, &end, 10);
      if (end == dev + 5 || *end || idx < 0 || errno)
        return nas_seterr(err, NAS_EINVAL, "bad device '%s': use \"cpu\", \"cuda\" or \"cuda:N\"", dev);
    }
    if (!torch::cuda::is_available())
      return nas_seterr(err, NAS_EDEVICE,
                        "device '%s' requested, but this libtorch (%s) has no CUDA support or sees "
                        "no GPU: build nasrun against a CUDA libtorch (cmake -DCMAKE_PREFIX_PATH=...)",
                        dev, nas_torch_version());
    const long count = (long)torch::cuda::device_count();
    if (idx >= count)
      return nas_seterr(err, NAS_EDEVICE, "device '%s' requested, but only %ld CUDA device(s) are visible",
                        dev, count);
    m->device = torch::Device(torch::kCUDA, (c10::DeviceIndex)idx);
    m->device_name = "cuda:" + std::to_string(idx);
    return NAS_OK;
  }
  return nas_seterr(err, NAS_EINVAL, "bad device '%s': use \"cpu\", \"cuda\" or \"cuda:N\"", dev);
}

/* Restores the intra-op thread count on scope exit. */
struct ThreadScope {
  int saved = 0;
  explicit ThreadScope(int n) {
    if (n > 0) {
      saved = at::get_num_threads();
      at::set_num_threads(n);
    }
  }
  ~ThreadScope() {
    if (saved > 0) at::set_num_threads(saved);
  }
};

/* Sets train/eval mode for a scope and restores the previous one. */
struct ModeScope {
  NasNet &net;
  bool was;
  ModeScope(NasNet &n, bool train) : net(n), was(n.is_training()) { net.train(train); }
  ~ModeScope() { net.train(was); }
};

std::string shape_str(const at::IntArrayRef &s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); i++) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

} // namespace

extern "C" {

nas_model_opts nas_model_opts_default(void) noexcept {
  nas_model_opts o;
  o.seed = 0;
  o.device = nullptr;
  o.memfmt = NAS_MEMFMT_AUTO;
  return o;
}

nas_status nas_model_new(const nas_graph *g, const nas_model_opts *o, nas_model **out,
                         nas_error *err) noexcept {
  nas_clearerr(err);
  if (out) *out = nullptr;
  if (!g || !out) return nas_seterr(err, NAS_EINVAL, "nas_model_new: graph and out must not be NULL");
  std::unique_ptr<nas_model> m;
  try {
    const nas_model_opts def = nas_model_opts_default();
    if (!o) o = &def;
    if (o->memfmt < NAS_MEMFMT_AUTO || o->memfmt > NAS_MEMFMT_CHANNELS_LAST)
      return nas_seterr(err, NAS_EINVAL, "nas_model_new: bad memfmt %d", (int)o->memfmt);
    m.reset(new nas_model());
    nas_status st = parse_device(m.get(), o->device, err);
    if (st != NAS_OK) return st;
    m->g = nas_graph_clone(g);
    if (!m->g) return nas_seterr(err, NAS_ENOMEM, "nas_model_new: out of memory copying the graph");
    m->seed = o->seed;
    m->in_ndim = nas_graph_node_shape(m->g, 0, m->in_dims);
    m->in_size = prod(m->in_dims, m->in_ndim);
    m->out_ndim = nas_graph_node_shape(m->g, nas_graph_output(m->g), m->out_dims);
    m->out_size = prod(m->out_dims, m->out_ndim);
    torch::manual_seed(o->seed);
    try {
      m->net = build_net(m->g, &m->has_conv, &m->has_bn);
    } catch (const std::runtime_error &e) {
      return nas_seterr(err, NAS_EGRAPH, "nas_model_new: %s", e.what());
    }
    if (m->device.is_cuda()) m->net->to(m->device);
    init_arch(m.get());
    m->net->train(true);
    m->requested = o->memfmt;
    m->current = NAS_MEMFMT_NCHW;
    if (o->memfmt == NAS_MEMFMT_CHANNELS_LAST) {
      nas_torch::apply_memfmt(m.get(), NAS_MEMFMT_CHANNELS_LAST);
      m->resolved = true;
    } else if (o->memfmt == NAS_MEMFMT_NCHW || !m->has_conv) {
      m->resolved = true;
    }
    *out = m.release();
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_new")
}

void nas_model_free(nas_model *m) noexcept { delete m; }

int64_t nas_model_param_count(const nas_model *m) noexcept {
  if (!m) return -1;
  try {
    int64_t n = 0;
    for (const auto &p : m->net->parameters())
      if (p.requires_grad()) n += p.numel();
    return n;
  } catch (...) {
    return -1;
  }
}

const char *nas_model_device(const nas_model *m) noexcept { return m ? m->device_name.c_str() : "cpu"; }

nas_memfmt nas_model_memfmt(const nas_model *m) noexcept { return m ? m->current : NAS_MEMFMT_NCHW; }

nas_status nas_model_forward(nas_model *m, const float *x, int n, float *out, nas_error *err) noexcept {
  nas_clearerr(err);
  if (!m || !x || !out || n <= 0)
    return nas_seterr(err, NAS_EINVAL, "nas_model_forward: need a model, x, out and n > 0 (n = %d)", n);
  try {
    ModeScope mode(*m->net, false);
    torch::NoGradGuard ng;
    at::Tensor y = m->net->forward(nas_torch::input_tensor(m, x, n));
    y = y.reshape({n, -1}).to(torch::kCPU, torch::kFloat32).contiguous();
    if (y.size(1) != m->out_size)
      return nas_seterr(err, NAS_ETORCH, "nas_model_forward: output has %lld floats per sample, graph says %lld",
                        (long long)y.size(1), (long long)m->out_size);
    memcpy(out, y.data_ptr<float>(), sizeof(float) * (size_t)n * (size_t)m->out_size);
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_forward")
}

nas_status nas_model_latency(nas_model *m, const nas_latency_opts *o, nas_latency_result *r,
                             nas_error *err) noexcept {
  nas_clearerr(err);
  if (!m || !o || !r) return nas_seterr(err, NAS_EINVAL, "nas_model_latency: NULL argument");
  memset(r, 0, sizeof *r);
  if (o->batch <= 0 || o->runs <= 0 || o->warmup < 0)
    return nas_seterr(err, NAS_EINVAL, "nas_model_latency: need batch > 0, runs > 0, warmup >= 0 (got %d, %d, %d)",
                      o->batch, o->runs, o->warmup);
  try {
    ThreadScope threads(o->threads);
    ModeScope mode(*m->net, false);
    torch::NoGradGuard ng;
    const bool cuda = nas_torch::is_cuda(m);
    /* a private generator: the global RNG (dropout, training) stays untouched */
    at::Generator gen = at::detail::createCPUGenerator(0x5eed);
    std::vector<int64_t> sz{o->batch};
    for (int i = 0; i < m->in_ndim; i++) sz.push_back(m->in_dims[i]);
    at::Tensor x = torch::randn(sz, gen, torch::kFloat32);
    x = nas_torch::to_model(m, x);
    for (int i = 0; i < o->warmup; i++) {
      if (nas_interrupted()) return nas_seterr(err, NAS_EINTERRUPT, "latency measurement interrupted");
      m->net->forward(x);
    }
    if (cuda) torch::cuda::synchronize();
    std::vector<double> ms((size_t)o->runs);
    for (int i = 0; i < o->runs; i++) {
      if (nas_interrupted()) return nas_seterr(err, NAS_EINTERRUPT, "latency measurement interrupted");
      if (cuda) torch::cuda::synchronize();
      auto t0 = std::chrono::steady_clock::now();
      at::Tensor y = m->net->forward(x);
      if (cuda) torch::cuda::synchronize();
      auto t1 = std::chrono::steady_clock::now();
      ms[(size_t)i] = std::chrono::duration<double, std::milli>(t1 - t0).count();
    }
    double sum = 0;
    for (double v : ms) sum += v;
    std::sort(ms.begin(), ms.end());
    const size_t nr = ms.size();
    auto pct = [&](double q) { /* nearest-rank percentile */
      size_t idx = (size_t)std::ceil(q * (double)nr);
      if (idx < 1) idx = 1;
      if (idx > nr) idx = nr;
      return ms[idx - 1];
    };
    r->min_ms = ms[0];
    r->median_ms = nr % 2 ? ms[nr / 2] : 0.5 * (ms[nr / 2 - 1] + ms[nr / 2]);
    r->p90_ms = std::max(pct(0.9), r->median_ms);
    r->mean_ms = sum / (double)nr;
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_latency")
}

nas_status nas_model_save(nas_model *m, const char *path, nas_error *err) noexcept {
  nas_clearerr(err);
  if (!m || !path) return nas_seterr(err, NAS_EINVAL, "nas_model_save: NULL argument");
  try {
    c10::Dict<std::string, at::Tensor> dict;
    for (const auto &p : m->net->named_parameters(true))
      dict.insert(p.key(), p.value().detach().to(torch::kCPU).contiguous());
    for (const auto &b : m->net->named_buffers(true))
      dict.insert(b.key(), b.value().detach().to(torch::kCPU).contiguous());
    std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
    FILE *f = fopen(path, "wb");
    if (!f) return nas_seterr(err, NAS_EIO, "cannot write weights to '%s': %s", path, strerror(errno));
    size_t w = fwrite(bytes.data(), 1, bytes.size(), f);
    int e = errno;
    if (fclose(f) != 0 && w == bytes.size()) {
      e = errno;
      w = 0;
    }
    if (w != bytes.size())
      return nas_seterr(err, NAS_EIO, "cannot write weights to '%s': %s", path, strerror(e));
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_save")
}

nas_status nas_model_load(nas_model *m, const char *path, nas_error *err) noexcept {
  nas_clearerr(err);
  if (!m || !path) return nas_seterr(err, NAS_EINVAL, "nas_model_load: NULL argument");
  try {
    FILE *f = fopen(path, "rb");
    if (!f) return nas_seterr(err, NAS_EIO, "cannot read weights '%s': %s", path, strerror(errno));
    std::vector<char> bytes;
    char buf[1 << 16];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + r);
    const bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) return nas_seterr(err, NAS_EIO, "cannot read weights '%s': read error", path);
    c10::IValue iv;
    try {
      iv = torch::pickle_load(bytes);
    } catch (const c10::Error &e) {
      std::string s = e.what_without_backtrace();
      if (s.size() > 200) s.resize(200);
      return nas_seterr(err, NAS_EIO, "'%s' is not a nasrun weights file (corrupt or truncated?): %s", path,
                        s.c_str());
    }
    if (!iv.isGenericDict())
      return nas_seterr(err, NAS_EIO, "'%s' is not a nasrun weights file: expected a dict of tensors", path);
    std::unordered_map<std::string, at::Tensor> file;
    for (const auto &kv : iv.toGenericDict()) {
      if (!kv.key().isString() || !kv.value().isTensor())
        return nas_seterr(err, NAS_EIO, "'%s' is not a nasrun weights file: expected a dict of tensors", path);
      file.emplace(kv.key().toStringRef(), kv.value().toTensor());
    }
    /* check everything first, then copy: a failed load leaves the model as it was */
    std::vector<std::pair<at::Tensor, at::Tensor>> todo;
    auto check = [&](const std::string &name, const at::Tensor &t) -> nas_status {
      auto it = file.find(name);
      if (it == file.end())
        return nas_seterr(err, NAS_EINVAL, "weights '%s' do not fit the model: tensor '%s' %s is missing from the file",
                          path, name.c_str(), shape_str(t.sizes()).c_str());
      if (it->second.sizes() != t.sizes())
        return nas_seterr(err, NAS_EINVAL,
                          "weights '%s' do not fit the model: tensor '%s' has shape %s in the file, the model needs %s",
                          path, name.c_str(), shape_str(it->second.sizes()).c_str(), shape_str(t.sizes()).c_str());
      todo.emplace_back(t, it->second);
      file.erase(it);
      return NAS_OK;
    };
    for (const auto &p : m->net->named_parameters(true)) {
      nas_status st = check(p.key(), p.value());
      if (st != NAS_OK) return st;
    }
    for (const auto &b : m->net->named_buffers(true)) {
      nas_status st = check(b.key(), b.value());
      if (st != NAS_OK) return st;
    }
    if (!file.empty())
      return nas_seterr(err, NAS_EINVAL, "weights '%s' do not fit the model: the file has tensor '%s' %s the model lacks",
                        path, file.begin()->first.c_str(), shape_str(file.begin()->second.sizes()).c_str());
    torch::NoGradGuard ng;
    for (auto &pr : todo) pr.first.copy_(pr.second);
    return NAS_OK;
  }
  NAS_CATCH(err, "nas_model_load")
}

void nas_set_threads(int n) noexcept {
  if (n <= 0) return;
  try {
    at::set_num_threads(n);
  } catch (...) {
  }
}

int nas_get_threads(void) noexcept {
  try {
    return at::get_num_threads();
  } catch (...) {
    return 1;
  }
}

int nas_cuda_available(void) noexcept {
  try {
    return torch::cuda::is_available() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int nas_cuda_device_count(void) noexcept {
  try {
    return torch::cuda::is_available() ? (int)torch::cuda::device_count() : 0;
  } catch (...) {
    return 0;
  }
}

const char *nas_torch_version(void) noexcept {
#define NAS_STR2(x) #x
#define NAS_STR(x) NAS_STR2(x)
  return NAS_STR(TORCH_VERSION_MAJOR) "." NAS_STR(TORCH_VERSION_MINOR) "." NAS_STR(TORCH_VERSION_PATCH);
}

} // extern "C"
