"""The build steps: each a function (ModelWrapper, BuildConfig) -> ModelWrapper, in FINN's own order.

They call finn-plus's public transformations the way its builder (finn/builder/build_dataflow_steps.py)
does; that module itself cannot be imported without Vivado, hence this small driver. Steps that differ
from FINN's defaults say so in their docstring.
"""
from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from amc_cli import CommandError

from .config import BuildConfig
from .verify import CHILD_ROLE


class StepError(CommandError, RuntimeError):
    def __init__(self, step: str, message: str):
        self.step = step
        super().__init__(f"step '{step}' failed: {message}")


# ---- 1. input quantizer to the host --------------------------------------------------------
def step_detach_input_quant(model, cfg: BuildConfig):
    """Take the input quantizer out of the accelerator (as finn-examples does): the graph input
    becomes the integer codes io.json describes, followed by the dequantisation (Sub zero point,
    Mul scale) that streamlining folds into the first layer's thresholds. The host and the driver
    quantize float I/Q with the same numbers. The graph's Quant node must agree with io.json.
    A polyphase view of the input (P samples per clock, compile/transforms/inputview.py) moves to the host too."""
    from onnx import helper
    from qonnx.core.datatype import DataType
    from qonnx.util.cleanup import cleanup_model

    from .iodesc import quant_from_graph

    model = cleanup_model(model)
    iname = model.graph.input[0].name
    consumers = model.find_consumers(iname) or []
    quants = [n for n in consumers if n.op_type == "Quant"]
    q = cfg.io.quant
    if not quants:
        dt = model.get_tensor_datatype(iname)
        if dt is not None and dt.is_integer():
            return _view_to_host(model)  # already takes integer codes
        raise StepError(
            "detach_input_quant",
            f"the graph input {iname} is float and feeds no Quant node; the accelerator needs "
            "integer input (an input quantizer in the model, described by io.json input.quant)",
        )
    if len(consumers) != 1:
        raise StepError("detach_input_quant", f"graph input {iname} feeds {len(consumers)} nodes, "
                        "expected exactly one input Quant node")
    if q is None:
        raise StepError("detach_input_quant", f"the graph quantizes its input ({quants[0].name}) but "
                        "io.json says input.quant is null")
    g = quant_from_graph(model)
    mismatch = []
    for k in ("bit_width", "signed", "narrow"):
        if getattr(g, k) != getattr(q, k):
            mismatch.append(f"{k}: graph {getattr(g, k)} vs io.json {getattr(q, k)}")
    if not np.isclose(g.scale, q.scale, rtol=1e-6, atol=0):
        mismatch.append(f"scale: graph {g.scale} vs io.json {q.scale}")
    if not np.isclose(g.zero_point, q.zero_point):
        mismatch.append(f"zero_point: graph {g.zero_point} vs io.json {q.zero_point}")
    if mismatch:
        raise StepError("detach_input_quant", "io.json input.quant disagrees with the graph's input "
                        "Quant node: " + "; ".join(mismatch))
    qn = quants[0]
    idx = list(model.graph.node).index(qn)
    model.graph.node.remove(qn)
    src, new = iname, []
    if q.zero_point != 0:
        model.set_initializer("host_in_zero_point", np.asarray(q.zero_point, dtype=np.float32))
        new.append(helper.make_node("Sub", [src, "host_in_zero_point"], ["host_in_centered"],
                                    name="HostInputZeroPoint"))
        src = "host_in_centered"
    model.set_initializer("host_in_scale", np.asarray(q.scale, dtype=np.float32))
    new.append(helper.make_node("Mul", [src, "host_in_scale"], [qn.output[0]], name="HostInputScale"))
    for i, n in enumerate(new):
        model.graph.node.insert(idx + i, n)
    model.set_tensor_datatype(iname, DataType[q.finn_datatype])
    model.set_metadata_prop("amc_input_quant", json.dumps(q.__dict__))
    return _view_to_host(cleanup_model(model))


def _view_to_host(model):
    from .transforms.inputview import InputViewError, MoveViewToHost

    try:
        return model.transform(MoveViewToHost())
    except InputViewError as e:
        raise StepError("detach_input_quant", str(e)) from None


