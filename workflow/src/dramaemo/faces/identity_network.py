"""dlib's face descriptor network (``dlib_face_recognition_resnet_model_v1.dat``) without
dlib's slow forward pass: the same weights and arithmetic, batched.

dlib-bin's own forward pass costs about 0.1 s a face on one core (its convolutions use no
BLAS and a batch is no faster). ``read_network`` reads the weights from dlib's serialized
file and ``DescriptorNetwork`` builds the network from them in TensorFlow (about 10 ms of
CPU a face); ``write_litert`` converts that graph once into a LiteRT model, which
``LiteDescriptorNetwork`` runs (XNNPACK, about 7 ms a face on one thread, and no
TensorFlow to import in the jobs that describe faces). Both take aligned 150x150 chips
(dlib's ``get_face_chip``) and equal dlib's ``compute_face_descriptor`` within float
rounding (tests/test_characters.py).

The network (dlib's dnn_face_recognition_ex.cpp): a 7x7 convolution, max pooling, then
residual blocks at 32, 64, 128 and 256 filters and a 128-d linear map of the average over
the last map. Facts of dlib that the port keeps: a stride-2 convolution or pooling has no
padding; batch normalisation is a fixed per-channel affine map (folded into the
convolution here); a residual sum of maps of different sizes zero-pads the smaller one at
the bottom, right and last channels (dlib's ``add_prev``), which happens where an 8x8 map
meets its 3x3 strided convolution and its 4x4 average pooling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dramaemo.core.errors import UserError

CHIP_SIDE, CHIP_PADDING = 150, 0.25  # dlib's compute_face_descriptor
DESCRIPTOR_SIZE = 128
CHANNEL_MEANS = np.array([122.782, 117.001, 104.298], dtype=np.float32)  # dlib's input_rgb_image
CHANNEL_SCALE = 256.0
# Residual blocks of two convolutions each: 3 at 32 filters, then at 64, 128, 256 and 256
# a stride-2 block followed by 3, 2, 2 and 0 more.
BLOCKS = 3 + 4 + 3 + 3 + 1
CONVOLUTIONS = 1 + 2 * BLOCKS
_CON, _AFFINE, _FC = b"con_4", b"affine_", b"fc_2"


class _Reader:
    """dlib's serialization: integers as a size byte (0x80: negative) and little-endian
    bytes, strings as their length and bytes, tensors as version 2, four dimensions and
    little-endian float32 values, aliases as version 1 and four dimensions."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.position = data, path, 0

    def fail(self, what: str):
        raise UserError(f"{self.path}: not dlib's face descriptor network ({what} at byte {self.position})")

    def integer(self) -> int:
        if self.position >= len(self.data):
            self.fail("the end of the file")
        head = self.data[self.position]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.position + 1 : self.position + 1 + size], "little")
        self.position += 1 + size
        return -value if head & 0x80 else value

    def tensor(self) -> np.ndarray:
        if self.integer() != 2:
            self.fail("a tensor of another version")
        shape = [self.integer() for _ in range(4)]
        count = int(np.prod(shape))
        if self.position + 4 * count > len(self.data):
            self.fail("a tensor past the end")
        values = np.frombuffer(self.data, "<f4", count, self.position)
        self.position += 4 * count
        return values.astype(np.float32)

    def alias(self) -> list[int]:
        if self.integer() != 1:
            self.fail("an alias of another version")
        return [self.integer() for _ in range(4)]

    def find(self, name: bytes) -> None:
        """Move past the next serialized string ``name``."""
        marker = bytes([0x01, len(name)]) + name
        found = self.data.find(marker, self.position)
        if found < 0:
            self.fail(f"no {name.decode()} layer")
        self.position = found + len(marker)


