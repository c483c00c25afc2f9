/* The op table: one row per op (name, arity, attribute schema, shape rule,
 * params rule, MACs rule). Adding an op = one row here + its libtorch builder.
 *
 * Shapes are per sample: {F} or {C,H,W}. Conv/pool output size:
 *   p  = padding ("same": dilation*(k-1)/2, odd k only)
 *   Ho = floor((H + 2p - dilation*(k-1) - 1) / stride) + 1
 * A kernel whose extent dilation*(k-1)+1 exceeds the unpadded H or W is rejected. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops_impl.h"

typedef long long ll;

/* ---- attribute schema helpers ------------------------------------------ */

#define AI(key, req, chk, def) {(key), NAS_ATTR_KIND_INT, (req), (chk), (def), 0.0}
#define AF(key, chk, def) {(key), NAS_ATTR_KIND_FLOAT, 0, (chk), 0, (def)}
#define PAD_SAME (-1)

/* Schema positions used by the rules below. */
enum { CV_OUT, CV_K, CV_STRIDE, CV_PAD, CV_DIL, CV_GROUPS, CV_BIAS };   /* conv */
enum { SP_OUT, SP_K, SP_STRIDE, SP_PAD, SP_BIAS };                    /* sep_conv */
enum { DC_OUT, DC_K, DC_STRIDE, DC_PAD, DC_DIL, DC_BIAS };            /* dil_conv */
enum { LN_OUT, LN_BIAS };                                             /* linear */
enum { BN_AFFINE, BN_EPS, BN_MOMENTUM };                              /* bn */
enum { PL_K, PL_STRIDE, PL_PAD };                                     /* pools */
enum { ZR_STRIDE };                                                   /* zero */

/* ---- conv family --------------------------------------------------------- */

typedef struct conv_args {
  int64_t out, k, s, p, d, g, bias; /* g == 0: depthwise (groups = C_in) + pointwise */
} conv_args;

static void conv_args_get(const nas_node *n, conv_args *c) {
  const nas_aval *a = n->a;
  switch (n->op) {
  case NAS_OP_CONV:
    *c = (conv_args){a[CV_OUT].i, a[CV_K].i, a[CV_STRIDE].i, a[CV_PAD].i,
                     a[CV_DIL].i, a[CV_GROUPS].i, a[CV_BIAS].i};
    break;
  case NAS_OP_SEP_CONV:
    *c = (conv_args){a[SP_OUT].i, a[SP_K].i, a[SP_STRIDE].i, a[SP_PAD].i, 1, 0, a[SP_BIAS].i};
    break;
  default: /* NAS_OP_DIL_CONV */
    *c = (conv_args){a[DC_OUT].i, a[DC_K].i, a[DC_STRIDE].i, a[DC_PAD].i,
                     a[DC_DIL].i, 0, a[DC_BIAS].i};
    break;
  }
}

int64_t nas_node_padding(const nas_node *n) {
  switch (n->op) {
  case NAS_OP_CONV:
  case NAS_OP_SEP_CONV:
  case NAS_OP_DIL_CONV: {
    conv_args c;
    conv_args_get(n, &c);
    /* checked: the shape rule calls this before it checks the kernel's extent
     * (an overflow gives 0 here, then the rule rejects the kernel) */
    return c.p == PAD_SAME ? nas_mulc(c.d, c.k - 1) / 2 : c.p;
  }
  case NAS_OP_MAXPOOL:
  case NAS_OP_AVGPOOL:
    return n->a[PL_PAD].i == PAD_SAME ? (n->a[PL_K].i - 1) / 2 : n->a[PL_PAD].i;
  default:
    return 0;
  }
}

static const nas_node *input0(const nas_shape_ctx *c) { return c->in[0]; }

static nas_status need_chw(const nas_shape_ctx *c, const nas_node *in) {
  char s[64];
  if (in->ndim == 3) return NAS_OK;
  return nas_node_err(c, NAS_EGRAPH, "input is %s (F); %s needs {C,H,W}",
                      nas_shape_str(s, sizeof s, in->ndim, in->dims),
                      nas_op_table[c->n->op].name);
}

