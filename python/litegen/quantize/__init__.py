"""Quantization recipes and quantized weights for the TFLite exporter.

Exporter API
============
::

    recipe = QuantRecipe.parse("int4-b64,lm_head=int8")          # or parse_recipe(...)
    # per weight, one at a time (eager keeps the quantized arrays, lazy only the scales):
    scheme = recipe.scheme_for(names, usage)   # usage: "fully_connected" | "embedding" | "other"
    qw = quantize(array, scheme, name, lazy=True)  # -> QuantizedWeight (data, scales, stats)
    stored = qw.add_to(model_writer)           # buffers added once per model -> StoredWeight
    # in every subgraph that reads it (prefill, decode...):
    w = stored.constant(sg)                    # FULLY_CONNECTED filter input (TensorHandle)
    rows = stored.lookup(sg, ids, "h")         # embedding rows, float32 [len(ids), dim]
    report.add(qw)                             # QuantReport: sizes + worst errors

* ``QuantRecipe.scheme_for(names: str | Iterable[str], usage="fully_connected")
  -> QuantScheme``: ``names`` is the parameter name, or all names of a tied weight
  (``["tok_embedding.weight", "lm_head.weight"]``). ``"other"`` (norms, biases, rope
  tables) is always fp32. ``recipe.quantize(array, names, usage)`` does both steps.
* ``quantize(array: np.ndarray, scheme: QuantScheme | str, name: str, *, stats=True,
  lazy=False, on_bytes=None) -> QuantizedWeight``: dimension 0 is the output channel (``[out, in]``
  like ``nn.Linear.weight``) or the table row (``[vocab, dim]``). Eager: allocates only
  its outputs plus ~3 MB of temporaries. ``lazy=True``: validates and computes the
  scales now (one cheap pass) and encodes the data chunk by chunk while the file is
  written - the quantized copy never exists in full; ``array`` must stay alive and
  unchanged until then, ``stats`` appear after the write, ``on_bytes(n)`` reports
  progress. int8 costs ~4-5 s per 1.1G parameters on one core (``stats=False``: ~3 s;
  lazy: ~1 s of it at conversion, the rest while writing); pure, so weights may be
  quantized on several threads.
  Raises :class:`QuantizationError` (an ``ExportError``) naming the weight for NaN/inf,
  float16 overflow, or an int4 block size that does not divide the row.
* ``QuantizedWeight.add_to(model: ModelWriter) -> StoredWeight`` is idempotent per model,
  so a weight read by several subgraphs (or tied lm_head + embedding, when both usages
  resolve to the same scheme) is stored once: ``StoredWeight.buffers``.
* ``StoredWeight.constant(sg, name=None) -> TensorHandle``: the filter operand; int8 /
  int4 constants are read by FULLY_CONNECTED directly (dynamic range), fp16 and
  int8-weight-only get a DEQUANTIZE whose float32 output is returned. Created once per
  subgraph, named ``<name>:<scheme>`` (+ ``/scales``, ``/float32``) so they cannot clash
  with the exporter's names. ``stored_tensor(sg)`` gives the raw stored constant.
* ``fully_connected_options(scheme) -> schema.FullyConnectedOptionsT``: use it for the
  FC reading the weight (sets ``asymmetric_quantize_inputs`` for dynamic range, which
  makes TFLite's builtin hybrid kernel as accurate as XNNPack's).
* ``StoredWeight.lookup(sg, ids, name) -> TensorHandle``: ``ids`` 1-D int32; GATHER for
  fp32, GATHER + DEQUANTIZE for fp16, EMBEDDING_LOOKUP (hybrid / blockwise) otherwise.
* ``QuantizedWeight.dequantize()`` is exactly what the kernels compute with (reference for
  tests); ``.stored_values()`` the bytes as written; ``.stats`` (:class:`QuantStats`)
  max / RMS errors for reports.

Ready-made hook: :class:`RecipeWeights` (:mod:`litegen.quantize.hook`) implements the
exporter's ``litegen.export.weights.WeightRecipe`` protocol (``fully_connected(model, sg,
names, weight)`` / ``embedding(model, sg, names, table, ids, out_name)``, None = keep
fp32) on top of the calls above, lazy by default: ``RecipeWeights("int4,lm_head=int8")``
(``.is_float``: nothing to do), and ``.report`` after the write.

Schemes (see :mod:`litegen.quantize.schemes`): ``fp32`` (``none``), ``fp16``, ``int8``
(dynamic range), ``int8-weight-only``, ``int4`` = ``int4-b32``, ``int4-b64``,
``int4-b128`` (blockwise, any multiple of 32), ``int4-ch`` (int4 per channel).

What runs on XNNPack (ai-edge-litert 2.3.0, measured through litegen.runtime)
==============================================================================
FULLY_CONNECTED 2048x2048, float32 activations, 2 threads, ms per run; decode = 1 row,
prefill = 64 rows; each cell the best of several runs of ``python -m
tests.quantize.measure_forms`` on a shared 2-core Sapphire Rapids VM (load 3-7: single
runs vary up to 2x). "builtin" = the ai_edge_litert interpreter without XNNPack
(BUILTIN_WITHOUT_DEFAULT_DELEGATES): the speed of a silent fallback.

=================  =========  =======  ======  =======  ==============  ===============
scheme             XNNPack    file MB  decode  prefill  builtin decode  builtin prefill
=================  =========  =======  ======  =======  ==============  ===============
fp32               all ops    16.8     0.56    4.5      0.60            16
fp16 (+DEQUANT.)   all ops    8.4      0.55    4.2      0.59            16
int8 (hybrid)      all ops    4.2      0.17    0.50     0.17            12
int8-weight-only   all ops    4.2      0.60    4.2      0.59            16
int4-ch            all ops    2.2      0.11    0.53     0.15            7.9
int4-b32           all ops    2.4      0.07    2.3      11              690
int4-b64           all ops    2.2      0.064   1.9      13              1270
int4-b128          all ops    2.2      0.056   1.7      18              1210
=================  =========  =======  ======  =======  ==============  ===============

Findings behind the emitted forms:

* Dynamic range (int8, int4-ch, int4-bN): XNNPack quantizes each activation row to int8
  on the fly (asymmetric, qd8) and runs qc8w / qc4w / qb4w GEMMs: decode (a GEMV, bound
  by weight bytes) 3-10x faster than fp32, prefill 2-9x. For 1-row decode TFLite's
  builtin int8/int4-ch hybrid kernels are as fast; XNNPack wins 15-25x on prefill.
  int4-ch has the fastest prefill but the largest weight error (rms ~13% vs ~10% for
  b32); blockwise int4 decodes fastest.
* Blockwise int4 (``BlockwiseQuantization``): XNNPack accepts it only with a **float16**
  scales tensor ``[out, in / block]``, no zero points (symmetric), block a multiple of
  32. float32 scales pass compilation but fail at the first run. XNNPack converts the
  scales to **bfloat16**, so ours are rounded up to values exact in both formats
  (otherwise the weights computed with would drift up to 0.4% from ``dequantize()``).
  Scales must be normal numbers (zero/subnormal ones reject the whole tensor): they
  are clamped. The builtin blockwise FC is 150-700x slower: never let it fall back.
* fp16 and int8-weight-only: XNNPack folds the DEQUANTIZE and unpacks the weights to
  float32 when packing (the weight cache holds 4 bytes per weight), so they only shrink
  the file - same speed and memory as fp32 at run time. An fp16 filter without
  DEQUANTIZE is rejected by TFLite's FC kernel (not a valid form).
* Embedding lookups: XNNPack has no GATHER / EMBEDDING_LOOKUP, so **a model with a lookup
  is never** ``fully_accelerated``; the builtin kernels copy only the requested rows
  (microseconds). EMBEDDING_LOOKUP reads int8 / int4 per-row (hybrid) and blockwise int4
  tables exactly; it silently misreads float16 tables, hence GATHER + DEQUANTIZE there.
  GATHER + DEQUANTIZE on a per-row int8 table is silently wrong too (the scales follow
  output positions, not the rows gathered): per-row tables need EMBEDDING_LOOKUP.
* Both signatures share one stored copy in the file and, with the weight cache, one
  packed copy in memory, for every form.
* Every form also runs on the stock interpreter (builtin kernels), for portable exports.

The fast form (litegen's runtime) runs int8 / int4-ch / int4-bN linear layers in its own
kernels instead: :meth:`StoredWeight.fast_linear_operands` gives the operands of the
LITEGEN_FC custom op (docs/custom_ops.md) - the same stored bytes for int8 and int4-ch,
blockwise int4 in an interleaved order with 8-bit block codes (the same weights: the block
scales are made as codes times a power of two per row), plus float32 per-channel scales and
each row's sum of dequantized values (computed while the data is encoded). Same math as
XNNPack's qd8 kernels; weights read in place, never packed (TinyLlama-1.1B int8 decode
23.5 tok/s vs 20 on XNNPack, benchmarks/RESULTS.md).
"""