# ---- 2-5. FINN front end -------------------------------------------------------------------
def _multithreshold_range_types(model):
    """Make each MultiThreshold's out_dtype hold what it computes.

    FINN's QONNX activation handlers (finn/transformation/qonnx/qonnx_activation_handlers.py) turn a
    signed b-bit activation Quant into MultiThreshold(out_dtype=INT<b>, out_bias=0) followed by
    Add(-2^(b-1)) and Mul(scale). The MultiThreshold counts crossed thresholds, so its output is
    [0, 2^b - 1] (e.g. [0, 255] for INT8), not the INT<b> range its annotation promises; only after
    streamlining's AbsorbScalarBiasIntoMultiThreshold moves the Add into out_bias does the annotation
    hold. Until then every pass reading the annotation (InferDataTypes, the verifier, a later
    minimisation) sees a wrong type. Here the annotation becomes the smallest integer type of the
    true range [out_bias, out_bias + n_thresholds] (out_scale 1), the same rule the absorption uses,
    which then restores the signed type when it folds the Add in."""
    from qonnx.core.datatype import DataType
    from qonnx.custom_op.registry import getCustomOp

    for node in model.get_nodes_by_op_type("MultiThreshold"):
        inst = getCustomOp(node)
        odt = DataType[inst.get_nodeattr("out_dtype")]
        scale, bias = inst.get_nodeattr("out_scale"), inst.get_nodeattr("out_bias")
        thr = model.get_initializer(node.input[1])
        if thr is None or not odt.is_integer() or odt.name == "BIPOLAR" or scale != 1.0 or int(bias) != bias:
            continue
        lo, hi = bias, bias + thr.shape[-1]
        if odt.allowed(lo) and odt.allowed(hi):
            continue
        new = (DataType.get_smallest_possible(hi) if lo >= 0
               else DataType.get_smallest_possible(min(lo, -(hi + 1))))
        inst.set_nodeattr("out_dtype", new.name)
        model.set_tensor_datatype(node.output[0], new)
    return model


def step_qonnx_to_finn(model, cfg: BuildConfig):
    """FINN's step_qonnx_to_finn: QONNX cleanup, then Quant nodes to MultiThreshold (<= 8 bit).
    Differs from FINN: the MultiThreshold of a signed activation quantizer is annotated with the
    unsigned range it really computes until its sign bias is absorbed (_multithreshold_range_types)."""
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from finn.transformation.qonnx.quant_act_to_multithreshold import (
        default_filter_function_generator,
    )
    from qonnx.util.cleanup import cleanup_model

    if not any(model.get_nodes_by_op_type(t) for t in ("BipolarQuant", "BinaryQuant", "Quant", "Trunc")):
        return model
    model = cleanup_model(model)
    model = model.transform(
        ConvertQONNXtoFINN(filter_function=default_filter_function_generator(max_multithreshold_bit_width=8))
    )
    return _multithreshold_range_types(model)


def step_tidy_up(model, cfg: BuildConfig):
    """FINN's step_tidy_up: shapes, constant folding, names, datatypes."""
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import GiveReadableTensorNames, RemoveStaticGraphInputs
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    model = model.transform(InferShapes())
    model = model.transform(FoldConstants())
    model = model.transform(GiveUniqueNodeNamesRecursive())
    model = model.transform(GiveReadableTensorNames())
    model = model.transform(InferDataTypes())
    return model.transform(RemoveStaticGraphInputs())


def step_pre_streamline_1d(model, cfg: BuildConfig):
    """For 1-D models (as finn-examples' VGG10 build): 3-D tensors (N, C, W) become 4-D (N, C, W, 1),
    since FINN's convolution lowering and HW layers are 2-D: qonnx's Change3DTo4DTensors, extended to
    the ops it refuses (Concat, global pooling: compile/transforms/lift_1d.py). qonnx 1.0.0 leaves MaxPool's
    `dilations` one-dimensional, which onnxruntime rejects: they get the second dimension here."""
    from .transforms.lift_1d import LiftError, LiftTo4D

    try:
        return model.transform(LiftTo4D())
    except LiftError as e:
        raise StepError("pre_streamline_1d", str(e)) from None


