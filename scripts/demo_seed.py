#!/usr/bin/python3
"""Seeds a running BloodGrid with a small demo region through the public AdminApi.

Two stations (S1 central, S2 branch), two hospitals (H1 served by S1, H2 by S2, each falling
back on the other), par levels, and a few donors whose whole-blood donations are tested,
released and split into red cells and plasma, so hospitals can order at once.

    scripts/demo_seed.py --target 127.0.0.1:50050 --token <admin token>

Waits up to 60 s for the gateway and its backends. Safe to run twice: every call carries a
fixed request_id, so a second run changes nothing.
"""
import argparse
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from bloodgrid_protos import load  # noqa: E402

# Donors of the demo: (national id, name, sex, birth date, ABO, RhD, DIN).
# National ids carry a valid GB 11643 check digit; DINs are ISBT 128 for facility A9999.
DONORS = [
    ("11010519900307001", "Li Wei", "MALE", "1990-03-07", "O", "NEGATIVE", "A999926100001"),
    ("11010519881112002", "Wang Fang", "FEMALE", "1988-11-12", "O", "POSITIVE", "A999926100002"),
    ("11010519950521003", "Zhang Min", "MALE", "1995-05-21", "A", "POSITIVE", "A999926100003"),
    ("11010519920630004", "Liu Yang", "MALE", "1992-06-30", "B", "POSITIVE", "A999926100004"),
    ("11010519870904005", "Chen Jing", "FEMALE", "1987-09-04", "AB", "POSITIVE", "A999926100005"),
    ("11010519930215006", "Zhao Lei", "MALE", "1993-02-15", "A", "NEGATIVE", "A999926100006"),
]


def with_check_digit(id17):
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return id17 + "10X98765432"[sum(int(c) * w for c, w in zip(id17, weights)) % 11]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50050")
    parser.add_argument("--token", required=True, help="an admin bearer token")
    args = parser.parse_args()

    import grpc

    pb = load()
    c, inv, req, donor = pb.common, pb.inventory, pb.request, pb.donor
    metadata = [("authorization", "Bearer " + args.token)]
    channel = grpc.insecure_channel(args.target)
    admin = pb.admin_api_grpc.AdminApiStub(channel)

    def call(method, request, ok_codes=()):
        deadline = time.time() + 60
        while True:
            try:
                return method(request, metadata=metadata, timeout=20)
            except grpc.RpcError as error:
                if error.code() in ok_codes:
                    return None
                if error.code() == grpc.StatusCode.UNAVAILABLE and time.time() < deadline:
                    time.sleep(1)
                    continue
                raise

    for station_id, kind, name in (("S1", inv.STATION_KIND_CENTRAL, "Central Blood Station"),
                                   ("S2", inv.STATION_KIND_BRANCH, "Branch Station North")):
        call(admin.UpsertStation, inv.UpsertStationRequest(
            request_id="demo-station-" + station_id,
            station=inv.Station(station_id=station_id, name=name, kind=kind, active=True)))
        for abo in ("O", "A", "B", "AB"):
            for rhd in ("POSITIVE", "NEGATIVE"):
                call(admin.SetParLevel, inv.SetParLevelRequest(
                    request_id="demo-par-%s-%s-%s" % (station_id, abo, rhd), station_id=station_id,
                    component=c.COMPONENT_RED_CELLS,
                    blood_type=c.BloodType(abo=c.AboGroup.Value("ABO_GROUP_" + abo),
                                           rhd=c.RhD.Value("RH_D_" + rhd)),
                    minimum=4 if rhd == "POSITIVE" else 2, target=10 if rhd == "POSITIVE" else 4))
    for hospital_id, serving, fallback, name in (("H1", "S1", "S2", "City People's Hospital"),
                                                 ("H2", "S2", "S1", "North District Hospital")):
        call(admin.UpsertHospital, req.UpsertHospitalRequest(
            request_id="demo-hospital-" + hospital_id,
            hospital=req.Hospital(hospital_id=hospital_id, name=name, serving_station_id=serving,
                                  fallback_station_ids=[fallback], active=True)))

    collected = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=3)
    for id17, name, sex, birth, abo, rhd, din in DONORS:
        blood_type = c.BloodType(abo=c.AboGroup.Value("ABO_GROUP_" + abo),
                                 rhd=c.RhD.Value("RH_D_" + rhd))
        registered = call(admin.RegisterDonor, donor.RegisterDonorRequest(
            request_id="demo-donor-" + id17,
            donor=donor.Donor(national_id=with_check_digit(id17), name=name,
                              sex=c.Sex.Value("SEX_" + sex), birth_date=birth,
                              blood_type=blood_type, home_station_id="S1",
                              contact=donor.DonorContact(phone="13800138000"))))
        donation = donor.RecordDonationRequest(
            request_id="demo-donation-" + din, donor_id=registered.donor_id, din=din,
            donation_type=c.DONATION_TYPE_WHOLE_BLOOD, volume_ml=400, station_id="S1",
            screening=donor.DonorScreening(weight_kg=68, hemoglobin_g_l=142, systolic_mmhg=118,
                                           diastolic_mmhg=76, pulse_bpm=70))
        donation.collected_at.FromDatetime(collected)
        call(admin.RecordDonation, donation)
        results = [inv.TestResultInput(test=t, reactive=False) for t in (
            c.SCREENING_TEST_ALT, c.SCREENING_TEST_HBSAG, c.SCREENING_TEST_ANTI_HCV,
            c.SCREENING_TEST_ANTI_HIV, c.SCREENING_TEST_SYPHILIS)]
        results.append(inv.TestResultInput(test=c.SCREENING_TEST_ABO_RHD, blood_type=blood_type))
        call(admin.RecordTestResults,
             inv.RecordTestResultsRequest(request_id="demo-tests-" + din, din=din, results=results))
        call(admin.ProcessDonation, inv.ProcessDonationRequest(
            request_id="demo-process-" + din, din=din,
            components=[inv.ComponentSpec(component=c.COMPONENT_RED_CELLS),
                        inv.ComponentSpec(component=c.COMPONENT_PLASMA, volume_ml=200)]),
             ok_codes=(grpc.StatusCode.FAILED_PRECONDITION,))
        print("demo donor %-10s %-3s donation %s released and processed"
              % (name, abo + ("+" if rhd == "POSITIVE" else "-"), din))
    print("demo region ready: stations S1, S2; hospitals H1, H2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
