/* engine/torch/ops.cpp — the op table of engine/torch and the one walk.
 *
 * Per op, in one place: its build (the submodules it registers on the NasNet
 * and the attributes its forward reads) and its forward; a row of kRows below
 * ties them to the op code. The shape, params and MACs rules of the same op
 * are its row in engine/core/ops.c.
 *
 * NasNet::run is the only walk over the graph's nodes: training, evaluation,
 * nas_model_forward, latency, BN recalibration, the memory-format timing, the
 * supernet's mixed nodes and the zero-cost proxies (proxy.cpp) all go through
 * it. What differs between them is said by Hooks (torch_impl.h): batch norm as
 * a module, with batch statistics only, or off; dropout on or off; callbacks
 * before and after a node, on every conv/linear layer's output, and a
 * substitute for any parameter an op uses.
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
 *
 * Forwards call the same functions the libtorch modules call
 * (Conv2d::forward is torch::conv2d with its options, Linear::forward is
 * torch::linear), so results do not depend on whether a parameter was
 * substituted.
 *
 * Each row also has a Python emitter (export to PyTorch): the constructor
 * lines of the node's submodules, under the names above, and the forward
 * expression of the node over its inputs' variables. python_source (below
 * the walk) writes one torch.nn.Module through them, for the nodes the walk
 * would compute, so the exported code is the walk written out. */
#include "torch_impl.h"

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace nas_torch {

[[noreturn]] void Build::fail(const std::string &why) const {
  const char *name = nas_op_name(s.op);
  throw std::runtime_error("node " + std::to_string(id) + " (" + (name ? name : "?") + "): " + why);
}

[[noreturn]] void Emit::fail(const std::string &why) const {
  const char *name = nas_op_name(net.nodes[(size_t)id].op);
  throw std::runtime_error("node " + std::to_string(id) + " (" + (name ? name : "?") + "): " + why);
}

namespace {

/* ---- Python source helpers (the emitters) ----------------------------------- */

std::string py_int(int64_t v) { return std::to_string(v); }

/* The shortest decimal that reads back as v (Python's repr of a float). */
std::string py_float(double v) {
  char buf[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtod(buf, nullptr) == v) break;
  }
  std::string r = buf;
  if (r.find_first_of(".eEn") == std::string::npos) r += ".0"; /* 1 -> 1.0 (not inf/nan: never here) */
  return r;
}

std::string py_bool(bool b) { return b ? "True" : "False"; }

/* torch.nn.Conv2d(...) for a registered Conv2d whose forward the node runs
 * with these stride, padding, dilation and groups. */
std::string py_conv2d(const torch::nn::Conv2dImpl &c, int64_t stride, int64_t pad, int64_t dil, int64_t groups) {
  const auto w = c.weight.sizes(); /* out, in/groups, k, k */
  return "torch.nn.Conv2d(" + py_int(w[1] * groups) + ", " + py_int(w[0]) + ", " + py_int(w[2]) +
         ", stride=" + py_int(stride) + ", padding=" + py_int(pad) + ", dilation=" + py_int(dil) +
         ", groups=" + py_int(groups) + ", bias=" + py_bool(c.bias.defined()) + ")";
}

/* ---- shared by the conv family -------------------------------------------- */

/* "same" padding (-1) resolved: dilation*(k-1)/2 */
int64_t conv_pad(const Build &b, int64_t k, int64_t dil) {
  const int64_t pad = b.I("padding");
  return pad < 0 ? dil * (k - 1) / 2 : pad;
}

/* One Conv2d layer: the module's weight and bias (or their substitutes), as
 * Conv2d::forward runs it. */
at::Tensor conv_layer(Walk &w, const torch::nn::Conv2dImpl &c, const at::Tensor &a, int64_t stride, int64_t pad,
                      int64_t dil, int64_t groups) {
  const at::Tensor &wt = w.param(c.weight, PARAM_WEIGHT);
  const at::Tensor &bs = w.param(c.bias, PARAM_BIAS);
  return w.layer(torch::conv2d(a, wt, bs, {stride, stride}, {pad, pad}, {dil, dil}, groups));
}

/* ---- conv: Conv2d "n<i>_conv"; ia = {stride, padding, dilation, groups} ---- */

void conv_build(Build &b) {
  NodeSpec &s = b.s;
  const int64_t k = b.I("k"), dil = std::max<int64_t>(1, b.I("dilation"));
  s.ia[0] = std::max<int64_t>(1, b.I("stride"));
  s.ia[1] = conv_pad(b, k, dil);
  s.ia[2] = dil;
  s.ia[3] = std::max<int64_t>(1, b.I("groups"));
  s.mods[0] = b.add("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(b.in_dims[0], b.I("out"), k)
                                                  .stride(s.ia[0])
                                                  .padding(s.ia[1])
                                                  .dilation(dil)
                                                  .groups(s.ia[3])
                                                  .bias(b.I("bias") != 0)));
}