/* Output size of a window op along H and W; checks the kernel fits. */
static nas_status window_out(nas_shape_ctx *c, const nas_node *in, int64_t k, int64_t s,
                             int64_t p, int64_t d, int64_t *ho, int64_t *wo) {
  int64_t H = in->dims[1], W = in->dims[2];
  int64_t ek = nas_addc(nas_mulc(d, k - 1), 1);
  if (ek < 0 || ek > H || ek > W) {
    if (d == 1)
      return nas_node_err(c, NAS_EGRAPH, "kernel %lldx%lld is larger than its %lldx%lld input",
                          (ll)k, (ll)k, (ll)H, (ll)W);
    return nas_node_err(c, NAS_EGRAPH,
                        "kernel %lldx%lld with dilation %lld spans %lldx%lld, larger than its "
                        "%lldx%lld input", (ll)k, (ll)k, (ll)d, (ll)ek, (ll)ek, (ll)H, (ll)W);
  }
  int64_t hp = nas_addc(H, nas_mulc(2, p)), wp = nas_addc(W, nas_mulc(2, p));
  if (hp < 0 || wp < 0)
    return nas_node_err(c, NAS_EGRAPH, "padding %lld is too large", (ll)p);
  *ho = (hp - ek) / s + 1;
  *wo = (wp - ek) / s + 1;
  if (*ho < 1 || *wo < 1)
    return nas_node_err(c, NAS_EGRAPH, "output would be %lldx%lld", (ll)*ho, (ll)*wo);
  return NAS_OK;
}

static nas_status shape_conv(nas_shape_ctx *c) {
  const nas_node *in = input0(c);
  nas_status st = need_chw(c, in);
  if (st) return st;
  conv_args a;
  conv_args_get(c->n, &a);
  if (a.p == PAD_SAME && a.k % 2 == 0)
    return nas_node_err(c, NAS_EGRAPH,
                        "padding 'same' needs an odd kernel, got k=%lld; give padding=N", (ll)a.k);
  int64_t cin = in->dims[0];
  if (a.g > 0 && (cin % a.g != 0 || a.out % a.g != 0))
    return nas_node_err(c, NAS_EGRAPH,
                        "groups %lld must divide the input channels (%lld) and out (%lld)",
                        (ll)a.g, (ll)cin, (ll)a.out);
  int64_t ho = 0, wo = 0;
  st = window_out(c, in, a.k, a.s, nas_node_padding(c->n), a.d, &ho, &wo);
  if (st) return st;
  c->n->ndim = 3;
  c->n->dims[0] = a.out;
  c->n->dims[1] = ho;
  c->n->dims[2] = wo;
  return NAS_OK;
}

static int64_t params_conv(const nas_node *const *in, const nas_node *n) {
  conv_args a;
  conv_args_get(n, &a);
  int64_t cin = in[0]->dims[0], kk = nas_mulc(a.k, a.k);
  int64_t bias = a.bias ? a.out : 0;
  if (a.g > 0) /* out * (C_in/g) * k * k + bias */
    return nas_addc(nas_mulc(nas_mulc(a.out, cin / a.g), kk), bias);
  /* depthwise C_in*k*k (no bias) + pointwise C_in*out (+ bias) */
  return nas_addc(nas_addc(nas_mulc(cin, kk), nas_mulc(cin, a.out)), bias);
}

static int64_t flops_conv(const nas_node *const *in, const nas_node *n) {
  conv_args a;
  conv_args_get(n, &a);
  int64_t cin = in[0]->dims[0], kk = nas_mulc(a.k, a.k);
  int64_t hw = nas_mulc(n->dims[1], n->dims[2]);
  if (a.g > 0) return nas_mulc(nas_mulc(hw, a.out), nas_mulc(cin / a.g, kk));
  return nas_addc(nas_mulc(hw, nas_mulc(cin, kk)), nas_mulc(hw, nas_mulc(cin, a.out)));
}

/* ---- pools --------------------------------------------------------------- */

