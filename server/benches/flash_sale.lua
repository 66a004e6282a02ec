-- wrk script for the flash-sale benchmark: every request is a new pickup order (a fresh UUIDv7
-- client id) for one unit of the hot SKU at SH001. Set SKU in the environment.
local sku = os.getenv("SKU")
local counter = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function request()
  counter = counter + 1
  local ms = os.time() * 1000
  local t = string.format("%012x", ms)
  local id = string.format("%s-%s-7%03x-%04x-%012x", t:sub(1, 8), t:sub(9, 12),
    math.random(0, 4095), 0x8000 + (tid % 0x4000), counter)
  local body = '{"id":"' .. id .. '","fulfilment":"pickup","store":"SH001","lines":[{"sku_id":"' .. sku .. '","qty":1}]}'
  return wrk.format("POST", "/api/v1/orders", { ["Content-Type"] = "application/json" }, body)
end