def _needs_more_streamlining(model) -> bool:
    """Float Mul/Add/Transpose left between integer layers (typical of residual joins/forks)."""
    hw_like = {"MatMul", "MultiThreshold", "Im2Col", "MaxPoolNHWC", "MaxPool", "Conv"}
    ops = [n.op_type for n in model.graph.node]
    first_hw = next((i for i, o in enumerate(ops) if o in hw_like), None)
    last_hw = max((i for i, o in enumerate(ops) if o in ("MultiThreshold",)), default=None)
    if first_hw is None or last_hw is None:
        return False
    for n in model.graph.node[first_hw:last_hw]:
        if n.op_type in ("Mul", "Add", "Sub", "Div"):
            if any(model.get_tensor_datatype(t).name == "FLOAT32" for t in list(n.input) + list(n.output)):
                return True
        elif n.op_type == "Transpose":
            # a transpose into Flatten/Reshape is the NHWC->FC hand-over RemoveCNVtoFCFlatten handles
            cons = model.find_consumers(n.output[0]) or []
            if not all(c.op_type in ("Flatten", "Reshape") for c in cons):
                return True
    return False


def step_streamline(model, cfg: BuildConfig):
    """FINN's step_streamline; then, where float scale/bias/transpose nodes remain between integer
    layers (forks and residual joins): FINN's MoveLinearPastFork / MoveLinearPastEltwiseAdd (as its
    ResNet steps), streamlining again, and layout transposes moved through forks and joins until they
    cancel (otherwise they become Shuffle layers in hardware); if that is not enough, finn-plus's
    StreamlinePlus. Residual adds of integers on two scales become exact integer adds where the sum
    meets a quantizer (compile/transforms/residual_rescale.py). Anything left is reported by
    create_dataflow_partition, naming the node."""
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.streamline import Streamline
    from qonnx.transformation.bipolar_to_xnor import ConvertBipolarMatMulToXnorPopcount
    from qonnx.transformation.general import RemoveUnusedTensors
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul

    from .transforms.branches import StreamlineBranches
    from .transforms.residual_rescale import RescaleResidualAdds
    from .transforms.transposes import NHWCCleanup, SettleTransposes

    model = model.transform(absorb.AbsorbScalarBiasIntoMultiThreshold())
    model = model.transform(Streamline())
    if model.get_nodes_by_op_type("Conv"):
        model = model.transform(LowerConvsToMatMul())
        model = model.transform(NHWCCleanup())
    model = model.transform(ConvertBipolarMatMulToXnorPopcount())
    model = model.transform(Streamline())
    model = model.transform(absorb.AbsorbScalarMulAddIntoTopK())
    if _needs_more_streamlining(model):
        # forks and residual joins: FINN's passes that move scales past them (those its ResNet
        # steps use), FINN's streamlining again, transposes settled; a few rounds at most
        from finn.transformation.streamline.reorder import (
            MoveLinearPastEltwiseAdd,
            MoveLinearPastFork,
            MoveScalarLinearPastInvariants,
        )

        for _ in range(3):
            for tr in (MoveLinearPastFork(), MoveLinearPastEltwiseAdd(), MoveScalarLinearPastInvariants()):
                model = model.transform(tr)
            model = model.transform(Streamline())
            model = model.transform(SettleTransposes())
            if not _needs_more_streamlining(model):
                break
    model = model.transform(RescaleResidualAdds())  # before StreamlinePlus, which they would otherwise call for
    if _needs_more_streamlining(model):
        # finn-plus's exhaustive residual streamliner (slow: tens of seconds on a full-size net)
        from finn.transformation.streamline.streamline_plus import StreamlinePlus

        for _ in range(2):
            model = model.transform(StreamlinePlus())
            model = model.transform(SettleTransposes())
            if not _needs_more_streamlining(model):
                break
    model = model.transform(RescaleResidualAdds())  # exact integer adds where the sum meets a quantizer
    model = model.transform(StreamlineBranches())  # forks into a Concat
    model = model.transform(InferDataLayouts())
    # a 1x1 (global-pool) NHWC->NCHW transpose before a Flatten moves no data: drop it, so that a
    # Thresholding (e.g. a classifier's own input quantizer) may follow the Flatten; otherwise
    # RemoveCNVtoFCFlatten can absorb it only into an MVAU, and it would become a Shuffle layer
    model = model.transform(absorb.AbsorbTransposeIntoFlatten())
    model = model.transform(InferDataLayouts())
    return model.transform(RemoveUnusedTensors())


