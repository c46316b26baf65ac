"""Loads BloodGrid's .proto files into Python with Debian's protoc and grpc_python_plugin.

    from bloodgrid_protos import load
    pb = load()          # pb.common, pb.request, pb.hospital_api, pb.hospital_api_grpc, ...

Compiles protos/bloodgrid/v1/*.proto into a temporary directory once per process; no generated
code is kept in the repository.
"""
import atexit
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import types

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(ROOT, "protos")
_MODULES = ["common", "policy", "donor", "inventory", "request", "hospital_api", "admin_api",
            "dispatch_api"]


def load():
    out_dir = tempfile.mkdtemp(prefix="bloodgrid_py_")
    atexit.register(shutil.rmtree, out_dir, True)
    protos = sorted(os.path.join("bloodgrid", "v1", name)
                    for name in os.listdir(os.path.join(PROTO_DIR, "bloodgrid", "v1"))
                    if name.endswith(".proto"))
    subprocess.run(["/usr/bin/protoc", "-I", PROTO_DIR, "-I", "/usr/include",
                    "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"] + protos,
                   check=True, cwd=PROTO_DIR)
    for package in ("bloodgrid", os.path.join("bloodgrid", "v1")):
        open(os.path.join(out_dir, package, "__init__.py"), "a").close()
    sys.path.insert(0, out_dir)
    pb = types.SimpleNamespace()
    for name in _MODULES:
        setattr(pb, name, importlib.import_module("bloodgrid.v1.%s_pb2" % name))
        setattr(pb, name + "_grpc", importlib.import_module("bloodgrid.v1.%s_pb2_grpc" % name))
    return pb
