"""Body-based routing in Envoy itself: a Lua filter that copies the JSON body's `model` into a header,
as the gateway's body-based router (BBR) does, so routes can pick the pool by model name."""

from __future__ import annotations

from typing import Any

from infgw.envoy.bootstrap import ENVOY_TYPE_URL, TYPE_KEY

MODEL_HEADER = "x-gateway-model-name"  # the header the Inference Extension's BBR sets

# body() buffers the whole request (bounded by the listener's buffer limit); the headers stay mutable
# because Lua holds header iteration until the coroutine returns, but the handle taken before body()
# is invalidated by the yield, hence the second headers() call. A client-sent header is
# dropped first: only the body decides the pool, as with BBR. The pattern reads the first "model"
# key; model names never contain quotes or backslashes (pool and adapter ids are validated).
_LUA_SOURCE = f"""
function envoy_on_request(request_handle)
  local headers = request_handle:headers()
  headers:remove("{MODEL_HEADER}")
  if headers:get(":method") ~= "POST" then
    return
  end
  local body = request_handle:body()
  if body == nil or body:length() == 0 then
    return
  end
  local model = string.match(body:getBytes(0, body:length()), '"model"%s*:%s*"([^"\\\\]+)"')
  if model ~= nil then
    request_handle:headers():replace("{MODEL_HEADER}", model)
    request_handle:clearRouteCache()
  end
end
"""


def body_router_filter() -> dict[str, Any]:
    return {
        "name": "inference.body_based_router",
        "typed_config": {
            TYPE_KEY: ENVOY_TYPE_URL + "extensions.filters.http.lua.v3.Lua",
            "default_source_code": {"inline_string": _LUA_SOURCE},
        },
    }
