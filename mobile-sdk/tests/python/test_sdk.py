"""The SDK's Python bindings (uniffi) against the real server: register with a software
passkey, sync, read with the server stopped, queue a booking offline, restart the server and
see it applied exactly once; a practice retraction removes the result from the store; a
revoked device's store is wiped."""

import asyncio
import json
import pathlib

import pytest

from gp_online_sdk import GpOnline, SdkConfig, SdkError, SdkEvent, SdkListener, Section, Trust
from passkey import SoftPasskey


def run(coroutine):
    return asyncio.run(coroutine)


class Events(SdkListener):
    def __init__(self):
        self.seen = []

    def on_event(self, event):
        self.seen.append(event)


def open_sdk(server, store: pathlib.Path) -> GpOnline:
    return GpOnline(SdkConfig(
        server_url=server.url,
        trust=Trust.PINNED_CA(pem=server.ca_pem),
        store_dir=str(store),
        key_material=bytes(range(32)),
        device_name="Python test phone",
    ))


def register(server, sdk: GpOnline, index: int) -> str:
    patient = server.demo["patients"][index]
    ceremony = run(sdk.begin_registration(patient["account_id"], patient["linkage_key"],
                                          patient["ods_code"], patient["family_name"],
                                          patient["date_of_birth"]))
    answer = SoftPasskey().register(server.origin, ceremony.options_json)
    run(sdk.finish_registration(ceremony.ceremony_id, answer))
    return sdk.profiles()[0].patient_id


def text(item, name):
    return item.fields[name].value


def files(store: pathlib.Path):
    return [p for p in store.iterdir() if p.is_file()] if store.exists() else []


def test_offline_booking_is_applied_exactly_once(server, tmp_path):
    store = tmp_path / "store"
    sdk = open_sdk(server, store)
    events = Events()
    sdk.set_listener(events)
    # A demo patient with results and one future appointment: the practice allows two, so
    # the booking fits under its limit (a third is refused with booking_limit_reached).
    patient = register(server, sdk, 4)
    report = run(sdk.sync_now())
    assert report.changed, report
    results = sdk.items(patient, Section.RESULTS)
    assert results, "the demo patient has results"
    assert any(isinstance(e, SdkEvent.SYNC_PROGRESS) and e.done for e in events.seen), events.seen
    slot = run(sdk.slots(patient))[0].id
    booked_before = len(sdk.items(patient, Section.APPOINTMENTS))

    server.stop()
    del sdk
    sdk = open_sdk(server, store)
    assert len(sdk.items(patient, Section.RESULTS)) == len(results)
    key = sdk.book(patient, slot, "Binding test")
    with pytest.raises(SdkError.Network):
        run(sdk.sync_now())
    assert [p.key for p in sdk.pending_intents()] == [key]

    server.start()
    report = run(sdk.sync_now())
    assert [(s.key, s.accepted) for s in report.settled] == [(key, True)], report
    run(sdk.sync_now())
    assert sdk.pending_intents() == []
    appointments = sdk.items(patient, Section.APPOINTMENTS)
    assert len(appointments) == booked_before + 1
    assert [text(a, "slot_id") for a in appointments].count(slot) == 1
    assert slot not in [s.id for s in run(sdk.slots(patient))], "the slot is taken"


def test_a_retraction_removes_the_result_and_revocation_wipes_the_store(server, tmp_path):
    store = tmp_path / "store"
    sdk = open_sdk(server, store)
    patient = register(server, sdk, 1)
    run(sdk.sync_now())
    results = sdk.items(patient, Section.RESULTS)
    assert results
    target = results[0].id

    # A clinician enrols with a passkey and retracts the result.
    begun = server.call("POST", "/api/v1/practice/enrolment/begin", "",
                        {"enrolment_code": server.enrolment_code})
    answer = SoftPasskey().register(server.origin, json.dumps(begun["public_key"]["publicKey"]))
    tokens = server.call("POST", "/api/v1/practice/enrolment/finish", "",
                         {"ceremony_id": begun["ceremony_id"], "credential": json.loads(answer)})
    server.call("POST", f"/api/v1/practice/results/{target}/retract", tokens["access_token"],
                {"reason": "Filed against the wrong patient"})

    report = run(sdk.sync_now())
    assert any(d.section == "results" for d in report.destroyed), report
    assert target not in [r.id for r in sdk.items(patient, Section.RESULTS)]

    device = next(d for d in run(sdk.devices()) if d.current)
    run(sdk.revoke_device(device.id))
    with pytest.raises(SdkError.Revoked):
        run(sdk.sync_now())
    assert not sdk.is_signed_in()
    assert sdk.items(patient, Section.RESULTS) == []
    assert files(store) == []