at::Tensor conv_forward(Walk &w, const NodeSpec &s, const at::Tensor &a) {
  return conv_layer(w, s.mod<torch::nn::Conv2dImpl>(0), a, s.ia[0], s.ia[1], s.ia[2], s.ia[3]);
}

void conv_emit(Emit &e, const NodeSpec &s) {
  e.init = e.mod("conv") + " = " + py_conv2d(s.mod<torch::nn::Conv2dImpl>(0), s.ia[0], s.ia[1], s.ia[2], s.ia[3]);
  e.expr = e.mod("conv") + "(" + e.in[0] + ")";
}

/* ---- sep_conv, dil_conv: depthwise Conv2d "n<i>_dw" (groups = C, no bias),
 * then pointwise 1x1 Conv2d "n<i>_pw"; ia = {stride, padding, dilation, C} --- */

void sepdil_build(Build &b) {
  NodeSpec &s = b.s;
  const int64_t k = b.I("k");
  const int64_t dil = s.op == NAS_OP_DIL_CONV ? std::max<int64_t>(1, b.I("dilation")) : 1;
  const int64_t c = b.in_dims[0];
  s.ia[0] = std::max<int64_t>(1, b.I("stride"));
  s.ia[1] = conv_pad(b, k, dil);
  s.ia[2] = dil;
  s.ia[3] = c;
  s.mods[0] = b.add("dw", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, c, k)
                                                .stride(s.ia[0])
                                                .padding(s.ia[1])
                                                .dilation(dil)
                                                .groups(c)
                                                .bias(false)));
  s.mods[1] = b.add("pw", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, b.I("out"), 1).bias(b.I("bias") != 0)));
}

at::Tensor sepdil_forward(Walk &w, const NodeSpec &s, const at::Tensor &a) {
  at::Tensor d = conv_layer(w, s.mod<torch::nn::Conv2dImpl>(0), a, s.ia[0], s.ia[1], s.ia[2], s.ia[3]);
  return conv_layer(w, s.mod<torch::nn::Conv2dImpl>(1), d, 1, 0, 1, 1);
}

void sepdil_emit(Emit &e, const NodeSpec &s) {
  e.init = e.mod("dw") + " = " + py_conv2d(s.mod<torch::nn::Conv2dImpl>(0), s.ia[0], s.ia[1], s.ia[2], s.ia[3]) +
           "\n" + e.mod("pw") + " = " + py_conv2d(s.mod<torch::nn::Conv2dImpl>(1), 1, 0, 1, 1);
  e.expr = e.mod("pw") + "(" + e.mod("dw") + "(" + e.in[0] + "))";
}

/* ---- linear: Linear "n<i>_linear" ------------------------------------------- */

void linear_build(Build &b) {
  b.s.mods[0] = b.add("linear", torch::nn::Linear(torch::nn::LinearOptions(b.in_dims[0], b.I("out"))
                                                      .bias(b.I("bias") != 0)));
}

at::Tensor linear_forward(Walk &w, const NodeSpec &s, const at::Tensor &a) {
  const auto &l = s.mod<torch::nn::LinearImpl>(0);
  const at::Tensor &wt = w.param(l.weight, PARAM_WEIGHT);
  const at::Tensor &bs = w.param(l.bias, PARAM_BIAS);
  return w.layer(torch::linear(a, wt, bs));
}

void linear_emit(Emit &e, const NodeSpec &s) {
  const auto &l = s.mod<torch::nn::LinearImpl>(0);
  e.init = e.mod("linear") + " = torch.nn.Linear(" + py_int(l.weight.size(1)) + ", " + py_int(l.weight.size(0)) +
           ", bias=" + py_bool(l.bias.defined()) + ")";
  e.expr = e.mod("linear") + "(" + e.in[0] + ")";
}