static nas_status shape_pool(nas_shape_ctx *c) {
  const nas_node *in = input0(c);
  nas_status st = need_chw(c, in);
  if (st) return st;
  nas_aval *a = c->n->a;
  int64_t k = a[PL_K].i;
  if (a[PL_STRIDE].i < 0) a[PL_STRIDE].i = k; /* default stride = k */
  if (a[PL_PAD].i == PAD_SAME && k % 2 == 0)
    return nas_node_err(c, NAS_EGRAPH,
                        "padding 'same' needs an odd kernel, got k=%lld; give padding=N", (ll)k);
  int64_t p = nas_node_padding(c->n);
  if (p > k / 2)
    return nas_node_err(c, NAS_EGRAPH, "padding %lld is more than half the kernel (k=%lld)",
                        (ll)p, (ll)k);
  int64_t ho = 0, wo = 0;
  st = window_out(c, in, k, a[PL_STRIDE].i, p, 1, &ho, &wo);
  if (st) return st;
  c->n->ndim = 3;
  c->n->dims[0] = in->dims[0];
  c->n->dims[1] = ho;
  c->n->dims[2] = wo;
  return NAS_OK;
}

/* ---- single-input shape rules ------------------------------------------- */

static nas_status shape_same(nas_shape_ctx *c) {
  const nas_node *in = input0(c);
  c->n->ndim = in->ndim;
  memcpy(c->n->dims, in->dims, sizeof in->dims);
  return NAS_OK;
}

static nas_status shape_linear(nas_shape_ctx *c) {
  const nas_node *in = input0(c);
  char s[64];
  if (in->ndim != 1)
    return nas_node_err(c, NAS_EGRAPH,
                        "input is %s (C,H,W); linear needs a vector {F}: add flatten or gap first",
                        nas_shape_str(s, sizeof s, in->ndim, in->dims));
  c->n->ndim = 1;
  c->n->dims[0] = c->n->a[LN_OUT].i;
  return NAS_OK;
}

static int64_t params_linear(const nas_node *const *in, const nas_node *n) {
  int64_t f = in[0]->dims[0], out = n->a[LN_OUT].i;
  return nas_addc(nas_mulc(f, out), n->a[LN_BIAS].i ? out : 0);
}

static int64_t flops_linear(const nas_node *const *in, const nas_node *n) {
  return nas_mulc(in[0]->dims[0], n->a[LN_OUT].i);
}

static int64_t params_bn(const nas_node *const *in, const nas_node *n) {
  return n->a[BN_AFFINE].i ? nas_mulc(2, in[0]->dims[0]) : 0;
}

static nas_status shape_gap(nas_shape_ctx *c) {
  const nas_node *in = input0(c);
  nas_status st = need_chw(c, in);
  if (st) return st;
  c->n->ndim = 1;
  c->n->dims[0] = in->dims[0];
  return NAS_OK;
}

/* {C,H,W} -> {C*H*W}; a {F} input passes through unchanged. */
static nas_status shape_flatten(nas_shape_ctx *c) {
  const nas_node *in = input0(c);
  c->n->ndim = 1;
  c->n->dims[0] = in->numel;
  return NAS_OK;
}

static nas_status shape_zero(nas_shape_ctx *c) {
  const nas_node *in = input0(c);
  int64_t s = c->n->a[ZR_STRIDE].i;
  if (s == 1) return shape_same(c);
  nas_status st = need_chw(c, in);
  if (st) return st;
  c->n->ndim = 3;
  c->n->dims[0] = in->dims[0];
  c->n->dims[1] = (in->dims[1] - 1) / s + 1; /* ceil(H / s) without overflow for any s */
  c->n->dims[2] = (in->dims[2] - 1) / s + 1;
  return NAS_OK;
}

/* ---- merge rules --------------------------------------------------------- */

