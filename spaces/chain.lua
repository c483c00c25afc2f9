-- spaces/chain.lua: a macro search space, a chain of conv blocks.
--
--   local space = require "spaces.chain"                       -- 1x28x28, 10 classes
--   local cifar = require("spaces.chain").with{ input = {3, 32, 32}, classes = 100 }
--
-- Decisions:
--   depth                      int min_depth..max_depth: number of blocks
--   width<i>, kernel<i>        per block: conv output channels, kernel size
--   down<i>                    per block, while the map is at least min_size wide:
--                              "none" | "stride" (stride-2 conv) | "maxpool" | "avgpool"
--   skip<i> (blocks 2..depth)  "none" | "add" (residual) | "concat": joins the block's
--                              input to its output; a 1x1 conv (+bn) projects the input
--                              when the channels or the size differ
--   head                       only when option `heads` lists more than one: "gap" (global
--                              average pool - linear) | "flatten" (flatten - linear: keeps
--                              where a feature is, more parameters; offered only when the
--                              last map has at most max_flatten values, e.g. 64x7x7)
-- A block is conv(k, width, bias off) - bn - relu [- pool]. The head is heads[1] (gap -
-- linear by default). Kernels wider than the current map are not offered.
--
-- Supernet (nas.supernet(space, { base = genotype })): the kernels are the op
-- decisions (every block holds one conv-bn-relu per kernel, joined by a mixed
-- node); depth, widths, downsampling, skips and head come from `base` (or `fixed`).
--   require("spaces.chain").with{ heads = { "gap", "flatten" }, widths = { 16, 32, 48, 64 } }
local nas = require "nas"

local defaults = {
  input = { 1, 28, 28 },
  classes = 10,
  min_depth = 2,
  max_depth = 6,
  widths = { 16, 32, 64 },
  kernels = { 3, 5 },
  downs = { "none", "stride", "maxpool", "avgpool" },
  skips = { "none", "add", "concat" },
  heads = { "gap" }, -- classifier heads to choose from ("gap", "flatten")
  max_flatten = 3200, -- "flatten" is offered only when the last map has at most this many values
  min_size = 8, -- no downsampling decision once the map is smaller than this
  dropout = 0,  -- dropout before the classifier (0: none)
}

local function fitting(kernels, size)
  local out = {}
  for _, k in ipairs(kernels) do
    if k <= size then out[#out + 1] = k end
  end
  if #out == 0 then out[1] = 1 end
  return out
end

-- The shortcut from x (channels cin) to a tensor shaped like the block output.
local function shortcut(net, x, cin, cout, down, how)
  local s = x
  if down == "maxpool" then
    s = net:maxpool{ input = s, k = 2 }
  elseif down == "avgpool" then
    s = net:avgpool{ input = s, k = 2 }
  end
  local stride = down == "stride" and 2 or 1
  if stride == 2 or (how == "add" and cin ~= cout) then
    s = net:conv{ input = s, out = how == "add" and cout or cin, k = 1, stride = stride, padding = 0, bias = false }
    s = net:bn{ input = s }
  end
  return s
end

local function build(c, o)
  if type(o.input) ~= "table" or #o.input ~= 3 then
    error("spaces/chain: option 'input' must be an image shape {C, H, W}", 0)
  end
  local net = nas.net{ input = o.input }
  local channels = o.input[1]
  local size = math.min(o.input[2], o.input[3])
  local x = net:input()
  for i = 1, c:int("depth", o.min_depth, o.max_depth) do
    local width = c:choice("width" .. i, o.widths)
    local kernels = fitting(o.kernels, size)
    local k = not c.supernet and c:choice("kernel" .. i, kernels) or nil
    local down = "none"
    if size >= o.min_size then down = c:choice("down" .. i, o.downs) end
    local skip = "none"
    if i > 1 then skip = c:choice("skip" .. i, o.skips) end
    local function block(kk)
      net:conv{ input = x, out = width, k = kk, stride = down == "stride" and 2 or 1, bias = false }
      net:bn()
      return net:relu()
    end
    local y
    if c.supernet then y = c:op("kernel" .. i, kernels, block, net) else y = block(k) end
    if down == "maxpool" then
      y = net:maxpool{ k = 2 }
    elseif down == "avgpool" then
      y = net:avgpool{ k = 2 }
    end
    local out_channels = width
    if skip ~= "none" then
      local s = shortcut(net, x, channels, width, down, skip)
      if skip == "add" then
        y = net:add{ y, s }
      else
        y = net:concat{ y, s }
        out_channels = width + channels
      end
    end
    x, channels = y, out_channels
    local sh = net:shape(x)
    size = math.min(sh[2], sh[3])
  end
  local head = o.heads[1]
  if #o.heads > 1 then
    local sh = net:shape(x)
    local heads, features = {}, channels * sh[2] * sh[3]
    for _, h in ipairs(o.heads) do
      if h ~= "flatten" or features <= o.max_flatten then heads[#heads + 1] = h end
    end
    if #heads == 0 then heads[1] = "gap" end
    head = c:choice("head", heads)
  end
  if head == "gap" then
    net:gap{ input = x }
  elseif head == "flatten" then
    net:flatten{ input = x }
  else
    error(("spaces/chain: unknown head '%s' (gap, flatten)"):format(tostring(head)), 0)
  end
  if o.dropout > 0 then net:dropout{ p = o.dropout } end
  net:linear{ out = o.classes }
  return net
end

return nas.space("chain", build, defaults)
