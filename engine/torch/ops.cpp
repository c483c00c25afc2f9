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
 * substituted. */
#include "torch_impl.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace nas_torch {

[[noreturn]] void Build::fail(const std::string &why) const {
  const char *name = nas_op_name(s.op);
  throw std::runtime_error("node " + std::to_string(id) + " (" + (name ? name : "?") + "): " + why);
}

namespace {

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

/* ---- activations ------------------------------------------------------------ */

void no_build(Build &) {}

at::Tensor relu_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return torch::relu(a); }
at::Tensor relu6_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return torch::hardtanh(a, 0.0, 6.0); }
at::Tensor sigmoid_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return torch::sigmoid(a); }
at::Tensor hswish_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return torch::hardswish(a); }
at::Tensor silu_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return torch::silu(a); }

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

/* ---- shape ops ---------------------------------------------------------------- */

at::Tensor gap_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return a.mean({2, 3}); }
at::Tensor flatten_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return a.flatten(1); }
at::Tensor identity_forward(Walk &, const NodeSpec &, const at::Tensor &a) { return a; }

/* ---- dropout: fa = p ------------------------------------------------------------ */

void dropout_build(Build &b) { b.s.fa = b.F("p"); }

at::Tensor dropout_forward(Walk &w, const NodeSpec &s, const at::Tensor &a) {
  return torch::dropout(a, s.fa, w.training() && (!w.h || w.h->dropout));
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

/* ---- the table --------------------------------------------------------------------- */

/* One row per op, keyed by the op's name in the core's op table
 * (engine/core/ops.c): how to build its module and run its forward. */
struct Row {
  const char *name;
  OpImpl impl;
};

const Row kRows[] = {
    {"conv", {conv_build, conv_forward, OPF_CONV}},
    {"sep_conv", {sepdil_build, sepdil_forward, OPF_CONV}},
    {"dil_conv", {sepdil_build, sepdil_forward, OPF_CONV}},
    {"linear", {linear_build, linear_forward, 0}},
    {"bn", {bn_build, bn_forward, OPF_BATCHNORM}},
    {"relu", {no_build, relu_forward, OPF_RECTIFIER}},
    {"relu6", {no_build, relu6_forward, OPF_RECTIFIER}},
    {"sigmoid", {no_build, sigmoid_forward, 0}},
    {"hswish", {no_build, hswish_forward, 0}},
    {"maxpool", {pool_build, maxpool_forward, 0}},
    {"avgpool", {pool_build, avgpool_forward, 0}},
    {"gap", {no_build, gap_forward, 0}},
    {"flatten", {no_build, flatten_forward, 0}},
    {"dropout", {dropout_build, dropout_forward, 0}},
    {"identity", {no_build, identity_forward, 0}},
    {"zero", {no_build, zero_forward, 0}},
    {"add", {no_build, add_forward, 0}},
    {"concat", {no_build, concat_forward, 0}},
    {"mul", {no_build, mul_forward, 0}},
    {"mixed", {mixed_build, mixed_forward, 0}},
    {"silu", {no_build, silu_forward, 0}},
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

} // namespace nas_torch
