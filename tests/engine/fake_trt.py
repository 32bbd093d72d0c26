"""A stand-in for the ``tensorrt`` module (and a CUDA backend) that records every name the code touches.

It mirrors the real bindings' *shape*: class and enum names, and, per major, the removals of 11.x
(``BuilderFlag.FP16/INT8``, the calibrators). It has no TensorRT behaviour beyond a toy: the "engine"
is JSON describing the build config and the I/O tensors, and running it computes ``out = image * 0.5``
from the fake device memory — enough to test how the builder configures and how the runner moves data.
Every attribute access is recorded as ``Class.attr`` (with the arguments of calls) so a test can check
that all of them are declared in ``trt_panoptic.engine.api.TRT_API``.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnx

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export.contract import PLUGIN_FIELDS, PLUGIN_NAMESPACE, PLUGIN_VERSION
from trt_panoptic.engine.api import names_for


def GPU() -> tuple[str, str]:
    """The GPU the fake builds record: a Jetson Orin."""
    return ("Orin", "8.7")


def assert_names_declared(rec, major):
    """Every tensorrt name the code touched is in the table for this major; every call fits its params."""
    declared = {n.path: n for n in names_for(major)}
    prefixes = {p.rsplit(".", k)[0] for p in declared for k in range(p.count(".") + 1)}  # Enum of Enum.MEMBER
    touched = {n for n in rec.names if not n.startswith("FakeTensorRT")}
    assert touched - prefixes == set(), "used but not declared in TRT_API"
    for path, npos, kwargs in rec.calls:
        entry = declared[path]
        assert npos <= len(entry.params) and set(kwargs) <= set(entry.params[npos:]), (path, npos, kwargs)


class Recorder:
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.calls: list[tuple[str, int, tuple[str, ...]]] = []  # (path, positional count, keyword names)
        self.networks: list[Any] = []  # every network the builder created, for tests to inspect


def _wrap(rec: Recorder, path: str, fn: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        rec.calls.append((path, len(args), tuple(kwargs)))
        return fn(*args, **kwargs)

    return call


class _Rec:
    """Records ``Class.attr`` for each public attribute read on an instance."""

    _rec: Recorder

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if not name.startswith("_"):
            path = f"{type(self).__name__}.{name}"
            rec = object.__getattribute__(self, "_rec")
            rec.names.add(path)
            if callable(value) and not isinstance(value, FakeEnum):
                return _wrap(rec, path, value)
        return value


class _RecSet(_Rec):
    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            object.__getattribute__(self, "_rec").names.add(f"{type(self).__name__}.{name}")
        object.__setattr__(self, name, value)


class FakeEnum:
    def __init__(self, rec: Recorder, name: str, members: dict[str, int]) -> None:
        self._rec, self._name, self.__members__ = rec, name, members

    def __getattr__(self, member: str) -> Any:
        if member.startswith("_"):
            raise AttributeError(member)
        self._rec.names.add(f"{self._name}.{member}")
        if member not in self.__members__:
            raise AttributeError(f"{self._name} has no member {member}")
        return EnumValue(self._name, member, self.__members__[member])


class EnumValue(int):
    def __new__(cls, enum: str, name: str, value: int) -> "EnumValue":
        obj = super().__new__(cls, value)
        obj.enum, obj.name = enum, name
        return obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnumValue) and (self.enum, self.name) == (other.enum, other.name)

    __hash__ = int.__hash__


class FakeCuda:
    """A :class:`trt_panoptic.engine.cuda.CudaBackend` over host memory; records the order of operations.

    ``capture_fails``: TensorRT's enqueue fails inside a capture (``execute_async_v3`` returns False, as for
    an engine with work that cannot be captured). While a capture is open, freeing and synchronizing fail
    as CUDA documents (cudaStreamBeginCapture: "potentially unsafe API calls" are prohibited and return
    cudaErrorStreamCaptureUnsupported; measured so on an H200 in global mode) — so a capture left open
    breaks ``close``.
    """

    name = "fake-cuda"

    def __init__(self, gpu: tuple[str, str] = ("Orin", "8.7"), capture_fails: bool = False) -> None:
        self.gpu = gpu
        self.capture_fails = capture_fails
        self.memory: dict[int, bytearray] = {}
        self.ops: list[str] = []
        self.capturing: list | None = None
        self.pinned: set[int] = set()
        self.closed = False
        self._next = 0x1000

    def device_info(self) -> tuple[str, str]:
        return self.gpu

    def memory_info(self) -> tuple[int, int]:
        return 6 << 30, 8 << 30  # an 8 GB Orin with 6 GB free

    def malloc(self, nbytes: int) -> int:
        ptr, self._next = self._next, self._next + nbytes + 256
        self.memory[ptr] = bytearray(nbytes)
        return ptr

    def _unsafe(self, call: str) -> None:
        if self.capturing is not None:
            raise TrtPanopticError(f"CUDA call {call} should succeed, got cudaErrorStreamCaptureUnsupported")

    def free(self, ptr: int) -> None:
        self._unsafe("cudaFree")
        del self.memory[ptr]

    def host_empty(self, shape, dtype) -> np.ndarray:
        array = np.empty(shape, dtype)
        self.pinned.add(id(array))
        return array

    def host_free(self, array) -> None:
        self.pinned.discard(id(array))

    @property
    def stream_handle(self) -> int:
        return 7

    def enqueue(self, label: str, fn) -> None:
        if self.capturing is not None:
            self.capturing.append((label, fn))
        else:
            self.ops.append(label)
            fn()

    def copy_to_device_async(self, ptr: int, host: np.ndarray) -> None:
        assert id(host) in self.pinned, "H2D from a buffer that is not pinned"
        self.enqueue("h2d", lambda: self.memory[ptr].__setitem__(slice(None), host.tobytes()))

    def copy_to_host_async(self, host: np.ndarray, ptr: int) -> None:
        def copy() -> None:
            host[...] = np.frombuffer(bytes(self.memory[ptr]), host.dtype).reshape(host.shape)

        self.enqueue("d2h", copy)

    def synchronize(self) -> None:
        self._unsafe("cudaStreamSynchronize")
        self.ops.append("sync")

    def begin_capture(self) -> None:
        self.capturing = []

    def abort_capture(self) -> None:
        self.capturing = None
        self.ops.append("abort-capture")

    def end_capture(self):
        graph, self.capturing = self.capturing, None
        self.ops.append("capture")
        return graph

    def launch_graph(self, graph) -> None:
        self.ops.append("graph")
        for _, fn in graph:
            fn()

    def destroy_graph(self, graph) -> None:
        self.ops.append("destroy-graph")

    def close(self) -> None:
        self.closed = True


ONNX_TO_TRT = {"UINT8": "UINT8", "FLOAT": "FLOAT", "FLOAT16": "HALF", "INT32": "INT32", "INT64": "INT64"}
TRT_TO_NP = {"UINT8": np.uint8, "FLOAT": np.float32, "HALF": np.float16, "INT32": np.int32, "INT64": np.int64}


def make_fake_trt(version: str = "10.3.0", cuda: FakeCuda | None = None, unsupported_ops=(), plugin_ok=True,
                  build_error: str | None = None):
    """A fake ``tensorrt`` module of ``version``; returns (module, recorder).

    ``build_error``: ``build_serialized_network`` logs this message at ERROR to the builder's logger and
    returns None, as TensorRT does when a build fails (e.g. "could not find any implementation").
    """
    rec = Recorder()
    major = int(version.split(".")[0])
    builder_flags = {"DEBUG": 0, "GPU_FALLBACK": 1, "REFIT": 2, "TF32": 3}
    net_flags = {"STRONGLY_TYPED": 0}
    if major == 10:
        builder_flags.update(FP16=4, INT8=5, BF16=6, OBEY_PRECISION_CONSTRAINTS=10)
        net_flags = {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
    enums = {
        "BuilderFlag": builder_flags,
        "NetworkDefinitionCreationFlag": net_flags,
        "MemoryPoolType": {"WORKSPACE": 0, "TACTIC_DRAM": 4},
        "TensorIOMode": {"NONE": 0, "INPUT": 1, "OUTPUT": 2},
        "DataType": {k: i for i, k in enumerate(TRT_TO_NP)},
    }

    class Logger(_Rec):
        Severity = FakeEnum(rec, "Logger.Severity", {"ERROR": 1, "WARNING": 2, "INFO": 3, "VERBOSE": 4})

        def __init__(self, min_severity=None):
            self._rec = rec
            rec.calls.append(("Logger.__init__", 1 if min_severity is not None else 0, ()))

    class ILogger:
        """The bindings' abstract logger: subclasses call ``ILogger.__init__`` and implement ``log``."""

        # used by the fake itself to call log(): not recorded as a name the code uses
        Severity = FakeEnum(Recorder(), "ILogger.Severity",
                            {"INTERNAL_ERROR": 0, "ERROR": 1, "WARNING": 2, "INFO": 3, "VERBOSE": 4})

        def __init__(self):
            rec.names.add("ILogger.__init__")

    class IHostMemory(bytes):
        pass

    class ITimingCache(_Rec):
        def __init__(self, data: bytes):
            self._rec, self._data = rec, data

        def serialize(self):
            return IHostMemory(self._data + b"+timed")

    float32, float16 = (EnumValue("DataType", name, i) for i, name in enumerate(TRT_TO_NP) if name in ("FLOAT", "HALF"))

    class ITensor(_Rec):
        def __init__(self, name, shape, dtype=None):
            self._rec, self.name, self.shape, self.dtype = rec, name, shape, dtype

    class ILayer(_RecSet):
        """One layer per ONNX node, named after the node, as TensorRT's ONNX parser names them."""

        def __init__(self, node, dtype):
            # outputs named after the node's outputs, float32 in an FP32 ONNX
            self._rec, self._outputs, self._output_types = rec, [ITensor(o, (), dtype) for o in node.output], {}
            object.__setattr__(self, "name", node.name)
            object.__setattr__(self, "precision", dtype)
            object.__setattr__(self, "_precision_set", False)

        def __setattr__(self, name, value):
            if name == "precision":
                object.__setattr__(self, "_precision_set", True)
            super().__setattr__(name, value)

        @property
        def num_outputs(self):
            return len(self._outputs)

        def get_output(self, index):
            return self._outputs[index]

        def set_output_type(self, index, dtype):
            self._output_types[index] = dtype

    class INetworkDefinition(_Rec):
        def __init__(self, flags):
            self._rec, self._flags, self._inputs, self._dtypes, self._layers = rec, flags, [], {}, []

        @property
        def num_inputs(self):
            return len(self._inputs)

        def get_input(self, index):
            return self._inputs[index]

        @property
        def num_layers(self):
            return len(self._layers)

        def get_layer(self, index):
            return self._layers[index]

    class ParserError(_Rec):
        def __init__(self, index, node):
            self._rec, self._index, self._node = rec, index, node

        def desc(self):
            return f"No importer registered for op: {self._node.op_type}"

        def node_name(self):
            return self._node.name

        def node_operator(self):
            return self._node.op_type

        def node(self):
            return self._index

        def code(self):
            return 8

    class OnnxParser(_Rec):
        def __init__(self, network, logger):
            self._rec, self._network, self._errors = rec, network, []
            rec.calls.append(("OnnxParser.__init__", 2, ()))

        def parse_from_file(self, model):
            graph = onnx.load(model).graph
            for i, node in enumerate(graph.node):
                if node.op_type in unsupported_ops:
                    self._errors.append(ParserError(i, node))
            half = any(i.data_type == onnx.TensorProto.FLOAT16 for i in graph.initializer)
            self._network._layers = [ILayer(node, float16 if half else float32) for node in graph.node]
            for value in graph.input:
                dims = tuple(d.dim_value if d.dim_value > 0 else -1 for d in value.type.tensor_type.shape.dim)
                self._network._inputs.append(ITensor(value.name, dims))
                self._network._dtypes[value.name] = onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type)
            return not self._errors

        @property
        def num_errors(self):
            return len(self._errors)

        def get_error(self, index):
            return self._errors[index]

    class IOptimizationProfile(_Rec):
        def __init__(self):
            self._rec, self._shapes = rec, {}

        def set_shape(self, input, min, opt, max):
            self._shapes[input] = [list(min), list(opt), list(max)]

    class IBuilderConfig(_RecSet):
        def __init__(self):
            self._rec, self._flags_set, self._pools, self._profiles = rec, [], {}, []
            object.__setattr__(self, "builder_optimization_level", 3)
            self._timing_cache = None
            object.__setattr__(self, "int8_calibrator", None)

        def set_flag(self, flag):
            self._flags_set.append(flag.name)

        def set_memory_pool_limit(self, pool, pool_size):
            self._pools[pool.name] = pool_size

        def create_timing_cache(self, serialized_timing_cache):
            return ITimingCache(bytes(serialized_timing_cache))

        def set_timing_cache(self, cache, ignore_mismatch):
            self._timing_cache = cache
            return True

        def get_timing_cache(self):
            return self._timing_cache

        def add_optimization_profile(self, profile):
            self._profiles.append(profile._shapes)
            return len(self._profiles) - 1

    class Builder(_Rec):
        def __init__(self, logger):
            self._rec, self._logger = rec, logger
            rec.calls.append(("Builder.__init__", 1, ()))

        def create_network(self, flags=0):
            rec.networks.append(INetworkDefinition(flags))
            return rec.networks[-1]

        def create_builder_config(self):
            return IBuilderConfig()

        def create_optimization_profile(self):
            return IOptimizationProfile()

        def build_serialized_network(self, network, config):
            if build_error is not None:
                if isinstance(self._logger, ILogger):  # the real bindings call a Python subclass's log()
                    self._logger.log(ILogger.Severity.ERROR, build_error)
                return None
            calib = None
            if object.__getattribute__(config, "int8_calibrator") is not None:
                c = object.__getattribute__(config, "int8_calibrator")
                calib = {"batch": c.get_batch_size(), "cache": bytes(c.read_calibration_cache()).decode()}
            io = [{"name": t.name, "mode": "INPUT", "dtype": ONNX_TO_TRT[network._dtypes[t.name]], "shape": list(t.shape)}
                  for t in network._inputs]
            io.append({"name": "out", "mode": "OUTPUT", "dtype": "FLOAT", "shape": list(network._inputs[0].shape)})
            plan = {
                "network_flags": network._flags, "flags": config._flags_set, "pools": config._pools,
                "opt_level": object.__getattribute__(config, "builder_optimization_level"),
                "profiles": config._profiles, "calibrator": calib, "io": io,
            }
            return IHostMemory(json.dumps(plan).encode())

    class IPluginRegistry(_Rec):
        """The process-wide registry. ``load_library`` is documented (tensorrt 10.3 and 11.4 bindings,
        IPluginRegistry.load_library): "The call will fail and return None if any of the plugins are already
        registered." A library here holds our three plugins (export.contract.PLUGIN_FIELDS)."""

        def __init__(self):
            self._rec, self._loaded, self._creators = rec, [], set()

        def load_library(self, plugin_path):
            self._loaded.append(plugin_path)
            ours = {(name, PLUGIN_VERSION, PLUGIN_NAMESPACE) for name in PLUGIN_FIELDS}
            if not plugin_ok or ours & self._creators:
                return None
            self._creators |= ours
            return object()

        def get_creator(self, type, version, plugin_namespace=""):  # noqa: A002 — the binding's parameter name
            return object() if (type, version, plugin_namespace) in self._creators else None

    registry = IPluginRegistry()

    def init_libnvinfer_plugins(logger, namespace):
        """libnvinfer_plugin's creators (ROIAlign_TRT, which onnx-tensorrt maps ONNX RoiAlign to, among them)."""
        registry._creators |= {("ROIAlign_TRT", "1", namespace), ("EfficientNMS_TRT", "1", namespace)}
        return True

    class IExecutionContext(_Rec):
        def __init__(self, engine):
            self._rec, self._engine, self._addresses, self._input_shapes = rec, engine, {}, {}

        def set_input_shape(self, name, shape):
            self._input_shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name):
            spec = self._engine._spec(name)
            if spec["mode"] == "INPUT":
                return tuple(self._input_shapes.get(name, spec["shape"]))
            first = self._engine._io[0]
            return tuple(self._input_shapes.get(first["name"], first["shape"]))

        def set_tensor_address(self, name, memory):
            self._addresses[name] = memory
            return True

        def execute_async_v3(self, stream_handle):
            assert stream_handle == 7
            if cuda.capturing is not None and cuda.capture_fails:
                return False
            first = self._engine._io[0]
            shape = self.get_tensor_shape(first["name"])

            def compute():
                x = np.frombuffer(bytes(cuda.memory[self._addresses[first["name"]]]), TRT_TO_NP[first["dtype"]])
                y = (x.astype(np.float32) * 0.5).reshape(shape)
                cuda.memory[self._addresses["out"]][:] = y.tobytes()

            cuda.enqueue("exec", compute)
            return True

    class ICudaEngine(_Rec):
        def __init__(self, plan):
            self._rec, self._io = rec, plan["io"]

        def _spec(self, name):
            return next(t for t in self._io if t["name"] == name)

        @property
        def num_io_tensors(self):
            return len(self._io)

        def get_tensor_name(self, index):
            return self._io[index]["name"]

        def get_tensor_mode(self, name):
            return getattr(object.__getattribute__(module, "_enum")("TensorIOMode"), self._spec(name)["mode"])

        def get_tensor_dtype(self, name):
            return EnumValue("DataType", self._spec(name)["dtype"], 0)

        def get_tensor_shape(self, name):
            return tuple(self._spec(name)["shape"])

        def create_execution_context(self):
            return IExecutionContext(self)

    class Runtime(_Rec):
        def __init__(self, logger):
            self._rec = rec
            rec.calls.append(("Runtime.__init__", 1, ()))

        def deserialize_cuda_engine(self, serialized_engine):
            return ICudaEngine(json.loads(bytes(serialized_engine)))

    def nptype(trt_type):
        return TRT_TO_NP[trt_type.name]

    def get_plugin_registry():
        return registry

    classes = dict(Logger=Logger, ILogger=ILogger, Builder=Builder, OnnxParser=OnnxParser, Runtime=Runtime, nptype=nptype,
                   get_plugin_registry=get_plugin_registry, init_libnvinfer_plugins=init_libnvinfer_plugins)
    if major == 10:
        classes.update(float32=float32, float16=float16)
        class IInt8EntropyCalibrator2:
            def __init__(self):
                pass

        classes["IInt8EntropyCalibrator2"] = IInt8EntropyCalibrator2

    class FakeTensorRT:
        __version__ = version
        registry_ = registry

        def _enum(self, name):
            return FakeEnum(Recorder(), name, enums[name])  # internal use: not recorded

        def __getattribute__(self, name):
            if name == "__version__" or not name.startswith("_"):
                rec.names.add(name)
            if name in enums:
                return FakeEnum(rec, name, enums[name])
            if name in classes:
                value = classes[name]
                functions = ("nptype", "get_plugin_registry", "init_libnvinfer_plugins")
                return _wrap(rec, name, value) if name in functions else value
            return object.__getattribute__(self, name)

    module = FakeTensorRT()
    return module, rec
