"""vLLM's OpenAI server command line, as data: every flag ``python3 -m vllm.entrypoints.openai.api_server``
accepts, with how many values it takes. The simulator accepts exactly these (plus its own options).

Source (vllm-project/vllm):
- ``vllm/engine/arg_utils.py`` at 99d7eb5d6a512cfcc5a2b104f24ebf2d6cda772b: ``EngineArgs.add_cli_args``
  (ModelConfig, LoadConfig, StructuredOutputsConfig, ParallelConfig, CacheConfig, MultiModalConfig,
  LoRAConfig, ObservabilityConfig, SchedulerConfig, CompilationConfig and VllmConfig groups) and
  ``AsyncEngineArgs.add_cli_args``.
- ``vllm/entrypoints/openai/cli_args.py`` at 789340fbad95a900ca3c467c9cee33b3d905fd61: ``FrontendArgs``
  (one flag per field) and ``make_arg_parser`` (``--headless``, ``--api-server-count``, ``--config``).

Kinds follow how vLLM registers each flag: a ``bool`` field gets ``argparse.BooleanOptionalAction``
(``--x`` and ``--no-x``), ``store_true`` flags take no value and have no ``--no-`` form, list fields
take one or more values (``nargs="+"``), ``--hf-token`` takes an optional value, the rest one value
(JSON for config-object flags, which also accept vLLM's dotted form ``--compilation-config.level 3``).
Left out: ``--external_parameters`` (registered with an underscore in that commit, so vLLM's own
parser, which turns ``_`` into ``-`` in flag names, can never match it). Update this table when the
deployed vLLM image moves to a release that adds or drops flags.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FlagKind(enum.Enum):
    BOOL = "bool"  # --x / --no-x, no value
    SWITCH = "switch"  # store_true: --x, no value, no --no-x
    VALUE = "value"  # exactly one value
    VALUES = "values"  # one or more values (nargs="+")
    OPTIONAL_VALUE = "optional value"  # zero or one value (nargs="?")


@dataclass(frozen=True)
class VllmFlag:
    name: str
    kind: FlagKind
    aliases: tuple[str, ...] = ()
    # vLLM parses these with human_readable_int: "32k" = 32,000, "32K" = 32,768.
    human_readable_int: bool = False


_B, _S, _V, _L, _O = FlagKind.BOOL, FlagKind.SWITCH, FlagKind.VALUE, FlagKind.VALUES, FlagKind.OPTIONAL_VALUE

VLLM_FLAGS: tuple[VllmFlag, ...] = (
    # --- make_arg_parser ---------------------------------------------------------------------------
    VllmFlag("--headless", _S),
    VllmFlag("--api-server-count", _V, ("-asc",)),
    VllmFlag("--config", _V),
    # --- FrontendArgs ------------------------------------------------------------------------------
    VllmFlag("--host", _V),
    VllmFlag("--port", _V),
    VllmFlag("--uds", _V),
    VllmFlag("--uvicorn-log-level", _V),
    VllmFlag("--disable-uvicorn-access-log", _B),
    VllmFlag("--allow-credentials", _B),
    VllmFlag("--allowed-origins", _V),
    VllmFlag("--allowed-methods", _V),
    VllmFlag("--allowed-headers", _V),
    VllmFlag("--api-key", _L),
    VllmFlag("--lora-modules", _L),
    VllmFlag("--chat-template", _V),
    VllmFlag("--chat-template-content-format", _V),
    VllmFlag("--trust-request-chat-template", _B),
    VllmFlag("--response-role", _V),
    VllmFlag("--ssl-keyfile", _V),
    VllmFlag("--ssl-certfile", _V),
    VllmFlag("--ssl-ca-certs", _V),
    VllmFlag("--enable-ssl-refresh", _B),
    VllmFlag("--ssl-cert-reqs", _V),
    VllmFlag("--root-path", _V),
    VllmFlag("--middleware", _V),
    VllmFlag("--return-tokens-as-token-ids", _B),
    VllmFlag("--disable-frontend-multiprocessing", _B),
    VllmFlag("--enable-request-id-headers", _B),
    VllmFlag("--enable-auto-tool-choice", _B),
    VllmFlag("--exclude-tools-when-tool-choice-none", _B),
    VllmFlag("--tool-call-parser", _V),
    VllmFlag("--tool-parser-plugin", _V),
    VllmFlag("--tool-server", _V),
    VllmFlag("--log-config-file", _V),
    VllmFlag("--max-log-len", _V),
    VllmFlag("--disable-fastapi-docs", _B),
    VllmFlag("--enable-prompt-tokens-details", _B),
    VllmFlag("--enable-server-load-tracking", _B),
    VllmFlag("--enable-force-include-usage", _B),
    VllmFlag("--enable-tokenizer-info-endpoint", _B),
    VllmFlag("--enable-log-outputs", _B),
    VllmFlag("--h11-max-incomplete-event-size", _V),
    VllmFlag("--h11-max-header-count", _V),
    VllmFlag("--log-error-stack", _B),
    VllmFlag("--tokens-only", _B),
    # --- ModelConfig -------------------------------------------------------------------------------
    VllmFlag("--model", _V),
    VllmFlag("--runner", _V),
    VllmFlag("--convert", _V),
    VllmFlag("--task", _V),
    VllmFlag("--tokenizer", _V),
    VllmFlag("--tokenizer-mode", _V),
    VllmFlag("--trust-remote-code", _B),
    VllmFlag("--dtype", _V),
    VllmFlag("--seed", _V),
    VllmFlag("--hf-config-path", _V),
    VllmFlag("--allowed-local-media-path", _V),
    VllmFlag("--allowed-media-domains", _L),
    VllmFlag("--revision", _V),
    VllmFlag("--code-revision", _V),
    VllmFlag("--rope-scaling", _V),
    VllmFlag("--rope-theta", _V),
    VllmFlag("--tokenizer-revision", _V),
    VllmFlag("--max-model-len", _V, human_readable_int=True),
    VllmFlag("--quantization", _V, ("-q",)),
    VllmFlag("--enforce-eager", _B),
    VllmFlag("--max-logprobs", _V),
    VllmFlag("--logprobs-mode", _V),
    VllmFlag("--disable-sliding-window", _B),
    VllmFlag("--disable-cascade-attn", _B),
    VllmFlag("--skip-tokenizer-init", _B),
    VllmFlag("--enable-prompt-embeds", _B),
    VllmFlag("--served-model-name", _L),
    VllmFlag("--config-format", _V),
    VllmFlag("--hf-token", _O),
    VllmFlag("--hf-overrides", _V),
    VllmFlag("--pooler-config", _V),
    VllmFlag("--override-pooler-config", _V),
    VllmFlag("--logits-processor-pattern", _V),
    VllmFlag("--generation-config", _V),
    VllmFlag("--override-generation-config", _V),
    VllmFlag("--enable-sleep-mode", _B),
    VllmFlag("--model-impl", _V),
    VllmFlag("--override-attention-dtype", _V),
    VllmFlag("--logits-processors", _L),
    VllmFlag("--io-processor-plugin", _V),
    # --- LoadConfig --------------------------------------------------------------------------------
    VllmFlag("--load-format", _V),
    VllmFlag("--download-dir", _V),
    VllmFlag("--safetensors-load-strategy", _V),
    VllmFlag("--model-loader-extra-config", _V),
    VllmFlag("--ignore-patterns", _L),
    VllmFlag("--use-tqdm-on-load", _B),
    VllmFlag("--pt-load-map-location", _V),
    # --- StructuredOutputsConfig (the guided-decoding flags take a value: type=bool) ---------------
    VllmFlag("--reasoning-parser", _V),
    VllmFlag("--guided-decoding-backend", _V),
    VllmFlag("--guided-decoding-disable-fallback", _V),
    VllmFlag("--guided-decoding-disable-any-whitespace", _V),
    VllmFlag("--guided-decoding-disable-additional-properties", _V),
    # --- ParallelConfig ----------------------------------------------------------------------------
    VllmFlag("--distributed-executor-backend", _V),
    VllmFlag("--pipeline-parallel-size", _V, ("-pp",)),
    VllmFlag("--tensor-parallel-size", _V, ("-tp",)),
    VllmFlag("--decode-context-parallel-size", _V, ("-dcp",)),
    VllmFlag("--data-parallel-size", _V, ("-dp",)),
    VllmFlag("--data-parallel-rank", _V, ("-dpn",)),
    VllmFlag("--data-parallel-start-rank", _V, ("-dpr",)),
    VllmFlag("--data-parallel-size-local", _V, ("-dpl",)),
    VllmFlag("--data-parallel-address", _V, ("-dpa",)),
    VllmFlag("--data-parallel-rpc-port", _V, ("-dpp",)),
    VllmFlag("--data-parallel-backend", _V, ("-dpb",)),
    VllmFlag("--data-parallel-hybrid-lb", _B),
    VllmFlag("--enable-expert-parallel", _B),
    VllmFlag("--all2all-backend", _V),
    VllmFlag("--enable-dbo", _B),
    VllmFlag("--dbo-decode-token-threshold", _V),
    VllmFlag("--dbo-prefill-token-threshold", _V),
    VllmFlag("--disable-nccl-for-dp-synchronization", _B),
    VllmFlag("--enable-eplb", _B),
    VllmFlag("--eplb-config", _V),
    VllmFlag("--expert-placement-strategy", _V),
    VllmFlag("--num-redundant-experts", _V),
    VllmFlag("--eplb-window-size", _V),
    VllmFlag("--eplb-step-interval", _V),
    VllmFlag("--eplb-log-balancedness", _B),
    VllmFlag("--max-parallel-loading-workers", _V),
    VllmFlag("--ray-workers-use-nsight", _B),
    VllmFlag("--disable-custom-all-reduce", _B),
    VllmFlag("--worker-cls", _V),
    VllmFlag("--worker-extension-cls", _V),
    VllmFlag("--enable-multimodal-encoder-data-parallel", _S),
    # --- CacheConfig -------------------------------------------------------------------------------
    VllmFlag("--block-size", _V),
    VllmFlag("--gpu-memory-utilization", _V),
    VllmFlag("--kv-cache-memory-bytes", _V, human_readable_int=True),
    VllmFlag("--swap-space", _V),
    VllmFlag("--kv-cache-dtype", _V),
    VllmFlag("--num-gpu-blocks-override", _V),
    VllmFlag("--enable-prefix-caching", _B),
    VllmFlag("--prefix-caching-hash-algo", _V),
    VllmFlag("--cpu-offload-gb", _V),
    VllmFlag("--calculate-kv-scales", _B),
    VllmFlag("--kv-sharing-fast-prefill", _B),
    VllmFlag("--mamba-cache-dtype", _V),
    VllmFlag("--mamba-ssm-cache-dtype", _V),
    VllmFlag("--mamba-block-size", _V),
    # --- MultiModalConfig --------------------------------------------------------------------------
    VllmFlag("--limit-mm-per-prompt", _V),
    VllmFlag("--enable-mm-embeds", _B),
    VllmFlag("--media-io-kwargs", _V),
    VllmFlag("--mm-processor-kwargs", _V),
    VllmFlag("--mm-processor-cache-gb", _V),
    VllmFlag("--disable-mm-preprocessor-cache", _S),
    VllmFlag("--mm-processor-cache-type", _V),
    VllmFlag("--mm-shm-cache-max-object-size-mb", _V),
    VllmFlag("--mm-encoder-tp-mode", _V),
    VllmFlag("--mm-encoder-attn-backend", _V),
    VllmFlag("--interleave-mm-strings", _B),
    VllmFlag("--skip-mm-profiling", _B),
    VllmFlag("--video-pruning-rate", _V),
    # --- LoRAConfig --------------------------------------------------------------------------------
    VllmFlag("--enable-lora", _B),
    VllmFlag("--max-loras", _V),
    VllmFlag("--max-lora-rank", _V),
    VllmFlag("--lora-extra-vocab-size", _V),
    VllmFlag("--lora-dtype", _V),
    VllmFlag("--max-cpu-loras", _V),
    VllmFlag("--fully-sharded-loras", _B),
    VllmFlag("--default-mm-loras", _V),
    # --- ObservabilityConfig -----------------------------------------------------------------------
    VllmFlag("--show-hidden-metrics-for-version", _V),
    VllmFlag("--otlp-traces-endpoint", _V),
    VllmFlag("--collect-detailed-traces", _L),
    # --- SchedulerConfig ---------------------------------------------------------------------------
    VllmFlag("--max-num-batched-tokens", _V, human_readable_int=True),
    VllmFlag("--max-num-seqs", _V),
    VllmFlag("--max-num-partial-prefills", _V),
    VllmFlag("--max-long-partial-prefills", _V),
    VllmFlag("--long-prefill-token-threshold", _V),
    VllmFlag("--num-lookahead-slots", _V),
    VllmFlag("--scheduling-policy", _V),
    VllmFlag("--enable-chunked-prefill", _B),
    VllmFlag("--disable-chunked-mm-input", _B),
    VllmFlag("--scheduler-cls", _V),
    VllmFlag("--disable-hybrid-kv-cache-manager", _B),
    VllmFlag("--async-scheduling", _B),
    # --- CompilationConfig -------------------------------------------------------------------------
    VllmFlag("--cudagraph-capture-sizes", _L),
    VllmFlag("--cuda-graph-sizes", _L),
    VllmFlag("--max-cudagraph-capture-size", _V),
    # --- VllmConfig --------------------------------------------------------------------------------
    VllmFlag("--speculative-config", _V),
    VllmFlag("--kv-transfer-config", _V),
    VllmFlag("--kv-events-config", _V),
    VllmFlag("--compilation-config", _V, ("-O",)),
    VllmFlag("--additional-config", _V),
    VllmFlag("--structured-outputs-config", _V),
    # --- other engine flags, AsyncEngineArgs ---------------------------------------------------------
    VllmFlag("--disable-log-stats", _S),
    VllmFlag("--aggregate-engine-logging", _S),
    VllmFlag("--enable-log-requests", _B),
    VllmFlag("--disable-log-requests", _B),
)