/* ---- bn: BatchNorm2d ({C,H,W}) or BatchNorm1d ({F}) "n<i>_bn"; fa = eps ------ */

void bn_build(Build &b) {
  NodeSpec &s = b.s;
  const double eps = b.F("eps"), mom = b.F("momentum");
  const bool affine = b.I("affine") != 0;
  s.fa = eps;
  if (b.in_ndim == 3)
    s.mods[0] = b.add("bn", torch::nn::BatchNorm2d(
                                torch::nn::BatchNorm2dOptions(b.in_dims[0]).eps(eps).momentum(mom).affine(affine)));
  else
    s.mods[0] = b.add("bn", torch::nn::BatchNorm1d(
                                torch::nn::BatchNorm1dOptions(b.in_dims[0]).eps(eps).momentum(mom).affine(affine)));
}

at::Tensor bn_forward(Walk &w, const NodeSpec &s, const at::Tensor &a) {
  if (w.bn_module()) /* running statistics and momentum as the module keeps them */
    return s.ndim == 3 ? s.mod<torch::nn::BatchNorm2dImpl>(0).forward(a)
                       : s.mod<torch::nn::BatchNorm1dImpl>(0).forward(a);
  if (w.h->bn == Hooks::BN_OFF) return a;
  const at::Tensor &wt = w.param(s.ndim == 3 ? s.mod<torch::nn::BatchNorm2dImpl>(0).weight
                                             : s.mod<torch::nn::BatchNorm1dImpl>(0).weight,
                                 PARAM_NORM_WEIGHT);
  const at::Tensor &bs = w.param(s.ndim == 3 ? s.mod<torch::nn::BatchNorm2dImpl>(0).bias
                                             : s.mod<torch::nn::BatchNorm1dImpl>(0).bias,
                                 PARAM_NORM_BIAS);
  return torch::batch_norm(a, wt, bs, at::Tensor(), at::Tensor(), /*training=*/true, 0.0, s.fa,
                        /*cudnn_enabled=*/true);
}

template <class Impl> std::string py_bn(const char *cls, const Impl &m) {
  const auto &o = m.options;
  const auto mom = o.momentum();
  return std::string("torch.nn.") + cls + "(" + py_int(o.num_features()) + ", eps=" + py_float(o.eps()) +
         ", momentum=" + (mom.has_value() ? py_float(*mom) : "None") + ", affine=" + py_bool(o.affine()) +
         ", track_running_stats=" + py_bool(o.track_running_stats()) + ")";
}

void bn_emit(Emit &e, const NodeSpec &s) {
  e.init = e.mod("bn") + " = " +
           (s.ndim == 3 ? py_bn("BatchNorm2d", s.mod<torch::nn::BatchNorm2dImpl>(0))
                        : py_bn("BatchNorm1d", s.mod<torch::nn::BatchNorm1dImpl>(0)));
  e.expr = e.mod("bn") + "(" + e.in[0] + ")";
}

/* ---- activations ------------------------------------------------------------ */

void no_build(Build &) {}

at::Tensor relu_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return torch::relu(a); }
at::Tensor relu6_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return torch::hardtanh(a, 0.0, 6.0); }
at::Tensor sigmoid_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return torch::sigmoid(a); }
at::Tensor hswish_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return torch::hardswish(a); }
at::Tensor silu_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return torch::silu(a); }

void relu_emit(Emit &e, const NodeSpec &) { e.expr = "torch.relu(" + e.in[0] + ")"; }
void relu6_emit(Emit &e, const NodeSpec &) { e.expr = "torch.nn.functional.hardtanh(" + e.in[0] + ", 0.0, 6.0)"; }
void sigmoid_emit(Emit &e, const NodeSpec &) { e.expr = "torch.sigmoid(" + e.in[0] + ")"; }
void hswish_emit(Emit &e, const NodeSpec &) { e.expr = "torch.nn.functional.hardswish(" + e.in[0] + ")"; }
void silu_emit(Emit &e, const NodeSpec &) { e.expr = "torch.nn.functional.silu(" + e.in[0] + ")"; }

/* ---- maxpool, avgpool: ia = {k, stride, padding} ------------------------------ */