# ---- 6-7. HW layers -------------------------------------------------------------------------
def _not_float(model, node) -> bool:
    return all(model.get_tensor_datatype(t).name != "FLOAT32" for t in list(node.input) + list(node.output)
               if t)


def step_convert_to_hw(model, cfg: BuildConfig):
    """FINN's step_convert_to_hw (standalone thresholds, as finn-examples' VGG10 build), except that
    float elementwise ops are left in the graph: at the output they are the dequantisation tail
    (scale, bias) that runs on the host, beside the input quantizer; in the middle they make
    create_dataflow_partition fail with the node named. A max pool over the whole input becomes our
    one-pass StreamingGlobalMaxPool (compile/transforms/global_pool.py), not a sliding window and Pool; a depthwise
    conv unrolled to several samples per step, one VVAU per output phase (compile/transforms/unrolled_depthwise.py)."""
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.fpgadataflow.convert_to_hw import (
        binary_matrix_vector_activation as bmv,
    )
    from finn.transformation.fpgadataflow.convert_to_hw import (
        concat,
        conv_inp_gen,
        duplicate_streams,
        fm_padding,
        label_select,
        pool,
        pool_from_reduce,
        requant,
        reshape,
        shuffle,
        split,
        thresholding,
        upsample,
    )
    from finn.transformation.fpgadataflow.convert_to_hw import (
        elementwise_binary_operation as ew,
    )
    from finn.transformation.fpgadataflow.convert_to_hw import (
        quantized_matrix_vector_activation as qmv,
    )
    from finn.transformation.fpgadataflow.convert_to_hw import (
        vector_vector_activation as vva,
    )
    from finn.transformation.move_reshape import RemoveCNVtoFCFlatten
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    from .transforms.global_pool import InferGlobalAccPool, InferStreamingGlobalMaxPool
    from .transforms.unrolled_depthwise import LowerUnrolledDepthwise

    def when(ops, tr):
        nonlocal model
        if any(model.get_nodes_by_op_type(o) for o in ops):
            model = model.transform(tr)

    model = model.transform(InferGlobalAccPool())  # GlobalAveragePool: FINN's GlobalAccPool, its 1/N moved on
    model = model.transform(LowerUnrolledDepthwise())  # one VVAU per output phase, not a dense MVAU of zeros
    if cfg.standalone_thresholds:
        when(["MultiThreshold", "Quant"], requant.InferRequantLayer(bitwidth_threshold=9))
        when(["MultiThreshold"], thresholding.InferThresholdingLayer())
    when(["XnorPopcountMatMul"], bmv.InferBinaryMatrixVectorActivation())
    when(["MatMul"], qmv.InferQuantizedMatrixVectorActivation())
    when(["MatMul"], vva.InferVectorVectorActivation())
    when(["TopK"], label_select.InferLabelSelectLayer())
    when(["MultiThreshold", "Quant"], requant.InferRequantLayer(bitwidth_threshold=9))
    when(["MultiThreshold"], thresholding.InferThresholdingLayer())
    when(["Pad"], fm_padding.InferFMPadding())
    when(["MaxPoolNHWC"], InferStreamingGlobalMaxPool())  # a whole-input max pool in one pass (ours)
    when(["MaxPool", "AveragePool", "MaxPoolNHWC", "QuantAvgPool2d"], pool.InferPool())
    when(["ReduceMax", "ReduceSum", "ReduceMean"], pool_from_reduce.InferPoolFromReduce())
    when(["Im2Col"], conv_inp_gen.InferConvInpGen())
    when(["ConvolutionInputGenerator"], RemoveCNVtoFCFlatten())
    when(["Concat"], concat.InferConcatLayer())
    when(["Split"], split.InferSplitLayer())
    when(["Mul", "Add", "Sub"], ew.InferElementwiseBinaryOperation(_not_float))
    when(["Upsample"], upsample.InferUpsample())
    model = model.transform(duplicate_streams.InferDuplicateStreamsLayer())
    model = model.transform(absorb.AbsorbConsecutiveTransposes())
    model = model.transform(RemoveCNVtoFCFlatten())
    model = model.transform(GiveUniqueNodeNamesRecursive())
    model = model.transform(InferDataLayouts())
    model = model.transform(InferDataTypes())
    model = model.transform(InferShapes())
    model = model.transform(reshape.InferReshape())
    when(["Transpose"], shuffle.InferShuffle())  # skips the first (input) transpose: host side
    return model


