-- spaces/mobilenet.lua: MobileNetV2/V3-style MBConv blocks.
--
--   local space = require "spaces.mobilenet"                        -- 1x28x28, 10 classes
--   local big = require("spaces.mobilenet").with{ input = {3, 32, 32}, classes = 100 }
--
-- Skeleton: stem conv3x3-bn-act, then one stage per entry of opts.stages
-- ({out = channels, stride = s}), then gap - linear.
-- Decisions:
--   act                  "relu6" | "hswish" for the whole net
--   depth<s>             int 1..max_depth: MBConv blocks in stage s
--   expand<s>            expansion ratio of the stage's blocks (opts.expansions)
--   kernel<s>            depthwise kernel of the stage's blocks (kernels wider than the map are not offered)
--   se<s>                bool: squeeze-excite in the stage's blocks (only if opts.se)
-- MBConv: [1x1 expand conv-bn-act] - depthwise kxk conv (groups = channels)-bn-act
-- - [squeeze-excite: gap-linear-relu-linear-sigmoid, mul] - 1x1 project conv-bn,
-- plus the input when the stride is 1 and the channels match. The first block of
-- a stage has the stage's stride.
--
-- Supernet (nas.supernet(space, { base = genotype })): expand<s> and kernel<s> are
-- the op decisions (every block holds one MBConv per expansion and kernel, joined
-- by nested mixed nodes; a stage's blocks share its two decisions); act, depths
-- and squeeze-excite come from `base` (or `fixed`).
local nas = require "nas"

local defaults = {
  input = { 1, 28, 28 },
  classes = 10,
  stem = 16,
  stages = { { out = 16, stride = 1 }, { out = 24, stride = 2 }, { out = 40, stride = 2 } },
  max_depth = 3,
  expansions = { 1, 3, 6 },
  kernels = { 3, 5 },
  se = true,       -- offer squeeze-excite per stage
  se_ratio = 4,    -- squeeze to channels / se_ratio
  acts = { "relu6", "hswish" },
}

local function act(net, kind)
  if kind == "hswish" then return net:hswish() end
  return net:relu6()
end

local function mbconv(net, x, cin, cout, stride, e, k, se, a, ratio)
  local mid = cin * e
  local h = x
  if e ~= 1 then
    net:conv{ input = h, out = mid, k = 1, padding = 0, bias = false }
    net:bn()
    h = act(net, a)
  end
  net:conv{ input = h, out = mid, k = k, stride = stride, groups = mid, bias = false }
  net:bn()
  h = act(net, a)
  if se then
    net:gap{ input = h }
    net:linear{ out = math.max(1, mid // ratio) }
    net:relu()
    net:linear{ out = mid }
    local s = net:sigmoid()
    h = net:mul{ h, s }
  end
  net:conv{ input = h, out = cout, k = 1, padding = 0, bias = false }
  local y = net:bn()
  if stride == 1 and cin == cout then y = net:add{ y, x } end
  return y
end

local function build(c, o)
  if type(o.input) ~= "table" or #o.input ~= 3 then
    error("spaces/mobilenet: option 'input' must be an image shape {C, H, W}", 0)
  end
  local net = nas.net{ input = o.input }
  local a = c:choice("act", o.acts)
  net:conv{ out = o.stem, k = 3, bias = false }
  net:bn()
  local x = act(net, a)
  local channels = o.stem
  for s, stage in ipairs(o.stages) do
    local depth = c:int("depth" .. s, 1, o.max_depth)
    local e = not c.supernet and c:choice("expand" .. s, o.expansions) or nil
    local stride = stage.stride or 1
    local size = math.min(net:shape(x)[2], net:shape(x)[3])
    size = (size + stride - 1) // stride -- the map after the stage's first block
    local fit = {}
    for _, k in ipairs(o.kernels) do
      if k <= size then fit[#fit + 1] = k end
    end
    if #fit == 0 then fit[1] = 1 end
    local k = not c.supernet and c:choice("kernel" .. s, fit) or nil
    local se = o.se and c:bool("se" .. s) or false
    for b = 1, depth do
      local bs, cin, xin = b == 1 and stride or 1, channels, x
      if c.supernet then -- every (expansion, kernel) of the stage: nested mixed nodes
        x = c:op("expand" .. s, o.expansions, function(ee)
          return c:op("kernel" .. s, fit, function(kk)
            return mbconv(net, xin, cin, stage.out, bs, ee, kk, se, a, o.se_ratio)
          end, net)
        end, net)
      else
        x = mbconv(net, x, channels, stage.out, bs, e, k, se, a, o.se_ratio)
      end
      channels = stage.out
    end
  end
  net:gap{ input = x }
  net:linear{ out = o.classes }
  return net
end

return nas.space("mobilenet", build, defaults)
