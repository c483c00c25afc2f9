/* engine/torch/proxy.cpp — zero-cost proxies (nas_model_proxy, nas.h): scores
 * of an untrained model from one batch, as defined by SamsungLabs/zero-cost-nas
 * (foresight/pruners/measures: synflow, grad_norm, snip, fisher, jacob_cov) and
 * Mellor et al. 2021 (NASWOT).
 *
 * The proxies need what a module forward does not give: hooks on ReLU inputs
 * (naswot) and on conv/linear outputs (fisher), batch norm removed (synflow)
 * or in batch-statistics mode without touching the running statistics, and
 * float64 absolute-value copies of the weights (synflow). So this file walks
 * the model's graph itself (NasNet::nodes, the same order and liveness as
 * NasNet::forward) with functional ops over the model's registered submodules'
 * tensors. It never writes to them: every proxy works on detached aliases or
 * copies, and autograd::grad returns gradients instead of accumulating them
 * into .grad, so weights, buffers, gradients, train/eval mode and the RNG
 * streams are all as they were.
 */
#include "torch_impl.h"

#include <cmath>
#include <functional>

using nas_torch::NasNet;
using nas_torch::NodeSpec;
namespace F = torch::nn::functional;

namespace {

enum Proxy { P_SYNFLOW, P_NASWOT, P_GRAD_NORM, P_SNIP, P_FISHER, P_JACOB_COV, P_PARAMS, P_FLOPS, P_COUNT };
const char *const kNames[P_COUNT] = {"synflow", "naswot",    "grad_norm", "snip",
                                     "fisher",  "jacob_cov", "params",    "flops"};
const bool kLabels[P_COUNT] = {false, false, true, true, true, false, false, false};

int lookup(const char *name) {
  if (!name) return -1;
  for (int i = 0; i < P_COUNT; i++)
    if (strcmp(name, kNames[i]) == 0) return i;
  return -1;
}

/* A conv or linear layer's tensors as the walk uses them. */
struct Layer {
  at::Tensor w, b;
};

/* Per node: the tensors of its submodules (a: conv / depthwise / linear,
 * pw: pointwise half, bn: affine weight and bias). */
struct NodeW {
  Layer a, pw;
  at::Tensor bnw, bnb;
  double eps = 1e-5;
};

/* How to derive the walk's tensors from the model's parameters. */
enum class Weights {
  Alias,      /* detached aliases, no grad */
  AliasGrad,  /* detached aliases of conv/linear weights that require grad (leaves) */
  AbsDouble   /* float64 copies of |theta|; conv/linear weights require grad */
};

at::Tensor derive(const at::Tensor &p, Weights how, bool layer_weight) {
  if (!p.defined()) return p;
  at::Tensor t = p.detach();
  if (how == Weights::AbsDouble) t = t.abs().to(torch::kFloat64);
  if (layer_weight && how != Weights::Alias) t.requires_grad_(true); /* a fresh leaf */
  return t;
}

std::vector<NodeW> weights_of(const NasNet &net, Weights how, std::vector<at::Tensor> *leaves) {
  std::vector<NodeW> P(net.nodes.size());
  for (size_t id = 1; id < net.nodes.size(); id++) {
    const NodeSpec &s = net.nodes[id];
    NodeW &w = P[id];
    auto layer = [&](Layer &L, const at::Tensor &wt, const at::Tensor &bt) {
      L.w = derive(wt, how, true);
      L.b = derive(bt, how, false);
      if (leaves && s.live) leaves->push_back(L.w);
    };
    switch (s.op) {
    case NAS_OP_CONV: layer(w.a, s.conv->weight, s.conv->bias); break;
    case NAS_OP_SEP_CONV:
    case NAS_OP_DIL_CONV:
      layer(w.a, s.conv->weight, s.conv->bias);
      layer(w.pw, s.pw->weight, s.pw->bias);
      break;
    case NAS_OP_LINEAR: layer(w.a, s.lin->weight, s.lin->bias); break;
    case NAS_OP_BN:
      if (s.ndim == 3) {
        w.bnw = derive(s.bn2->weight, how, false);
        w.bnb = derive(s.bn2->bias, how, false);
        w.eps = s.bn2->options.eps();
      } else {
        w.bnw = derive(s.bn1->weight, how, false);
        w.bnb = derive(s.bn1->bias, how, false);
        w.eps = s.bn1->options.eps();
      }
      break;
    default: break;
    }
  }
  return P;
}

/* What the walk reports. */
struct Hooks {
  std::function<void(const at::Tensor &)> relu_input; /* naswot */
  std::vector<at::Tensor> *layer_outputs = nullptr;  /* fisher */
};

at::Tensor conv(const at::Tensor &x, const Layer &L, const torch::nn::detail::ConvNdOptions<2> &o) {
  return F::conv2d(x, L.w, F::Conv2dFuncOptions()
                               .bias(L.b)
                               .stride(o.stride())
                               .padding(o.padding())
                               .dilation(o.dilation())
                               .groups(o.groups()));
}

/* The model's function, node by node as NasNet::forward, over the tensors P.
 * bn: true = normalise with the batch statistics, false = identity. */
at::Tensor walk(const NasNet &net, const std::vector<NodeW> &P, const at::Tensor &x, bool bn,
                const Hooks &h) {
  const int n = (int)net.nodes.size();
  std::vector<at::Tensor> v((size_t)n);
  v[0] = x;
  const int64_t N = x.size(0);
  auto keep = [&](const at::Tensor &t) {
    if (h.layer_outputs) h.layer_outputs->push_back(t);
    return t;
  };
  for (int id = 1; id <= net.output; id++) {
    const NodeSpec &s = net.nodes[id];
    if (!s.live) continue;
    const NodeW &w = P[id];
    const at::Tensor &a = v[s.in[0]];
    at::Tensor r;
    switch (s.op) {
    case NAS_OP_CONV: r = keep(conv(a, w.a, s.conv->options)); break;
    case NAS_OP_SEP_CONV:
    case NAS_OP_DIL_CONV:
      r = keep(conv(keep(conv(a, w.a, s.conv->options)), w.pw, s.pw->options));
      break;
    case NAS_OP_LINEAR: r = keep(torch::linear(a, w.a.w, w.a.b)); break;
    case NAS_OP_BN:
      r = bn ? torch::batch_norm(a, w.bnw, w.bnb, at::Tensor(), at::Tensor(), /*training=*/true,
                                 0.0, w.eps, /*cudnn_enabled=*/true)
             : a;
      break;
    case NAS_OP_RELU:
      if (h.relu_input) h.relu_input(a);
      r = torch::relu(a);
      break;
    case NAS_OP_RELU6:
      if (h.relu_input) h.relu_input(a);
      r = torch::hardtanh(a, 0.0, 6.0);
      break;
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
    case NAS_OP_DROPOUT: /* identity: deterministic, and no RNG draw */
    case NAS_OP_IDENTITY: r = a; break;
    case NAS_OP_ZERO: {
      int64_t sz[NAS_MAX_DIMS + 1] = {N, 0, 0, 0};
      for (int i = 0; i < s.ndim; i++) sz[i + 1] = s.dims[i];
      r = torch::zeros(at::IntArrayRef(sz, s.ndim + 1), a.options());
      break;
    }
    case NAS_OP_ADD:
      r = a + v[s.in[1]];
      for (size_t i = 2; i < s.in.size(); i++) r = r + v[s.in[i]];
      break;
    case NAS_OP_CONCAT: {
      std::vector<at::Tensor> parts;
      for (int j : s.in) parts.push_back(v[j]);
      r = torch::cat(parts, 1);
      break;
    }
    case NAS_OP_MUL: {
      const at::Tensor &b = v[s.in[1]];
      r = (a.dim() == 4 && b.dim() == 2) ? a * b.reshape({b.size(0), b.size(1), 1, 1}) : a * b;
      break;
    }
    default:
      throw std::runtime_error("node " + std::to_string(id) + ": op " + std::to_string((int)s.op) +
                               " is not supported by the proxies");
    }
    v[id] = std::move(r);
    for (int j : s.in)
      if (net.nodes[j].last_use == id && j != net.output) v[j].reset();
  }
  return v[net.output];
}

/* Sum of |a * b| over pairs, in float64. */
double sum_abs_prod(const std::vector<at::Tensor> &a, const std::vector<at::Tensor> &g) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); i++)
    if (g[i].defined()) s += (a[i].detach() * g[i]).abs().sum().item<double>();
  return s;
}