void pool_build(Build &b) {
  NodeSpec &s = b.s;
  s.ia[0] = b.I("k");
  s.ia[1] = b.I("stride");
  if (s.ia[1] <= 0) s.ia[1] = s.ia[0];
  s.ia[2] = b.I("padding");
  if (s.ia[2] < 0) s.ia[2] = (s.ia[0] - 1) / 2; /* "same" */
}

at::Tensor maxpool_forward(Walk &, const NodeSpec &s, const at::Tensor &a) {
  return torch::max_pool2d(a, {s.ia[0], s.ia[0]}, {s.ia[1], s.ia[1]}, {s.ia[2], s.ia[2]});
}

at::Tensor avgpool_forward(Walk &, const NodeSpec &s, const at::Tensor &a) {
  return torch::avg_pool2d(a, {s.ia[0], s.ia[0]}, {s.ia[1], s.ia[1]}, {s.ia[2], s.ia[2]},
                        /*ceil_mode=*/false, /*count_include_pad=*/false);
}

void maxpool_emit(Emit &e, const NodeSpec &s) {
  e.expr = "torch.nn.functional.max_pool2d(" + e.in[0] + ", " + py_int(s.ia[0]) + ", stride=" + py_int(s.ia[1]) +
           ", padding=" + py_int(s.ia[2]) + ")";
}

void avgpool_emit(Emit &e, const NodeSpec &s) {
  e.expr = "torch.nn.functional.avg_pool2d(" + e.in[0] + ", " + py_int(s.ia[0]) + ", stride=" + py_int(s.ia[1]) +
           ", padding=" + py_int(s.ia[2]) + ", ceil_mode=False, count_include_pad=False)";
}

/* ---- shape ops ---------------------------------------------------------------- */

at::Tensor gap_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return a.mean({2, 3}); }
at::Tensor flatten_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return a.flatten(1); }
at::Tensor identity_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return a; }

void gap_emit(Emit &e, const NodeSpec &) { e.expr = e.in[0] + ".mean((2, 3))"; }
void flatten_emit(Emit &e, const NodeSpec &) { e.expr = "torch.flatten(" + e.in[0] + ", 1)"; }
void identity_emit(Emit &e, const NodeSpec &) { e.expr = e.in[0]; }

/* ---- dropout: fa = p ------------------------------------------------------------ */

void dropout_build(Build &b) { b.s.fa = b.F("p"); }

at::Tensor dropout_forward(Walk &w, const NodeSpec &s, const at::Tensor &a) {
  return torch::dropout(a, s.fa, w.training() && (!w.h || w.h->dropout));
}

void dropout_emit(Emit &e, const NodeSpec &s) {
  e.expr = "torch.nn.functional.dropout(" + e.in[0] + ", p=" + py_float(s.fa) + ", training=self.training)";
}

/* ---- zero: zeros of the node's shape (from the IR: a supernet skips its input) -- */

at::Tensor zero_forward(Walk &w, const NodeSpec &s, const at::Tensor &a) {
  int64_t sz[NAS_MAX_DIMS + 1] = {w.N, 0, 0, 0};
  for (int i = 0; i < s.ndim; i++) sz[i + 1] = s.dims[i];
  const at::Tensor &ref = a.defined() ? a : w.x;
  auto opts = ref.options();
  if (s.ndim == 3 && ref.dim() == 4) opts = opts.memory_format(ref.suggest_memory_format());
  return torch::zeros(at::IntArrayRef(sz, s.ndim + 1), opts);
}

/* like the forward, the batch size comes from the net's input, not the node's */
void zero_emit(Emit &e, const NodeSpec &s) {
  std::string shape = "(x0.shape[0]";
  for (int i = 0; i < s.ndim; i++) shape += ", " + py_int(s.dims[i]);
  e.expr = "x0.new_zeros(" + shape + "))";
}

/* ---- merges ------------------------------------------------------------------------ */

at::Tensor add_forward(Walk &w, const NodeSpec &s, const at::Tensor &a) {
  at::Tensor r = a + w.in(s, 1);
  for (size_t i = 2; i < s.in.size(); i++) r.add_(w.in(s, i));
  return r;
}

