"""No calls home: the ONNX runtimes' telemetry is switched off before they are imported (issue 31, item 5).

A tool that processes people's photos must not contact anyone unasked. Measured before this (strace, HOME pointed
at an empty folder): `import onnxruntime` creates ~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,
onnxruntime.db} (its 1DS telemetry), and `import openvino` looks up a name server for www.google-analytics.com and
writes ~/intel/{openvino_ga_cid,stats} (OpenVINO's model-conversion API `openvino.tools.ovc`, imported by
`openvino` itself, sends an "import" event through the optional `openvino-telemetry` package).

The switches, set when `deblurkeras` is imported (so before either runtime, unless the caller imported it first):
- ONNX Runtime: the environment variable ORT_DISABLE_TELEMETRY=1 (read by libonnxruntime when it starts; the Python
  call `onnxruntime.disable_telemetry_events()` comes too late: the files are written at import). A value the user
  set is kept.
- OpenVINO: its only documented opt-out, `opt_in_out --opt_out`, writes a consent file into the user's home, so
  instead `openvino_telemetry` is made unimportable in this process (sys.modules entry None): OpenVINO then uses
  its own stub (`openvino/tools/ovc/telemetry_stub.py`), as it does when the optional package is not installed.
  Nothing is written, nothing is looked up.
tests/test_no_calls_home.py runs both engines with the network denied and HOME empty and checks both stay so.
"""
import os
import sys


def no_telemetry():
    """Set the switches above (idempotent; a runtime imported before this call keeps what it started with)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    if "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # `import openvino_telemetry` -> ImportError -> OpenVINO's stub