/* Gradients of out w.r.t. ts (undefined where out does not depend on one). */
std::vector<at::Tensor> grads(const at::Tensor &out, const std::vector<at::Tensor> &ts) {
  if (!out.requires_grad()) return std::vector<at::Tensor>(ts.size());
  return torch::autograd::grad({out}, ts, {}, /*retain_graph=*/false, /*create_graph=*/false,
                               /*allow_unused=*/true);
}

double synflow(nas_model *m) {
  const NasNet &net = *m->net;
  std::vector<at::Tensor> ws;
  auto P = weights_of(net, Weights::AbsDouble, &ws);
  std::vector<int64_t> sz{1};
  for (int i = 0; i < m->in_ndim; i++) sz.push_back(m->in_dims[i]);
  at::Tensor ones = torch::ones(sz, torch::TensorOptions().dtype(torch::kFloat64).device(m->device));
  at::Tensor R = walk(net, P, ones, /*bn=*/false, Hooks{}).sum();
  return sum_abs_prod(ws, grads(R, ws));
}

double naswot(nas_model *m, const at::Tensor &x, int n) {
  torch::NoGradGuard ng;
  auto P = weights_of(*m->net, Weights::Alias, nullptr);
  at::Tensor K = torch::zeros({n, n}, torch::TensorOptions().dtype(torch::kFloat64).device(m->device));
  int hooked = 0;
  Hooks h;
  h.relu_input = [&](const at::Tensor &a) {
    at::Tensor c = (a > 0).reshape({n, -1}).to(torch::kFloat64);
    at::Tensor d = 1.0 - c;
    K.add_(c.mm(c.t())).add_(d.mm(d.t()));
    hooked++;
  };
  walk(*m->net, P, x, /*bn=*/true, h);
  if (!hooked) throw std::invalid_argument("naswot needs relu or relu6 nodes, the graph has none");
  return std::get<1>(torch::slogdet(K)).item<double>();
}

