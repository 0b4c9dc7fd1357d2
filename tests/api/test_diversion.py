"""Diversion detection through the API: scan clusters outside a batch's regions raise one alert each,
receipt alerts are listed beside them, and the brand triages both."""

from __future__ import annotations

import pytest

from tests.factories import scan

SHENZHEN = (22.5431, 114.0579)
SHANGHAI = (31.2304, 121.4737)


def run_jobs(app):
    result = app.test_cli_runner().invoke(args=["jobs", "run-due"])
    assert result.exit_code == 0 and "diversion_detection:" in result.output, result.output


@pytest.fixture
def goods(api, app, monkeypatch):
    """Ten bottles assigned to Shanghai, and stores (which place scans in a region) in Shenzhen and Shanghai."""
    monkeypatch.setitem(app.config, "INSIGHT_SETTLE_SECONDS", 0)
    brand = api.brand("Bright Dairy")
    api.store(lat=SHENZHEN[0], lng=SHENZHEN[1], region_code="440305")
    api.store(lat=SHANGHAI[0], lng=SHANGHAI[1], region_code="310101")
    batch = api.batch(brand, quantity=10, region_codes=["310000"], distributor="华东配送中心")
    return {"brand": brand, "batch": batch, "codes": api.codes(brand, batch)}


def scan_at(api, codes, place, consumers):
    for code, consumer in zip(codes, consumers):
        scan(api, consumer, code["token"], lat=place[0] + 0.001, lng=place[1] + 0.001)


def alerts(api, brand, query=""):
    return api.get(f"/api/v1/brand/diversion-alerts{query}", who=brand, expect=200).json["items"]


def test_one_odd_scan_is_not_an_alert(api, app, goods):
    scan_at(api, goods["codes"][:1], SHENZHEN, [api.consumer()])
    run_jobs(app)
    assert alerts(api, goods["brand"]) == []


def test_scans_inside_the_assigned_regions_are_not_an_alert(api, app, goods):
    scan_at(api, goods["codes"][:5], SHANGHAI, [api.consumer() for _ in range(5)])
    run_jobs(app)
    assert alerts(api, goods["brand"]) == []


def test_one_consumer_scanning_many_items_is_not_a_cluster(api, app, goods):
    ann = api.consumer()
    scan_at(api, goods["codes"][:5], SHENZHEN, [ann] * 5)
    run_jobs(app)
    assert alerts(api, goods["brand"]) == []


def test_three_consumers_scanning_in_another_region_raise_one_alert_with_its_evidence(api, app, goods):
    scan_at(api, goods["codes"][:3], SHENZHEN, [api.consumer() for _ in range(3)])
    run_jobs(app)
    run_jobs(app)
    (alert,) = alerts(api, goods["brand"])
    assert (alert["kind"], alert["status"], alert["batch_id"]) == ("scan_cluster", "open", goods["batch"]["id"])
    assert (alert["expected_regions"], alert["seen_region"], alert["distributor"]) == (
        ["310000"],
        "440305",
        "华东配送中心",
    )
    evidence = alert["evidence"]
    assert evidence["codes"] == sorted(c["serial"] for c in goods["codes"][:3])
    assert evidence["consumers"] == 3 and evidence["first_at"].endswith("Z") and evidence["last_at"].endswith("Z")
    assert alert["created_at"].endswith("Z") and isinstance(alert["id"], str)
    # the cluster grows: the same alert shows it, no second alert
    scan_at(api, goods["codes"][3:5], SHENZHEN, [api.consumer() for _ in range(2)])
    run_jobs(app)
    (again,) = alerts(api, goods["brand"])
    assert again["id"] == alert["id"] and again["evidence"]["consumers"] == 5


def test_thresholds_are_the_brands_own(api, app, goods):
    brand = goods["brand"]
    assert api.get("/api/v1/brand/diversion-rules", who=brand, expect=200).json["min_consumers"] == 3
    rule = {"radius_m": 2000, "window_minutes": 60, "min_consumers": 2}
    assert api.client.put("/api/v1/brand/diversion-rules", json=rule, headers=brand.headers).json == rule
    scan_at(api, goods["codes"][:2], SHENZHEN, [api.consumer() for _ in range(2)])
    run_jobs(app)
    assert len(alerts(api, brand)) == 1
    bad = api.client.put("/api/v1/brand/diversion-rules", json={**rule, "min_consumers": 1}, headers=brand.headers)
    assert bad.status_code == 422 and "min_consumers" in bad.json["error"]["fields"]


def test_triage_open_acknowledged_confirmed_with_a_note(api, app, goods):
    brand = goods["brand"]
    scan_at(api, goods["codes"][:3], SHENZHEN, [api.consumer() for _ in range(3)])
    run_jobs(app)
    (alert,) = alerts(api, brand)
    path = f"/api/v1/brand/diversion-alerts/{alert['id']}"
    seen = api.post(path, {"status": "acknowledged", "note": "Asking the distributor"}, who=brand, expect=200).json
    assert (seen["status"], seen["note"]) == ("acknowledged", "Asking the distributor") and seen["triaged_at"]
    assert alerts(api, brand, "?status=open") == []
    assert [a["id"] for a in alerts(api, brand, "?status=acknowledged")] == [alert["id"]]
    done = api.post(path, {"status": "confirmed", "note": "Shipped to Shenzhen"}, who=brand, expect=200).json
    assert done["status"] == "confirmed"
    assert api.post(path, {"status": "dismissed"}, who=brand, expect=409).json["error"]["code"] == "alert_settled"
    assert api.post(path, {"status": "open"}, who=brand, expect=422).json["error"]["fields"]["status"]
    other = api.brand()
    assert api.post(path, {"status": "dismissed"}, who=other).status_code == 404
    assert alerts(api, other) == []
    assert api.post("/api/v1/brand/diversion-alerts/nope", {"status": "dismissed"}, who=brand).status_code == 404


def test_receipt_alerts_are_listed_and_triaged_beside_scan_clusters(api, app):
    brand = api.brand()
    beijing = api.store(region_code="110101", lat=39.9, lng=116.4, partner_of=brand)
    cases = api.batch(brand, quantity=1, kind="case", region_codes=["310000"])
    api.post("/api/v1/store/receipts", {"code": api.codes(brand, cases)[0]["token"]}, who=beijing, expect=200)
    (alert,) = alerts(api, brand)
    assert (alert["kind"], alert["status"], alert["store_id"], alert["seen_region"]) == (
        "receipt",
        "open",
        beijing.id,
        "110101",
    )
    assert alert["case"] == alert["serial"] and alert["evidence"]["store_id"] == beijing.id
    path = f"/api/v1/brand/diversion-alerts/{alert['id']}"
    assert (
        api.post(path, {"status": "dismissed", "note": "A sample"}, who=brand, expect=200).json["status"] == "dismissed"
    )