at::Tensor concat_forward(Walk &w, const NodeSpec &s, const at::Tensor &) {
  std::vector<at::Tensor> &tmp = w.net.tmp;
  tmp.clear();
  for (size_t i = 0; i < s.in.size(); i++) tmp.push_back(w.in(s, i));
  at::Tensor r = torch::cat(at::TensorList(tmp.data(), tmp.size()), 1);
  tmp.clear();
  return r;
}

/* b of a's shape, or {C} broadcast over H,W (squeeze-excite) */
at::Tensor mul_forward(Walk &w, const NodeSpec &s, const at::Tensor &a) {
  const at::Tensor &b = w.in(s, 1);
  if (a.dim() == 4 && b.dim() == 2) return a * b.reshape({b.size(0), b.size(1), 1, 1});
  return a * b;
}

void add_emit(Emit &e, const NodeSpec &) {
  e.expr = e.in[0];
  for (size_t i = 1; i < e.in.size(); i++) e.expr += " + " + e.in[i];
}

void concat_emit(Emit &e, const NodeSpec &) {
  e.expr = "torch.cat([" + e.in[0];
  for (size_t i = 1; i < e.in.size(); i++) e.expr += ", " + e.in[i];
  e.expr += "], 1)";
}

void mul_emit(Emit &e, const NodeSpec &s) {
  const bool bcast = e.net.nodes[(size_t)s.in[0]].ndim == 3 && e.net.nodes[(size_t)s.in[1]].ndim == 1;
  const std::string &b = e.in[1];
  e.expr = e.in[0] + " * " + (bcast ? b + ".reshape(" + b + ".shape[0], " + b + ".shape[1], 1, 1)" : b);
}

/* ---- mixed: one decision's candidates, mixed per the net's mode (nas.h,
 * "Supernets"; NasNet::prepare_mix sets pick and w per pass) ------------------ */

void mixed_build(Build &b) {
  NasNet &net = b.net;
  NodeSpec &s = b.s;
  const int64_t d = b.I("decision");
  if (d < 0 || d > 100000) b.fail("bad decision " + std::to_string(d));
  s.decision = (int)d;
  net.has_mixed = true;
  if ((int64_t)net.dsize.size() <= d) net.dsize.resize((size_t)d + 1, 0);
  int &sz = net.dsize[(size_t)d];
  if (sz != 0 && sz != (int)s.in.size())
    b.fail("decision " + std::to_string(d) + " has " + std::to_string(s.in.size()) + " candidates here but " +
           std::to_string(sz) + " at another mixed node");
  sz = (int)s.in.size();
}

at::Tensor mixed_forward(Walk &w, const NodeSpec &s, const at::Tensor &a) {
  const NasNet &net = w.net;
  const int p = net.pick[(size_t)s.decision];
  const at::Tensor &wd = net.w[(size_t)s.decision];
  if (p >= 0 && !wd.defined()) return w.in(s, (size_t)p); /* PATH, FIXED */
  if (p >= 0) /* GUMBEL: h_p x_p + sum of the other h (0, with gradients) */
    return w.in(s, (size_t)p) * wd[p] + (wd.sum() - wd[p]);
  at::Tensor r; /* SOFTMAX, SIGMOID: zero candidates add nothing */
  for (size_t i = 0; i < s.in.size(); i++) {
    if (net.nodes[(size_t)s.in[i]].op == NAS_OP_ZERO) continue;
    at::Tensor t = w.in(s, i) * wd[(int64_t)i];
    r = r.defined() ? r + t : t;
  }
  if (!r.defined()) r = a * wd[0];
  return r;
}

/* fixed, path: the picked candidate; softmax, sigmoid: the weighted sum, the
 * logits a buffer "alpha_<decision>" (one per decision, saved with the
 * weights). python_source refuses gumbel (random per forward). */