at::Tensor loss_of(const at::Tensor &out, const at::Tensor &y, int n) {
  return torch::cross_entropy_loss(out.reshape({n, -1}), y);
}

double grad_based(nas_model *m, int which, const at::Tensor &x, const at::Tensor &y, int n) {
  const NasNet &net = *m->net;
  std::vector<at::Tensor> ws, acts;
  auto P = weights_of(net, Weights::AliasGrad, &ws);
  Hooks h;
  if (which == P_FISHER) h.layer_outputs = &acts;
  at::Tensor L = loss_of(walk(net, P, x, /*bn=*/true, h), y, n);
  if (which == P_FISHER) {
    auto g = grads(L, acts);
    double s = 0.0;
    for (size_t i = 0; i < acts.size(); i++) {
      if (!g[i].defined()) continue;
      at::Tensor a = acts[i].detach().to(torch::kFloat64), gi = g[i].to(torch::kFloat64);
      at::Tensor gnk = a * gi;
      if (gnk.dim() > 2) gnk = gnk.flatten(2).sum(2);
      s += gnk.pow(2).mean(0).mul(0.5).sum().item<double>();
    }
    return s;
  }
  auto g = grads(L, ws);
  if (which == P_SNIP) return sum_abs_prod(ws, g);
  double s = 0.0; /* grad_norm */
  for (const auto &gi : g)
    if (gi.defined()) s += gi.to(torch::kFloat64).norm().item<double>();
  return s;
}