def _minimize_bit_width(model):
    """finn-plus's _minimize_bit_width, with RoundAndClipThresholds also run first. finn-plus runs
    MinimizeWeightBitWidth before any rounding and clipping (its Streamline no longer ends with
    RoundAndClipThresholds, as upstream FINN's did), and Thresholding.minimize_weight_bit_width asserts
    that a layer with an unsigned input has no negative thresholds. A signed quantizer on a non-negative
    tensor has them (an INT8 quantizer after ReLU and max pool: half its thresholds are below 0). On
    integer inputs, ceil and clip to [min, max + 1] change no output."""
    from finn.transformation.fpgadataflow.minimize_accumulator_width import MinimizeAccumulatorWidth
    from finn.transformation.fpgadataflow.minimize_weight_bit_width import MinimizeWeightBitWidth
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
    from qonnx.transformation.infer_datatypes import InferDataTypes

    model = model.transform(RoundAndClipThresholds(), apply_to_subgraphs=True)
    model = model.transform(InferDataTypes(), apply_to_subgraphs=True)
    model = model.transform(MinimizeWeightBitWidth(), apply_to_subgraphs=True)
    model = model.transform(MinimizeAccumulatorWidth(), apply_to_subgraphs=True)
    model = model.transform(InferDataTypes(), apply_to_subgraphs=True)
    model = model.transform(RoundAndClipThresholds(), apply_to_subgraphs=True)
    model = model.transform(InferDataTypes(), apply_to_subgraphs=True)
    model = model.transform(MinimizeWeightBitWidth(), apply_to_subgraphs=True)
    return model.transform(InferDataTypes(), apply_to_subgraphs=True)


def step_minimize_bit_width_initial(model, cfg: BuildConfig):
    """finn-plus's first bit-width pass, right after convert_to_hw, so that specialisation and
    folding see real widths instead of 32-bit placeholders."""
    return _minimize_bit_width(model)


# ---- 8. dataflow partition -------------------------------------------------------------------
def _host_ops(parent) -> dict:
    """The parent's non-accelerator nodes before and after the partition, with their constants."""
    from onnx import helper

    pre, post, seen_sdp = [], [], False
    for n in parent.graph.node:
        if n.op_type == "StreamingDataflowPartition":
            seen_sdp = True
            continue
        entry = {"op_type": n.op_type, "name": n.name,
                 "attributes": {a.name: helper.get_attribute_value(a) for a in n.attribute}}
        consts = {}
        for t in n.input:
            v = parent.get_initializer(t)
            if v is not None:
                consts[t] = np.asarray(v).tolist()
        if consts:
            entry["constants"] = consts
        for k, v in list(entry["attributes"].items()):
            if isinstance(v, bytes):
                entry["attributes"][k] = v.decode()
            elif isinstance(v, (list, tuple)):
                entry["attributes"][k] = [x.decode() if isinstance(x, bytes) else x for x in v]
        (post if seen_sdp else pre).append(entry)
    return {"pre": pre, "post": post}