void mixed_emit(Emit &e, const NodeSpec &s) {
  const NasNet &net = e.net;
  const size_t d = (size_t)s.decision;
  const int p = net.pick[d];
  if (p >= 0 && !net.w[d].defined()) {
    e.expr = e.in[(size_t)p];
    return;
  }
  if (p >= 0) e.fail("the gumbel mix mode draws a branch per forward: set the mix mode to fixed or path");
  const std::string buf = "alpha_" + std::to_string(d);
  bool have = false;
  for (const auto &x : e.extra) have = have || x.first == buf;
  if (!have) {
    e.extra.emplace_back(buf, net.alpha[d].detach().to(torch::kCPU).contiguous());
    e.init = "self.register_buffer(\"" + buf + "\", torch.zeros(" + py_int(net.alpha[d].size(0)) +
             "))  # decision " + std::to_string(d) + "'s architecture logits";
  }
  const std::string wv = "w" + std::to_string(e.id);
  e.pre = wv + " = " + (net.mix == NAS_MIX_SIGMOID ? "torch.sigmoid(self." + buf + ")"
                                                   : "torch.softmax(self." + buf + ", 0)");
  for (size_t i = 0; i < s.in.size(); i++) {
    if (net.nodes[(size_t)s.in[i]].op == NAS_OP_ZERO) continue;
    e.expr += (e.expr.empty() ? "" : " + ") + e.in[i] + " * " + wv + "[" + py_int((int64_t)i) + "]";
  }
  if (e.expr.empty()) e.expr = e.in[0] + " * " + wv + "[0]";
}

/* ---- the table --------------------------------------------------------------------- */

/* One row per op, keyed by the op's name in the core's op table
 * (engine/core/ops.c): how to build its module, run its forward and write
 * it as PyTorch source. */
struct Row {
  const char *name;
  OpImpl impl;
};

const Row kRows[] = {
    {"conv", {conv_build, conv_forward, OPF_CONV, conv_emit}},
    {"sep_conv", {sepdil_build, sepdil_forward, OPF_CONV, sepdil_emit}},
    {"dil_conv", {sepdil_build, sepdil_forward, OPF_CONV, sepdil_emit}},
    {"linear", {linear_build, linear_forward, 0, linear_emit}},
    {"bn", {bn_build, bn_forward, OPF_BATCHNORM, bn_emit}},
    {"relu", {no_build, relu_forward, OPF_RECTIFIER, relu_emit}},
    {"relu6", {no_build, relu6_forward, OPF_RECTIFIER, relu6_emit}},
    {"sigmoid", {no_build, sigmoid_forward, 0, sigmoid_emit}},
    {"hswish", {no_build, hswish_forward, 0, hswish_emit}},
    {"maxpool", {pool_build, maxpool_forward, 0, maxpool_emit}},
    {"avgpool", {pool_build, avgpool_forward, 0, avgpool_emit}},
    {"gap", {no_build, gap_forward, 0, gap_emit}},
    {"flatten", {no_build, flatten_forward, 0, flatten_emit}},
    {"dropout", {dropout_build, dropout_forward, 0, dropout_emit}},
    {"identity", {no_build, identity_forward, 0, identity_emit}},
    {"zero", {no_build, zero_forward, 0, zero_emit}},
    {"add", {no_build, add_forward, 0, add_emit}},
    {"concat", {no_build, concat_forward, 0, concat_emit}},
    {"mul", {no_build, mul_forward, 0, mul_emit}},
    {"mixed", {mixed_build, mixed_forward, 0, mixed_emit}},
    {"silu", {no_build, silu_forward, 0, silu_emit}},
};

/* The rows by op id, resolved once through the core's names. */
std::vector<const OpImpl *> rows_by_id() {
  std::vector<const OpImpl *> v((size_t)nas_op_count(), nullptr);
  for (const Row &r : kRows) {
    const int id = nas_op_lookup(r.name);
    if (id >= 0) v[(size_t)id] = &r.impl;
  }
  return v;
}

} // namespace

const OpImpl *op_impl(nas_op op) {
  static const std::vector<const OpImpl *> by_id = rows_by_id();
  if ((int)op < 0 || (size_t)op >= by_id.size()) return nullptr;
  return by_id[(size_t)op];
}

/* ---- build --------------------------------------------------------------------------- */