double jacob_cov(nas_model *m, const at::Tensor &x0, int n) {
  const NasNet &net = *m->net;
  auto P = weights_of(net, Weights::Alias, nullptr);
  at::Tensor x = x0.detach().clone().requires_grad_(true);
  at::Tensor out = walk(net, P, x, /*bn=*/true, Hooks{});
  auto g = grads(out.sum(), {x});
  at::Tensor J = g[0].defined() ? g[0].reshape({n, -1}).to(torch::kFloat64)
                                : torch::zeros({n, x[0].numel()}, x.options().dtype(torch::kFloat64));
  /* np.corrcoef(J): correlation of the rows, clipped to [-1, 1] */
  at::Tensor c = J - J.mean(1, true);
  at::Tensor cov = c.mm(c.t());
  at::Tensor d = cov.diagonal().sqrt();
  at::Tensor corr = (cov / d.unsqueeze(1) / d.unsqueeze(0)).clamp(-1.0, 1.0);
  if (!std::isfinite(corr.sum().item<double>())) return std::nan("");
  at::Tensor v = torch::linalg_eigvalsh(corr, "L");
  const double k = 1e-5;
  return -((v + k).log() + 1.0 / (v + k)).sum().item<double>();
}

} // namespace

extern "C" {

int nas_proxy_count(void) noexcept { return P_COUNT; }

const char *nas_proxy_name(int i) noexcept { return i >= 0 && i < P_COUNT ? kNames[i] : nullptr; }

int nas_proxy_uses_labels(const char *name) noexcept {
  const int p = lookup(name);
  return p < 0 ? -1 : kLabels[p] ? 1 : 0;
}

nas_status nas_model_proxy(nas_model *m, const char *name, const float *x, const int64_t *y, int n,
                           double *score, nas_error *err) noexcept {
  static const char *W = "nas_model_proxy";
  nas_clearerr(err);
  if (!m || !name || !score) return nas_seterr(err, NAS_EINVAL, "%s: model, name and score must not be NULL", W);
  *score = std::nan("");
  const int p = lookup(name);
  if (p < 0) {
    std::string all;
    for (int i = 0; i < P_COUNT; i++) all += std::string(i ? ", " : "") + kNames[i];
    return nas_seterr(err, NAS_EINVAL, "%s: unknown proxy '%s' (known: %s)", W, name, all.c_str());
  }
  if (p == P_PARAMS) return *score = (double)nas_graph_params(m->g), NAS_OK;
  if (p == P_FLOPS) return *score = (double)nas_graph_flops(m->g), NAS_OK;
  const bool needs_x = p != P_SYNFLOW;
  if (needs_x && (!x || n < 1))
    return nas_seterr(err, NAS_EINVAL, "%s: %s needs a batch: x and n >= 1 (n = %d)", W, name, n);
  if (kLabels[p]) {
    if (!y) return nas_seterr(err, NAS_EINVAL, "%s: %s needs labels y", W, name);
    if (m->out_ndim != 1)
      return nas_seterr(err, NAS_EINVAL, "%s: %s needs a {F} output (class scores), the graph's has %d dims", W,
                        name, m->out_ndim);
    for (int i = 0; i < n; i++)
      if (y[i] < 0 || y[i] >= m->out_size)
        return nas_seterr(err, NAS_EINVAL, "%s: label %d is %lld, needs 0..%lld (the output size - 1)", W, i,
                          (long long)y[i], (long long)(m->out_size - 1));
  }
  try {
    torch::AutoGradMode grad_mode(true);
    double s = 0.0;
    if (p == P_SYNFLOW) {
      s = synflow(m);
    } else {
      at::Tensor xt = nas_torch::input_tensor(m, x, n);
      at::Tensor yt;
      if (kLabels[p]) yt = torch::from_blob(const_cast<int64_t *>(y), {n}, torch::kInt64).to(m->device);
      try {
        switch (p) {
        case P_NASWOT: s = naswot(m, xt, n); break;
        case P_JACOB_COV: s = jacob_cov(m, xt, n); break;
        default: s = grad_based(m, p, xt, yt, n); break;
        }
      } catch (const std::invalid_argument &e) {
        return nas_seterr(err, NAS_EINVAL, "%s: %s", W, e.what());
      }
    }
    *score = s;
    if (!std::isfinite(s))
      return nas_seterr(err, NAS_ENUMERIC, "%s: %s score is %g (%s)", W, name, s,
                        p == P_NASWOT      ? "the activation-code kernel is singular"
                        : p == P_JACOB_COV ? "a sample's input gradient is constant: the net ignores its input?"
                                           : "overflow or a degenerate net");
    return NAS_OK;
  }
  NAS_CATCH(err, W)
}

} // extern "C"