def read_network(path) -> dict:
    """The network's weights: ``convolutions``, a list in forward order of (kernel HWIO,
    bias, stride) with each convolution's affine map folded in, and ``projection`` (256, 128)."""
    path = Path(path)
    reader = _Reader(path.read_bytes(), path)
    convolutions = []
    for _ in range(CONVOLUTIONS):
        reader.find(_CON)
        params = reader.tensor()
        filters, rows, columns, stride, _, padding, _ = (reader.integer() for _ in range(7))
        kernel_shape, bias_shape = reader.alias(), reader.alias()
        inputs = kernel_shape[1]
        if kernel_shape != [filters, inputs, rows, columns] or bias_shape != [1, filters, 1, 1]:
            reader.fail(f"a convolution of shape {kernel_shape}")
        if padding != (rows // 2 if stride == 1 else 0):
            reader.fail(f"padding {padding} for stride {stride}")
        size = filters * inputs * rows * columns
        kernel = params[:size].reshape(filters, inputs, rows, columns).transpose(2, 3, 1, 0)
        bias = params[size : size + filters]
        reader.find(_AFFINE)
        affine = reader.tensor()
        if reader.alias() != [1, filters, 1, 1]:
            reader.fail("an affine map of another size")
        reader.alias()
        gamma, beta = affine[:filters], affine[filters : 2 * filters]
        convolutions.append((kernel * gamma, bias * gamma + beta, stride))
    reader.find(_FC)
    outputs, inputs = reader.integer(), reader.integer()
    projection = reader.tensor()
    if (inputs, outputs) != (256, DESCRIPTOR_SIZE) or projection.size != inputs * outputs:
        reader.fail(f"a final layer of {inputs} -> {outputs}")
    return {"convolutions": convolutions, "projection": projection.reshape(inputs, outputs)}


def _add_padded(a, b):
    """dlib's add_prev: the sum of two NHWC maps, the smaller zero-padded at the end of
    each dimension."""
    import tensorflow as tf

    shape_a, shape_b = a.shape[1:], b.shape[1:]
    target = [max(x, y) for x, y in zip(shape_a, shape_b)]

    def pad(t, shape):
        return tf.pad(t, [[0, 0]] + [[0, want - have] for want, have in zip(target, shape)])

    return pad(a, shape_a) + pad(b, shape_b)


class DescriptorNetwork:
    """The network on aligned RGB chips (N, CHIP_SIDE, CHIP_SIDE, 3) uint8 -> (N, DESCRIPTOR_SIZE), in batches."""

    def __init__(self, path, *, batch_size: int):
        import tensorflow as tf

        weights = read_network(path)
        self._convolutions = [
            (tf.constant(kernel), tf.constant(bias), stride)
            for kernel, bias, stride in weights["convolutions"]
        ]
        self._projection = tf.constant(weights["projection"])
        self.batch_size = batch_size
        self._forward = tf.function(
            self._graph, input_signature=[tf.TensorSpec([None, CHIP_SIDE, CHIP_SIDE, 3], tf.uint8)]
        )

    def _convolve(self, x, number):
        import tensorflow as tf

        kernel, bias, stride = self._convolutions[number]
        padding = "SAME" if stride == 1 else "VALID"
        return tf.nn.conv2d(x, kernel, stride, padding) + bias

    def _graph(self, chips):
        import tensorflow as tf

        x = (tf.cast(chips, tf.float32) - CHANNEL_MEANS) / CHANNEL_SCALE
        x = tf.nn.relu(self._convolve(x, 0))
        x = tf.nn.max_pool2d(x, 3, 2, "VALID")
        for number in range(1, CONVOLUTIONS, 2):
            down = self._convolutions[number][2] == 2
            y = self._convolve(tf.nn.relu(self._convolve(x, number)), number + 1)
            shortcut = tf.nn.avg_pool2d(x, 2, 2, "VALID") if down else x
            x = tf.nn.relu(_add_padded(y, shortcut))
        return tf.reduce_mean(x, axis=[1, 2]) @ self._projection

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        chips = np.asarray(chips, dtype=np.uint8).reshape(-1, CHIP_SIDE, CHIP_SIDE, 3)
        out = [
            self._forward(chips[start : start + self.batch_size]).numpy()
            for start in range(0, len(chips), self.batch_size)
        ]
        return np.concatenate(out).astype(np.float64) if out else np.empty((0, DESCRIPTOR_SIZE))


def write_litert(network_path, output) -> Path:
    """Convert dlib's network file into a LiteRT model at ``output`` (atomically), for
    ``LiteDescriptorNetwork``; the batch size is left free."""
    import tensorflow as tf

    network = DescriptorNetwork(network_path, batch_size=1)
    signature = tf.TensorSpec([None, CHIP_SIDE, CHIP_SIDE, 3], tf.uint8)
    graph = tf.function(network._graph, input_signature=[signature]).get_concrete_function()
    flatbuffer = tf.lite.TFLiteConverter.from_concrete_functions([graph], network).convert()
    output = Path(output)
    partial = output.with_name(f".{output.name}.partial")
    partial.write_bytes(flatbuffer)
    partial.replace(output)
    return output


class LiteDescriptorNetwork:
    """``write_litert``'s model on aligned RGB chips (N, CHIP_SIDE, CHIP_SIDE, 3) uint8 ->
    (N, DESCRIPTOR_SIZE), ``batch_size`` chips at a time on ``threads`` threads (one per
    worker process: a batch of 8-16 costs 30% less a face than single chips)."""

    def __init__(self, path, *, batch_size: int, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
        except ValueError as error:
            raise UserError(
                f"{path}: not a LiteRT model ({error}); delete it and run "
                "`python -m dramaemo fetch-identity --output` on its folder to build it again"
            ) from None
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._size = None
        self.batch_size = batch_size

    def _forward(self, chips: np.ndarray) -> np.ndarray:
        if self._size != len(chips):
            self._interpreter.resize_tensor_input(self._input, list(chips.shape))
            self._interpreter.allocate_tensors()
            self._size = len(chips)
        self._interpreter.set_tensor(self._input, chips)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).astype(np.float64)

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        chips = np.ascontiguousarray(chips, dtype=np.uint8).reshape(-1, CHIP_SIDE, CHIP_SIDE, 3)
        out = [
            self._forward(chips[start : start + self.batch_size])
            for start in range(0, len(chips), self.batch_size)
        ]
        return np.concatenate(out) if out else np.empty((0, DESCRIPTOR_SIZE))