std::shared_ptr<NasNet> build_net(const nas_graph *g, unsigned *flags) {
  auto net = std::make_shared<NasNet>();
  const int n = nas_graph_node_count(g);
  net->nodes.resize((size_t)n);
  net->output = nas_graph_output(g);
  *flags = 0;
  for (int id = 0; id < n; id++) {
    NodeSpec &s = net->nodes[(size_t)id];
    s.op = nas_graph_node_op(g, id);
    s.ndim = nas_graph_node_shape(g, id, s.dims);
    const int nin = nas_graph_node_ninputs(g, id);
    for (int i = 0; i < nin; i++) s.in.push_back(nas_graph_node_input(g, id, i));
  }
  /* liveness: nodes that reach the output */
  net->nodes[(size_t)net->output].live = true;
  for (int id = net->output; id >= 1; id--)
    if (net->nodes[(size_t)id].live)
      for (int j : net->nodes[(size_t)id].in) net->nodes[(size_t)j].live = true;
  net->nodes[0].live = true;
  for (int id = 1; id < n; id++)
    if (net->nodes[(size_t)id].live)
      for (int j : net->nodes[(size_t)id].in) net->nodes[(size_t)j].last_use = id;

  for (int id = 1; id < n; id++) {
    NodeSpec &s = net->nodes[(size_t)id];
    Build b{g, *net, s, id, 0, {0, 0, 0}};
    if ((int)s.in.size() < std::max(1, nas_op_min_inputs(s.op)))
      b.fail("has " + std::to_string(s.in.size()) + " inputs, needs " +
             std::to_string(std::max(1, nas_op_min_inputs(s.op))));
    const OpImpl *oi = op_impl(s.op);
    if (!oi) b.fail("no libtorch builder for this op");
    b.in_ndim = nas_graph_node_shape(g, s.in[0], b.in_dims);
    oi->build(b);
    s.forward = oi->forward;
    s.flags = oi->flags;
    if (s.live) *flags |= oi->flags;
  }
  for (size_t d = 0; d < net->dsize.size(); d++)
    if (net->dsize[d] == 0)
      throw std::runtime_error("decision " + std::to_string(d) + " has no mixed node: decisions must be numbered "
                               "0.." + std::to_string(net->dsize.size() - 1) + " without gaps");
  return net;
}

/* ---- the walk ------------------------------------------------------------------------ */

/* Per pass of a supernet: the weights or the one branch of every decision,
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

at::Tensor NasNet::run(const at::Tensor &x, const Hooks *h) {
  const int n = (int)nodes.size();
  if ((int)vals.size() != n) vals.assign((size_t)n, at::Tensor());
  if (has_mixed) prepare_mix();
  struct Clear { /* leaves no tensor behind, also when an op throws */
    std::vector<at::Tensor> &v;
    ~Clear() {
      for (auto &t : v) t.reset();
    }
  } clear{vals};
  vals[0] = x;
  Walk w(*this, h, x);
  for (int id = 1; id <= output; id++) {
    const NodeSpec &s = nodes[(size_t)id];
    if (has_mixed ? !need[(size_t)id] : !s.live) continue;
    w.id = id;
    if (h && h->before) h->before(h->ctx, id, s, vals);
    at::Tensor r = s.forward(w, s, vals[(size_t)s.in[0]]);
    if (h && h->after) h->after(h->ctx, id, s, r);
    vals[(size_t)id] = std::move(r);
    for (int j : s.in)
      if (nodes[(size_t)j].last_use == id && j != output) vals[(size_t)j].reset();
  }
  return vals[(size_t)output];
}

/* ---- PyTorch source: each node's emitter, for the nodes the walk computes ------------ */

namespace {

std::string py_shape(const NodeSpec &s) {
  std::string r = "[N";
  for (int i = 0; i < s.ndim; i++) r += ", " + py_int(s.dims[i]);
  return r + "]";
}

/* lines of text, each indented by `ind` spaces */
std::string indented(const std::string &text, int ind) {
  std::string r, pad((size_t)ind, ' ');
  size_t a = 0;
  while (a < text.size()) {
    size_t b = text.find('\n', a);
    if (b == std::string::npos) b = text.size();
    r += pad + text.substr(a, b - a) + "\n";
    a = b + 1;
  }
  return r;
}

std::string py_floats(const std::vector<float> &v) {
  std::string r = "[";
  for (size_t i = 0; i < v.size(); i++) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.9g", (double)v[i]); /* reads back as the same float32 */
    r += (i ? ", " : "") + std::string(buf);
  }
  return r + "]";
}

} // namespace

