#!/usr/bin/python3
"""A hospital's first order, with a gRPC client that is not BloodGrid's own.

Uses Debian's python3-grpcio: compiles protos/bloodgrid/v1/*.proto with the system protoc and
grpc_python_plugin into a temporary directory (scripts/lib/bloodgrid_protos.py), then, as a
hospital, asks for availability, places an order for red cells and reads it back through the gateway.

    tests/e2e/hospital_client.py --target 127.0.0.1:50050 --token <hospital token> \
        --abo A --rhd POSITIVE --units 2

Exits 0 when the order was placed (ALLOCATED, PARTIALLY_ALLOCATED or IN_REVIEW) and reads back
the same; prints what it did. Any gRPC error exits 1 with the status.
"""
import argparse
import datetime
import os
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
from bloodgrid_protos import load  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50050")
    parser.add_argument("--token", required=True, help="a hospital's bearer token")
    parser.add_argument("--abo", default="O", choices=["O", "A", "B", "AB"])
    parser.add_argument("--rhd", default="POSITIVE", choices=["POSITIVE", "NEGATIVE"])
    parser.add_argument("--units", type=int, default=2)
    args = parser.parse_args()

    import grpc  # Debian's python3-grpcio

    pb = load()
    common, request_pb = pb.common, pb.request
    hospital_pb, hospital_grpc = pb.hospital_api, pb.hospital_api_grpc
    metadata = [("authorization", "Bearer " + args.token)]
    with grpc.insecure_channel(args.target) as channel:
        api = hospital_grpc.HospitalApiStub(channel)
        try:
            availability = api.GetAvailability(
                hospital_pb.GetAvailabilityRequest(component=common.COMPONENT_RED_CELLS),
                metadata=metadata, timeout=20)
            in_stock = sum(c.units for c in availability.counts)
            print("red-cell bags available in the region:", in_stock)

            needed_by = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=6)
            order_request = request_pb.PlaceOrderRequest(
                request_id=str(uuid.uuid4()),
                patient=request_pb.Patient(
                    patient_ref="MRN-PY-" + uuid.uuid4().hex[:8],
                    blood_type=common.BloodType(
                        abo=common.AboGroup.Value("ABO_GROUP_" + args.abo),
                        rhd=common.RhD.Value("RH_D_" + args.rhd)),
                    sex=common.SEX_FEMALE, age_years=58, hemoglobin_g_l=64.0),
                lines=[request_pb.OrderLineRequest(component=common.COMPONENT_RED_CELLS,
                                                   quantity=args.units)],
                priority=common.PRIORITY_URGENT,
                indication="acute blood loss",
                approvals=request_pb.OrderApprovals(physician="Dr. Wang"))
            order_request.needed_by.FromDatetime(needed_by)
            order = api.PlaceOrder(order_request, metadata=metadata, timeout=20)
            status = request_pb.OrderStatus.Name(order.status)
            print("placed order", order.order_id, "for hospital", order.hospital_id, status)
            for line in order.lines:
                for unit in line.units:
                    print("  unit", unit.din, common.Component.Name(unit.component),
                          "from", unit.station_id)
            if status not in ("ORDER_STATUS_ALLOCATED", "ORDER_STATUS_PARTIALLY_ALLOCATED",
                              "ORDER_STATUS_IN_REVIEW"):
                print("unexpected order status", status)
                return 1

            again = api.GetOrder(request_pb.GetOrderRequest(order_id=order.order_id),
                                 metadata=metadata, timeout=20)
            if again.order_id != order.order_id or again.status != order.status:
                print("GetOrder returned a different order:", again)
                return 1
            retried = api.PlaceOrder(order_request, metadata=metadata, timeout=20)
            if retried.order_id != order.order_id:
                print("a retry with the same request_id made a second order")
                return 1
            print("read back", again.order_id, request_pb.OrderStatus.Name(again.status),
                  "(a retry returned the same order)")
        except grpc.RpcError as error:
            print("gRPC error:", error.code().name, error.details())
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