from litegen.quantize.errors import QuantizationError, RecipeError
from litegen.quantize.hook import RecipeWeights
from litegen.quantize.quantizers import QuantStats
from litegen.quantize.recipe import LayerOverride, QuantRecipe, Usage, parse_recipe
from litegen.quantize.report import QuantReport, WeightReport
from litegen.quantize.schemes import (
    FP16,
    FP32,
    INT4_B32,
    INT4_B64,
    INT4_B128,
    INT4_CHANNEL,
    INT8,
    INT8_WEIGHT_ONLY,
    QuantScheme,
    WeightFormat,
    scheme_from_name,
)
from litegen.quantize.weights import (
    QuantizedWeight,
    StoredWeight,
    fully_connected_options,
    quantize,
)

__all__ = [
    "FP16",
    "FP32",
    "INT4_B32",
    "INT4_B64",
    "INT4_B128",
    "INT4_CHANNEL",
    "INT8",
    "INT8_WEIGHT_ONLY",
    "LayerOverride",
    "QuantRecipe",
    "QuantReport",
    "QuantScheme",
    "QuantStats",
    "QuantizationError",
    "QuantizedWeight",
    "RecipeError",
    "RecipeWeights",
    "StoredWeight",
    "Usage",
    "WeightFormat",
    "WeightReport",
    "fully_connected_options",
    "parse_recipe",
    "quantize",
    "scheme_from_name",
]
