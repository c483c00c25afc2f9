/* engine/torch/proxy.cpp — zero-cost proxies (nas_proxy_compute, nas.h): scores
 * of an untrained model from one batch, as defined by SamsungLabs/zero-cost-nas
 * (foresight/pruners/measures: synflow, grad_norm, snip, fisher, jacob_cov) and
 * Mellor et al. 2021 (NASWOT).
 *
 * The proxies run the model's one walk (NasNet::run, ops.cpp) with hooks:
 * every parameter an op uses replaced by a detached alias or a float64 |theta|
 * copy (Hooks::param; conv/linear weights become fresh leaves that require
 * grad), the inputs of rectifiers captured (naswot: Hooks::before and
 * OPF_RECTIFIER), conv/linear layer outputs captured (fisher:
 * Hooks::layer_out), batch norm off (synflow) or with the batch's statistics
 * without touching the running statistics, dropout off. Nothing is written to
 * the model: autograd::grad returns gradients instead of accumulating them
 * into .grad, so weights, buffers, gradients, train/eval mode and the RNG
 * streams are all as they were. Supernets (mixed nodes) are refused: a pass
 * would move their Gumbel generator and last path.
 */
#include "torch_impl.h"

#include <cmath>

using nas_torch::NasNet;
using nas_torch::NodeSpec;

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

/* How the walk's parameters derive from the model's (Hooks::param). */
enum class Weights {
  Alias,      /* detached aliases, no grad */
  AliasGrad,  /* detached aliases; conv/linear weights require grad (fresh leaves) */
  AbsDouble   /* float64 copies of |theta|; conv/linear weights require grad */
};

/* One proxy pass: what it substitutes and what it collects. */
struct Pass {
  Weights how = Weights::Alias;
  std::vector<at::Tensor> *leaves = nullptr; /* conv/linear weights, in node order */
  std::vector<at::Tensor> *acts = nullptr;   /* conv/linear layer outputs (fisher) */
  at::Tensor K;                              /* naswot's kernel */
  int n = 0, hooked = 0;
};

at::Tensor derive(void *ctx, int, nas_torch::ParamRole role, const at::Tensor &p) {
  Pass &ps = *static_cast<Pass *>(ctx);
  at::Tensor t = p.detach();
  if (ps.how == Weights::AbsDouble) t = t.abs().to(torch::kFloat64);
  if (role == nas_torch::PARAM_WEIGHT && ps.how != Weights::Alias) {
    t.requires_grad_(true); /* a fresh leaf */
    if (ps.leaves) ps.leaves->push_back(t);
  }
  return t;
}

void keep_layer(void *ctx, int, const at::Tensor &t) {
  Pass &ps = *static_cast<Pass *>(ctx);
  if (ps.acts) ps.acts->push_back(t);
}

/* naswot: the binary code of every rectifier's input, into K */
void relu_codes(void *ctx, int, const NodeSpec &s, const std::vector<at::Tensor> &vals) {
  if (!(s.flags & nas_torch::OPF_RECTIFIER)) return;
  Pass &ps = *static_cast<Pass *>(ctx);
  at::Tensor c = (vals[(size_t)s.in[0]] > 0).reshape({ps.n, -1}).to(torch::kFloat64);
  at::Tensor d = 1.0 - c;
  ps.K.add_(c.mm(c.t())).add_(d.mm(d.t()));
  ps.hooked++;
}

/* The model's function through the one walk (NasNet::run) as the proxies see
 * it: parameters derived per ps.how, batch norm with the batch's statistics
 * (bn) or off, dropout off; the model's weights, buffers and RNGs untouched. */
at::Tensor walk(NasNet &net, Pass &ps, const at::Tensor &x, bool bn, bool codes = false) {
  nas_torch::Hooks h;
  h.bn = bn ? nas_torch::Hooks::BN_BATCH : nas_torch::Hooks::BN_OFF;
  h.dropout = false;
  h.ctx = &ps;
  h.param = derive;
  if (ps.acts) h.layer_out = keep_layer;
  if (codes) h.before = relu_codes;
  return net.run(x, &h);
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
  std::vector<at::Tensor> ws;
  Pass ps;
  ps.how = Weights::AbsDouble;
  ps.leaves = &ws;
  std::vector<int64_t> sz{1};
  for (int i = 0; i < m->in_ndim; i++) sz.push_back(m->in_dims[i]);
  at::Tensor ones = torch::ones(sz, torch::TensorOptions().dtype(torch::kFloat64).device(m->device));
  at::Tensor R = walk(*m->net, ps, ones, /*bn=*/false).sum();
  return sum_abs_prod(ws, grads(R, ws));
}

double naswot(nas_model *m, const at::Tensor &x, int n) {
  torch::NoGradGuard ng;
  Pass ps;
  ps.K = torch::zeros({n, n}, torch::TensorOptions().dtype(torch::kFloat64).device(m->device));
  ps.n = n;
  walk(*m->net, ps, x, /*bn=*/true, /*codes=*/true);
  if (!ps.hooked) throw std::invalid_argument("naswot needs relu or relu6 nodes, the graph has none");
  return std::get<1>(torch::slogdet(ps.K)).item<double>();
}

at::Tensor loss_of(const at::Tensor &out, const at::Tensor &y, int n) {
  return torch::cross_entropy_loss(out.reshape({n, -1}), y);
}

double grad_based(nas_model *m, int which, const at::Tensor &x, const at::Tensor &y, int n) {
  std::vector<at::Tensor> ws, acts;
  Pass ps;
  ps.how = Weights::AliasGrad;
  ps.leaves = &ws;
  if (which == P_FISHER) ps.acts = &acts;
  at::Tensor L = loss_of(walk(*m->net, ps, x, /*bn=*/true), y, n);
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
  Pass ps;
  at::Tensor x = x0.detach().clone().requires_grad_(true);
  at::Tensor out = walk(*m->net, ps, x, /*bn=*/true);
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

nas_status nas_proxy_compute(nas_model *m, const char *name, const float *x, const int64_t *y, int n,
                           double *score, nas_error *err) noexcept {
  static const char *W = "nas_proxy_compute";
  nas_clearerr(err);
  if (!m || !name || !score) return nas_seterr(err, NAS_EINVAL, "%s: model, name and score must not be NULL", W);
  *score = std::nan("");
  const int p = lookup(name);
  if (p < 0) {
    char all[160] = ""; /* no allocation: this is outside the try */
    for (int i = 0; i < P_COUNT; i++) {
      if (i) strncat(all, ", ", sizeof all - strlen(all) - 1);
      strncat(all, kNames[i], sizeof all - strlen(all) - 1);
    }
    return nas_seterr(err, NAS_EINVAL, "%s: unknown proxy '%s' (known: %s)", W, name, all);
  }
  if (p == P_PARAMS) return *score = (double)nas_graph_params(m->g), NAS_OK;
  if (p == P_FLOPS) return *score = (double)nas_graph_flops(m->g), NAS_OK;
  if (m->net->has_mixed)
    return nas_seterr(err, NAS_EINVAL, "%s: %s scores a plain network, this model is a supernet (mixed nodes)", W,
                      name);
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
