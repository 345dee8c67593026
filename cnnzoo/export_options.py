"""What an export can be asked for: its formats, quantizations, and the checks' defaults.

Kept apart from the exporters (`cnnzoo.export_formats`) and free of imports, so that
the command line offers these choices without starting TensorFlow.
"""

from __future__ import annotations

import dataclasses

FORMATS = ("savedmodel", "onnx", "litert", "openvino")
QUANTIZATIONS = ("int8", "float16")
VERIFY_DATA = ("test", "random", "none")
# Verification: the first 256 test images (issue 18), split in batches of 64.
VERIFY_IMAGES = 256
# int8 calibration: 500 training images (issue 18's default), enough for the
# converter's min/max ranges to settle on CIFAR-10-sized nets.
CALIBRATION_IMAGES = 500
# Top-1 agreement with the Keras model below which an export fails (issue 18).
# Float exports compute what Keras computes up to summation order and float16
# weight rounding, so they must agree on 99.9% (with 256 images: on all of them).
# int8 rounds every activation to 256 levels and flips the top-1 class of the
# images whose two best classes are close: on 256 CIFAR-10 test images the shipped
# wu2016_cifar (75% top-1) agreed on 96.5-99.2% depending on the calibration images
# (500 or 100 training images, 500 random ones), lenet5 on 100%. 95% passes that
# noise; a broken quantization (wrong ranges, a mis-converted layer) agrees on far less.
MIN_AGREEMENT = {None: 0.999, "float16": 0.999, "int8": 0.95}


@dataclasses.dataclass(frozen=True)
class ExportChecks:
    """What an export is verified and calibrated with.

    Attributes:
        data: "test" (the model's dataset's test split), "random" (seeded random
            images, for a model whose dataset is not at hand) or "none" (no check).
        count: how many images the check classifies.
        min_agreement: the top-1 agreement below which the export fails, in [0, 1];
            None: `MIN_AGREEMENT` of the quantization.
        data_dir: the dataset's files (`cnnzoo.pipelines.sources.load_dataset`).
        calibration_count: training images of an int8 export's representative dataset.
    """

    data: str = "test"
    count: int = VERIFY_IMAGES
    min_agreement: float | None = None
    data_dir: str | None = None
    calibration_count: int = CALIBRATION_IMAGES