def _join_scale_hints(model) -> list[str]:
    """Why a residual Add stayed float: its operands are integers on two different scales, and the
    streamline step could not make it exact in integers (the reason it recorded), so the model must
    quantize both operands with one quantizer. Adds it rescaled are not listed."""
    from .transforms.residual_rescale import recorded, two_scale_adds

    reasons = {o.add: o.reason for o in recorded(model) if not o.done}
    hints = []
    for n, a, b in two_scale_adds(model):
        hints.append(f"{n.name} adds {a.dtype} x {a.scale:.6g} and {b.dtype} x {b.scale:.6g}: integer operands on "
                     "different scales (ratio {:.6g}) not made exact in integers ({}), so the sum stays float; "
                     "quantize both operands of the add with one shared quantizer".format(
                         b.scale / a.scale, reasons.get(n.name, "not tried")))
    return hints


def _unquantized_input_hints(model) -> list[str]:
    """Why a layer stayed float: the model quantizes no activation before it (AaronNet32++'s depthwise
    convolutions read BatchNorm outputs directly), and FINN's HW layers take integers only."""
    bad = [n for n in model.graph.node if n.op_type in ("Im2Col", "MatMul")
           and model.get_initializer(n.input[0]) is None
           and not model.get_tensor_datatype(n.input[0]).is_integer()]
    if not bad:
        return []
    layers = sum(n.op_type == "MatMul" for n in bad)  # a convolution is Im2Col + MatMul: count it once
    return [f"{layers} layer(s) read float activations, first {bad[0].name} ({bad[0].op_type}, input "
            f"{bad[0].input[0]}): the model has no activation quantizer before them and FINN's layers need "
            "integers; quantize those activations in the model (e.g. a QuantIdentity) and export again, or insert "
            "calibrated quantizers with `python -m compile.requantize MODEL --frames FILE.h5` (changes what the "
            "model computes; it reports by how much)"]


def step_create_dataflow_partition(model, cfg: BuildConfig):
    """FINN's step_create_dataflow_partition: the HW layers go into one StreamingDataflowPartition
    (the accelerator, the artefact of this and later steps); the rest stays in the parent graph
    (dataflow_parent.onnx), which runs on the host: the input transpose to channels-last before,
    the float dequantisation tail after. accelerator.json describes both sides of that boundary."""
    from finn.analysis.fpgadataflow.unsupported_layers import unsupported_layers
    from finn.transformation.fpgadataflow.create_dataflow_partition import CreateDataflowPartition
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from .transforms.inputview import polyphase_of

    unmapped = [n for n in model.graph.node if not n.domain.startswith("finn.custom_op.fpgadataflow")]
    ok, first_bad = model.analysis(unsupported_layers)
    if ok is False:
        hints = _join_scale_hints(model) + _unquantized_input_hints(model)
        raise StepError("create_dataflow_partition",
                        f"layer(s) not mapped to HW between HW layers, starting with {first_bad.name} "
                        f"({first_bad.op_type}); all unmapped: "
                        + ", ".join(f"{n.name} ({n.op_type})" for n in unmapped)
                        + "".join(f"; {h}" for h in hints))
    parent = model.transform(CreateDataflowPartition(partition_model_dir=str(cfg.partition_dir)))
    sdps = parent.get_nodes_by_op_type("StreamingDataflowPartition")
    if len(sdps) != 1:
        raise StepError("create_dataflow_partition", f"expected one dataflow partition, got {len(sdps)}")
    sdp = getCustomOp(sdps[0])
    child = ModelWrapper(sdp.get_nodeattr("model"))
    child.set_metadata_prop("amc_role", CHILD_ROLE)
    parent.save(str(cfg.parent_path))
    ci, co = child.graph.input[0].name, child.graph.output[0].name
    info = {
        "parent": cfg.parent_path.name,
        "input": {"codes_from": cfg.io.to_dict()["input"],
                  "polyphase": polyphase_of(parent),
                  "accelerator_shape": child.get_tensor_shape(ci),
                  "accelerator_datatype": child.get_tensor_datatype(ci).name},
        "output": {"accelerator_shape": child.get_tensor_shape(co),
                   "accelerator_datatype": child.get_tensor_datatype(co).name},
        "host": _host_ops(parent),
        "note": "The host quantizes float I/Q to codes (io.json input.quant), reads them as P-sample rows "
                "(input.polyphase, compile/transforms/inputview.py; 1: as they are), runs host.pre (NCW -> "
                "channels-last), streams into the accelerator, and applies host.post to its integer "
                "output. dataflow_parent.onnx is the same, executable with qonnx.",
    }
    (cfg.out_dir / "accelerator.json").write_text(json.dumps(info, indent=2) + "\n")
    return child