static int same_shape(const nas_node *a, const nas_node *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

static nas_status merge_err(const nas_shape_ctx *c, int i, const char *rule) {
  char sa[64], sb[64];
  const nas_node *a = input0(c), *b = c->in[i];
  return nas_node_err(c, NAS_EGRAPH, "input %d (node %d) is %s but input 0 (node %d) is %s; %s",
                      i, nas_label(c, c->n->in[i]), nas_shape_str(sb, sizeof sb, b->ndim, b->dims),
                      nas_label(c, c->n->in[0]), nas_shape_str(sa, sizeof sa, a->ndim, a->dims),
                      rule);
}

static nas_status shape_add(nas_shape_ctx *c) {
  for (int i = 1; i < c->n->nin; i++)
    if (!same_shape(input0(c), c->in[i]))
      return merge_err(c, i, "add needs equal shapes");
  return shape_same(c);
}

static nas_status shape_mixed(nas_shape_ctx *c) {
  for (int i = 1; i < c->n->nin; i++)
    if (!same_shape(input0(c), c->in[i]))
      return merge_err(c, i, "mixed needs equal shapes (its inputs are one decision's candidate ops)");
  return shape_same(c);
}

static nas_status shape_concat(nas_shape_ctx *c) {
  const nas_node *a = input0(c);
  int64_t sum = a->dims[0];
  for (int i = 1; i < c->n->nin; i++) {
    const nas_node *b = c->in[i];
    if (b->ndim != a->ndim)
      return merge_err(c, i, "concat needs inputs of the same rank");
    if (a->ndim == 3 && (a->dims[1] != b->dims[1] || a->dims[2] != b->dims[2]))
      return merge_err(c, i, "concat needs equal H,W");
    sum = nas_addc(sum, b->dims[0]);
  }
  if (sum < 0) return nas_node_err(c, NAS_EGRAPH, "joined size overflows");
  shape_same(c);
  c->n->dims[0] = sum;
  return NAS_OK;
}

static nas_status shape_mul(nas_shape_ctx *c) {
  const nas_node *a = input0(c), *b = c->in[1];
  int ok = same_shape(a, b) || (a->ndim == 3 && b->ndim == 1 && b->dims[0] == a->dims[0]);
  if (!ok) {
    char rule[96];
    if (a->ndim == 3)
      snprintf(rule, sizeof rule, "mul needs b of a's shape or {C} with C=%lld", (ll)a->dims[0]);
    else
      snprintf(rule, sizeof rule, "mul needs b of a's shape");
    return merge_err(c, 1, rule);
  }
  return shape_same(c);
}

/* ---- the table ----------------------------------------------------------- */

#define CONV_HEAD AI("out", 1, NAS_CHK_POS, 0), AI("k", 1, NAS_CHK_POS, 0), \
                  AI("stride", 0, NAS_CHK_POS, 1), AI("padding", 0, NAS_CHK_PAD, PAD_SAME)
#define ACT(nm) {nm, 1, 1, 0, 0, 0, {{0}}, shape_same, NULL, NULL}
#define POOL(nm)                                                                           \
  {nm, 1, 1, 3, 0, 0,                                                                      \
   {AI("k", 1, NAS_CHK_POS, 0), AI("stride", 0, NAS_CHK_POS, -1), AI("padding", 0, NAS_CHK_PAD, 0)}, \
   shape_pool, NULL, NULL}

const nas_op_info nas_op_table[] = {
  [NAS_OP_INPUT] = {"input", 0, 0, 0, 0, 0, {{0}}, NULL, NULL, NULL},
  [NAS_OP_CONV] = {"conv", 1, 1, 7, 1, 0,
                   {CONV_HEAD, AI("dilation", 0, NAS_CHK_POS, 1), AI("groups", 0, NAS_CHK_POS, 1),
                    AI("bias", 0, NAS_CHK_BOOL, 1)},
                   shape_conv, params_conv, flops_conv},
  [NAS_OP_SEP_CONV] = {"sep_conv", 1, 1, 5, 1, 0, {CONV_HEAD, AI("bias", 0, NAS_CHK_BOOL, 0)},
                       shape_conv, params_conv, flops_conv},
  [NAS_OP_DIL_CONV] = {"dil_conv", 1, 1, 6, 1, 0,
                       {CONV_HEAD, AI("dilation", 0, NAS_CHK_POS, 2), AI("bias", 0, NAS_CHK_BOOL, 0)},
                       shape_conv, params_conv, flops_conv},
  [NAS_OP_LINEAR] = {"linear", 1, 1, 2, 1, 0,
                     {AI("out", 1, NAS_CHK_POS, 0), AI("bias", 0, NAS_CHK_BOOL, 1)},
                     shape_linear, params_linear, flops_linear},
  [NAS_OP_BN] = {"bn", 1, 1, 3, 0, 0,
                 {AI("affine", 0, NAS_CHK_BOOL, 1), AF("eps", NAS_CHK_POSF, 1e-5),
                  AF("momentum", NAS_CHK_UNIT, 0.1)},
                 shape_same, params_bn, NULL},
  [NAS_OP_RELU] = ACT("relu"),
  [NAS_OP_RELU6] = ACT("relu6"),
  [NAS_OP_SIGMOID] = ACT("sigmoid"),
  [NAS_OP_HSWISH] = ACT("hswish"),
  [NAS_OP_MAXPOOL] = POOL("maxpool"),
  [NAS_OP_AVGPOOL] = POOL("avgpool"),
  [NAS_OP_GAP] = {"gap", 1, 1, 0, 0, 0, {{0}}, shape_gap, NULL, NULL},
  [NAS_OP_FLATTEN] = {"flatten", 1, 1, 0, 0, 0, {{0}}, shape_flatten, NULL, NULL},
  [NAS_OP_DROPOUT] = {"dropout", 1, 1, 1, 0, 0, {AF("p", NAS_CHK_PROB, 0.5)}, shape_same, NULL, NULL},
  [NAS_OP_IDENTITY] = ACT("identity"),
  [NAS_OP_ZERO] = {"zero", 1, 1, 1, 0, 0, {AI("stride", 0, NAS_CHK_POS, 1)}, shape_zero, NULL, NULL},
  [NAS_OP_ADD] = {"add", 2, NAS_MAX_INPUTS, 0, 0, 1, {{0}}, shape_add, NULL, NULL},
  [NAS_OP_CONCAT] = {"concat", 2, NAS_MAX_INPUTS, 0, 0, 0, {{0}}, shape_concat, NULL, NULL},
  [NAS_OP_MUL] = {"mul", 2, 2, 0, 0, 0, {{0}}, shape_mul, NULL, NULL},
  [NAS_OP_MIXED] = {"mixed", 1, NAS_MAX_INPUTS, 1, 0, 0, {AI("decision", 1, NAS_CHK_NONNEG, 0)},
                    shape_mixed, NULL, NULL},
  ACT("silu"),
};

/* ---- public accessors ---------------------------------------------------- */

const int nas_op_table_count = (int)(sizeof nas_op_table / sizeof nas_op_table[0]);

int nas_op_count(void) { return nas_op_table_count; }

static int valid_op(nas_op op) { return (int)op >= 0 && (int)op < nas_op_table_count; }
static int valid_attr(nas_op op, int i) {
  return valid_op(op) && i >= 0 && i < nas_op_table[op].nattrs;
}

const char *nas_op_name(nas_op op) { return valid_op(op) ? nas_op_table[op].name : NULL; }

int nas_op_lookup(const char *name) {
  if (!name) return -1;
  for (int i = 0; i < nas_op_table_count; i++)
    if (name[0] == nas_op_table[i].name[0] && strcmp(name, nas_op_table[i].name) == 0) return i;
  return -1;
}

int nas_op_attr_count(nas_op op) { return valid_op(op) ? nas_op_table[op].nattrs : 0; }
const char *nas_op_attr_key(nas_op op, int i) {
  return valid_attr(op, i) ? nas_op_table[op].attrs[i].key : NULL;
}
nas_attr_kind nas_op_attr_kind(nas_op op, int i) {
  return valid_attr(op, i) ? nas_op_table[op].attrs[i].kind : (nas_attr_kind)0;
}
int nas_op_attr_required(nas_op op, int i) {
  return valid_attr(op, i) ? nas_op_table[op].attrs[i].required : 0;
}
int64_t nas_op_attr_default_int(nas_op op, int i) {
  if (!valid_attr(op, i)) return 0;
  const nas_attr_spec *s = &nas_op_table[op].attrs[i];
  return s->kind == NAS_ATTR_KIND_FLOAT ? (int64_t)s->df : s->di;
}
double nas_op_attr_default_float(nas_op op, int i) {
  if (!valid_attr(op, i)) return 0.0;
  const nas_attr_spec *s = &nas_op_table[op].attrs[i];
  return s->kind == NAS_ATTR_KIND_FLOAT ? s->df : (double)s->di;
}
int nas_op_min_inputs(nas_op op) { return valid_op(op) ? nas_op_table[op].min_in : 0; }
int nas_op_max_inputs(nas_op op) { return valid_op(op) ? nas_op_table[op].max_in : 0; }

int nas_op_attr_index(nas_op op, const char *key) {
  if (!valid_op(op) || !key) return -1;
  const nas_op_info *oi = &nas_op_table[op];
  for (int i = 0; i < oi->nattrs; i++)
    if (strcmp(oi->attrs[i].key, key) == 0) return i;
  return -1;
}
