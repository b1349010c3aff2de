"""openlfr: open, accountable live facial recognition."""

import os

# ONNX Runtime (1.29 and later) keeps usage telemetry on Linux: a device id and a queue of events
# under ~/.cache for upload to Microsoft, naming the host, the program and the models it loads.
# openlfr stands alone, so that is off before the runtime is first imported (docs/security.md).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = "0.1.0"