# ---- 9-12. specialise, fold, minimise, decompose transposes ---------------------------------
def step_specialize_layers(model, cfg: BuildConfig):
    """FINN's step_specialize_layers (HLS or RTL variant per layer, FINN's rules for the part);
    cfg.impl_style sets preferred_impl_style per op type first (e.g. {"MVAU": "hls"}); MaxPool Pools
    become our Pool_rtl (compile/hwops) unless it asks for "hls"; so do VVAUs our VVAU_rtl off Versal, and
    integer adds of two streams our ElementwiseAdd_rtl."""
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    from .hwops import pool_impl_style
    from .hwops.elementwise_rtl import specialize_elementwise_add
    from .hwops.vvau_rtl import specialize_vvau

    for node in model.graph.node:
        style = cfg.impl_style.get(node.op_type)
        if node.op_type == "Pool":  # our Pool_rtl (compile/hwops) for MaxPool, finn-plus's HLS otherwise
            inst = getCustomOp(node)
            style = pool_impl_style(inst.get_nodeattr("Function"), inst.get_input_datatype(), style)
        if style:
            getCustomOp(node).set_nodeattr("preferred_impl_style", style)
    model = model.transform(SpecializeLayers(cfg.board.part))
    model = specialize_vvau(model, cfg.board.part, cfg.impl_style.get("VVAU"))  # VVAU_hls -> ours
    model = specialize_elementwise_add(model, cfg.board.part, cfg.impl_style.get("ElementwiseAdd"))
    model = model.transform(GiveUniqueNodeNamesRecursive())
    model = model.transform(InferShapes())
    return model.transform(InferDataTypes())


