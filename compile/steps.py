"""The build steps: each a function (ModelWrapper, BuildConfig) -> ModelWrapper, in FINN's own order.

They call finn-plus's public transformations the way its builder (finn/builder/build_dataflow_steps.py)
does; that module itself cannot be imported without Vivado, hence this small driver. Steps that differ
from FINN's defaults say so in their docstring.
"""
from __future__ import annotations

import json
from collections.abc import Callable


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
    becomes the integer codes io.json describes, followed by the dequantisation that streamlining
    folds into the first layer's thresholds (compile/transforms/detach_input_quant.py). A polyphase
    view of the input (P samples per clock, compile/transforms/inputview.py) moves to the host too."""
    from .transforms.detach_input_quant import DetachInputQuant, InputQuantError
    from .transforms.inputview import InputViewError, MoveViewToHost

    try:
        model = model.transform(DetachInputQuant(cfg.io.quant))
        return model.transform(MoveViewToHost())
    except (InputQuantError, InputViewError) as e:
        raise StepError("detach_input_quant", str(e)) from None


# ---- 2-5. FINN front end -------------------------------------------------------------------
def step_qonnx_to_finn(model, cfg: BuildConfig):
    """FINN's step_qonnx_to_finn: QONNX cleanup, then Quant nodes to MultiThreshold (<= 8 bit).
    Differs from FINN: the MultiThreshold of a signed activation quantizer is annotated with the
    unsigned range it really computes until its sign bias is absorbed
    (compile/transforms/multithreshold_range.py)."""
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from finn.transformation.qonnx.quant_act_to_multithreshold import (
        default_filter_function_generator,
    )
    from qonnx.util.cleanup import cleanup_model

    from .transforms.multithreshold_range import AnnotateMultiThresholdRange

    if not any(model.get_nodes_by_op_type(t) for t in ("BipolarQuant", "BinaryQuant", "Quant", "Trunc")):
        return model
    model = cleanup_model(model)
    model = model.transform(
        ConvertQONNXtoFINN(filter_function=default_filter_function_generator(max_multithreshold_bit_width=8))
    )
    return model.transform(AnnotateMultiThresholdRange())


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
    from .transforms.streamline_joins import StreamlineExhaustively, StreamlineForksAndJoins
    from .transforms.transposes import NHWCCleanup

    model = model.transform(absorb.AbsorbScalarBiasIntoMultiThreshold())
    model = model.transform(Streamline())
    if model.get_nodes_by_op_type("Conv"):
        model = model.transform(LowerConvsToMatMul())
        model = model.transform(NHWCCleanup())
    model = model.transform(ConvertBipolarMatMulToXnorPopcount())
    model = model.transform(Streamline())
    model = model.transform(absorb.AbsorbScalarMulAddIntoTopK())
    model = model.transform(StreamlineForksAndJoins())
    model = model.transform(RescaleResidualAdds())  # before StreamlinePlus, which they would otherwise call for
    model = model.transform(StreamlineExhaustively())
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


def step_minimize_bit_width_initial(model, cfg: BuildConfig):
    """finn-plus's first bit-width pass, right after convert_to_hw, so that specialisation and
    folding see real widths instead of 32-bit placeholders (compile/transforms/minimize_bit_width.py)."""
    from .transforms.minimize_bit_width import MinimizeBitWidths

    return model.transform(MinimizeBitWidths())


# ---- 8. dataflow partition -------------------------------------------------------------------
def step_create_dataflow_partition(model, cfg: BuildConfig):
    """FINN's step_create_dataflow_partition: the HW layers go into one StreamingDataflowPartition
    (the accelerator, the artefact of this and later steps); the rest stays in the parent graph
    (dataflow_parent.onnx), which runs on the host: the input transpose to channels-last before,
    the float dequantisation tail after. accelerator.json describes both sides of that boundary."""
    from finn.analysis.fpgadataflow.unsupported_layers import unsupported_layers
    from finn.transformation.fpgadataflow.create_dataflow_partition import CreateDataflowPartition
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from .analysis import float_layer_hints, host_ops
    from .transforms.inputview import polyphase_of

    unmapped = [n for n in model.graph.node if not n.domain.startswith("finn.custom_op.fpgadataflow")]
    ok, first_bad = model.analysis(unsupported_layers)
    if ok is False:
        hints = model.analysis(float_layer_hints)["hints"]
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
        "host": parent.analysis(host_ops),
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
    from .transforms.minimize_bit_width import MinimizeBitWidths

    return model.transform(MinimizeBitWidths())


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