PySource python_source(NasNet &net, const std::string &cls, const std::vector<float> &mean,
                       const std::vector<float> &stdev, const std::string &header) {
  PySource src;
  const int n = (int)net.nodes.size();
  if (net.has_mixed) {
    if (net.mix == NAS_MIX_GUMBEL)
      for (int id = 1; id <= net.output; id++)
        if (net.nodes[(size_t)id].op == NAS_OP_MIXED)
          throw std::runtime_error("node " + std::to_string(id) + " (mixed): the gumbel mix mode draws a branch per "
                                   "forward and cannot be exported: set the mix mode to fixed, path, softmax or "
                                   "sigmoid first");
    const std::vector<int> last = net.last_pick;
    net.prepare_mix(); /* the branches and nodes a forward computes now */
    net.last_pick = last;
  }
  src.nodes.assign((size_t)n, 0);
  for (int id = 0; id <= net.output; id++)
    src.nodes[(size_t)id] = net.has_mixed ? net.need[(size_t)id] : net.nodes[(size_t)id].live;
  src.nodes[0] = 1;

  const NodeSpec &in0 = net.nodes[0];
  const bool norm = !mean.empty();
  std::string init, fwd;
  if (norm) {
    const std::string view = in0.ndim == 3 ? ".reshape(1, -1, 1, 1)" : ".reshape(1, -1)";
    init += "# the input normalisation: (x - mean) / std per channel (constants, not in the state dict)\n";
    init += "self.register_buffer(\"input_mean\", torch.tensor(" + py_floats(mean) + ")" + view +
            ", persistent=False)\n";
    init += "self.register_buffer(\"input_std\", torch.tensor(" + py_floats(stdev) + ")" + view +
            ", persistent=False)\n";
    fwd += "x0 = (x - self.input_mean) / self.input_std  # " + py_shape(in0) + "\n";
  } else {
    fwd += "x0 = x  # " + py_shape(in0) + "\n";
  }
  for (int id = 1; id <= net.output; id++) {
    if (!src.nodes[(size_t)id]) continue;
    const NodeSpec &s = net.nodes[(size_t)id];
    Emit e{net, id, {}, "", "", "", src.extra};
    for (int j : s.in) e.in.push_back("x" + std::to_string(j));
    const OpImpl *oi = op_impl(s.op);
    if (!oi || !oi->emit) e.fail("this op has no PyTorch emitter and cannot be exported");
    oi->emit(e, s);
    const char *name = nas_op_name(s.op);
    const std::string what = "node " + std::to_string(id) + " (" + (name ? name : "?") + ")";
    if (!e.init.empty()) init += "# " + what + "\n" + e.init + "\n";
    std::string from;
    for (size_t i = 0; i < e.in.size(); i++) from += (i ? ", " : "") + e.in[i];
    fwd += "# " + what + " <- " + from + ": " + py_shape(s) + "\n";
    if (!e.pre.empty()) fwd += e.pre + "\n";
    fwd += "x" + std::to_string(id) + " = " + e.expr + "\n";
  }
  fwd += "return x" + std::to_string(net.output);
  const NodeSpec &out = net.nodes[(size_t)net.output];

  std::string c = "# model.py: a network exported from nasrun " NAS_VERSION " as PyTorch code.\n";
  for (size_t a = 0; a < header.size();) {
    size_t b = header.find('\n', a);
    if (b == std::string::npos) b = header.size();
    c += "# " + header.substr(a, b - a) + "\n";
    a = b + 1;
  }
  c += "#\n# Only torch is needed. weights.pt holds the state dict:\n";
  c += "#   model = " + cls + "()\n";
  c += "#   model.load_state_dict(torch.load(\"weights.pt\"))\n";
  c += "#   model.eval()\n";
  c += "# Submodules are named n<node>_<kind> as in nasrun; forward computes the nodes in\n";
  c += "# order, x<i> holding node i's output (shapes for a batch of N).\n";
  c += "import torch\n\n\n";
  c += "class " + cls + "(torch.nn.Module):\n";
  c += "    \"\"\"Input " + py_shape(in0) + (norm ? " (normalised by the module itself)" : "") + ", output " +
       py_shape(out) + ".\"\"\"\n\n";
  c += "    def __init__(self):\n        super().__init__()\n";
  if (!init.empty()) c += indented(init.substr(0, init.size() - 1), 8);
  c += "\n    def forward(self, x):\n";
  c += indented(fwd, 8);
  src.code = c;
  return src;
}

} // namespace nas_torch