def step_folding(model, cfg: BuildConfig):
    """Parallelism (PE/SIMD). One of, by priority:
    - cfg.folding_file: FINN's step_apply_folding_config (strict: names and values are checked);
    - cfg.target_fps with folding_strategy "finn": FINN's step_target_fps_parallelization (SetFolding);
    - cfg.target_fps: the cheapest folding meeting it (compile.folding.search_cheapest);
    - otherwise: the fastest folding within cfg.budget of the board (compile.folding.search_fastest).
    Writes folding.json (FINN format, editable, re-applicable) and report/folding_search.json."""
    from . import folding as fl

    clock_hz = cfg.clock_mhz * 1e6
    limits = cfg.budget.limits(cfg.board)
    summary: dict = {}
    if cfg.folding_file is not None:
        fl.apply_folding(model, fl.load_folding(cfg.folding_file), strict=True)
        summary = {"strategy": "file", "file": str(cfg.folding_file)}
    elif cfg.target_fps is not None and cfg.folding_strategy == "finn":
        from finn.transformation.fpgadataflow.set_folding import SetFolding

        target = int(clock_hz // cfg.target_fps)
        model = model.transform(SetFolding(target, mvau_wwidth_max=cfg.mvau_wwidth_max,
                                           two_pass_relaxation=True))
        summary = {"strategy": "finn-setfolding", "target_cycles": target}
    else:
        units = fl.build_units(model, cfg.board.part, lutram_weights=cfg.lutram_weights)
        if cfg.target_fps is not None:
            res = fl.search_cheapest(units, limits, int(clock_hz // cfg.target_fps))
        else:
            res = fl.search_fastest(units, limits)
        fl.apply_choice(model, res)
        summary = res.summary(clock_hz)
    problems = fl.validate_folding(model)
    if problems:
        raise StepError("folding", "invalid folding: " + "; ".join(problems))
    fl.save_folding(fl.extract_folding(model), cfg.folding_path)
    summary["budget"] = cfg.budget.to_dict()
    (cfg.report_dir / "folding_search.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return model


def step_minimize_bit_width(model, cfg: BuildConfig):
    """FINN's step_minimize_bit_width: weight and accumulator widths, thresholds rounded and clipped."""
    return _minimize_bit_width(model)


def step_transpose_decomposition(model, cfg: BuildConfig):
    """FINN's step_transpose_decomposition (Shuffle -> inner/outer shuffles); a no-op without Shuffle."""
    if not model.get_nodes_by_op_type("Shuffle"):
        return model
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from finn.transformation.fpgadataflow.transpose_decomposition import (
        InferInnerOuterShuffles,
        ShuffleDecomposition,
    )
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    model = model.transform(ShuffleDecomposition())
    model = model.transform(InferInnerOuterShuffles())
    model = model.transform(SpecializeLayers(cfg.board.part))
    model = model.transform(InferShapes())
    model = model.transform(InferDataTypes())
    return model.transform(GiveUniqueNodeNamesRecursive())


# ---- 13-14. estimates and code generation ----------------------------------------------------
def step_estimate_reports(model, cfg: BuildConfig):
    """FINN's step_generate_estimate_reports (its analyses, its file names under report/finn/), plus
    this project's report (report.json, report.md at the build folder's root)."""
    from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.op_and_param_counts import aggregate_dict_keys, op_and_param_counts
    from finn.analysis.fpgadataflow.res_estimation import res_estimation
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles

    from .report import build_report, write_report

    d = cfg.report_dir / "finn"
    d.mkdir(parents=True, exist_ok=True)
    (d / "op_and_param_counts.json").write_text(json.dumps(model.analysis(op_and_param_counts), indent=2))
    (d / "estimate_layer_cycles.json").write_text(json.dumps(model.analysis(exp_cycles_per_layer), indent=2))
    res = model.analysis(lambda m: res_estimation(m, fpgapart=cfg.board.part))
    res["total"] = aggregate_dict_keys(res)
    (d / "estimate_layer_resources.json").write_text(json.dumps(res, indent=2))
    model = model.transform(AnnotateCycles())
    perf = dict(model.analysis(dataflow_performance))
    perf["estimated_throughput_fps"] = cfg.clock_mhz * 1e6 / perf["max_cycles"]
    perf["estimated_latency_ns"] = perf["critical_path_cycles"] * cfg.clock_period_ns
    (d / "estimate_network_performance.json").write_text(json.dumps(perf, indent=2))
    write_report(build_report(model, cfg), cfg.out_dir)
    return model


def step_hw_codegen(model, cfg: BuildConfig):
    """FINN's step_hw_codegen: PrepareIP writes each layer's HLS C++ (with its Vitis HLS tcl script)
    or fills its RTL templates, under codegen/. No Vivado needed; synthesising them does."""
    import shutil

    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive

    for old in cfg.codegen_dir.glob("code_gen_ipgen_*"):  # a rerun's sources replace the last ones
        shutil.rmtree(old)
    model = model.transform(GiveUniqueNodeNamesRecursive())
    return model.transform(PrepareIP(cfg.board.part, cfg.clock_period_ns))


StepFn = Callable[..., object]

#: The step list, in order. Names are stable: artefacts are steps/NN_<name>.onnx.
STEPS: list[tuple[str, StepFn]] = [
    ("detach_input_quant", step_detach_input_quant),
    ("qonnx_to_finn", step_qonnx_to_finn),
    ("tidy_up", step_tidy_up),
    ("pre_streamline_1d", step_pre_streamline_1d),
    ("streamline", step_streamline),
    ("convert_to_hw", step_convert_to_hw),
    ("minimize_bit_width_initial", step_minimize_bit_width_initial),
    ("create_dataflow_partition", step_create_dataflow_partition),
    ("specialize_layers", step_specialize_layers),
    ("folding", step_folding),
    ("minimize_bit_width", step_minimize_bit_width),
    ("transpose_decomposition", step_transpose_decomposition),
    ("estimate_reports", step_estimate_reports),
    ("hw_codegen", step_hw_codegen),
]
STEP_NAMES = [n for n, _ in STEPS]
