#!/usr/bin/env python3
"""POST /score and GET /score/{id} on a short backfill of the three
services and the gateway (free loopback ports), then examples/detector.py
against the gateway. Labels are read from each service's database (the
stdlib sqlite3 module), so every expected count is computed here from the
same events. Exit 0: all passed; 1: a check failed; 77: skipped."""

import http.client
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BUILD = os.environ.get("BM_BUILD_DIR", "build")
SOURCE = os.environ.get("BM_SOURCE_DIR", ".")
SERVICES = [("transaction", "transaction_id"), ("auth", "event_id"),
            ("monitoring", "event_id")]
FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILED.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, body, raw=None, ctype="application/json"):
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/score" % port, data=data,
                                 headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def wait_backfilled(port, gateway=False):
    for _ in range(600):
        try:
            st, h = get(port, "/health")
            b = h.get("backfill", {})
            if st == 200 and (gateway or b.get("done") == b.get("total")):
                return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return False


def events_of(db, to):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    rows = [json.loads(b) for (b,) in con.execute("SELECT body FROM events ORDER BY seq")]
    con.close()
    return [e for e in rows if e["timestamp"] < to]


def by_incident(events, idf):
    inc = {}
    for e in events:
        if e["is_anomaly"]:
            inc.setdefault(e["incident_id"] or e[idf], []).append(e)
    return inc


def test_service(port, events, idf, fr, to):
    inwin = [e for e in events if fr <= e["timestamp"] < to]
    anom = [e for e in inwin if e["is_anomaly"]]
    normal = [e for e in inwin if not e["is_anomaly"]]
    incs = by_incident(inwin, idf)

    st, a = post(port, {"detections": [{"event_id": e[idf]} for e in anom],
                        "from": fr, "to": to})
    o = a.get("overall", {})
    check(st == 200 and all(o[l][k] == 1.0 for l in ("event", "incident")
                            for k in ("precision", "recall", "f1")),
          "%d perfect detector: precision, recall, F1 1.0 at both levels" % port)
    check(st == 200 and o["event"]["tp"] == len(anom) and o["event"]["tn"] == len(normal)
          and o["incident"]["total"] == len(incs),
          "%d perfect detector: TP %d, TN %d, incidents %d" % (port, len(anom), len(normal),
                                                               len(incs)))
    check(st == 200 and a["overall"]["nab"]["score"] > 99.0,
          "%d perfect detector: NAB score 100 (got %s)"
          % (port, a.get("overall", {}).get("nab", {}).get("score")))
    perfect = a

    st, a = post(port, {"detections": [], "from": fr, "to": to})
    check(st == 200 and a["overall"]["event"]["recall"] == 0.0
          and a["overall"]["incident"]["recall"] == 0.0
          and a["overall"]["event"]["fn"] == len(anom),
          "%d empty detector: recall 0" % port)

    st, g = get(port, "/score/" + perfect.get("score_id", "x"))
    check(st == 200 and g == perfect, "%d GET /score/{id} returns the stored result" % port)
    st, _ = get(port, "/score/no-such-id")
    check(st == 404, "%d GET /score/<unknown> is 404" % port)
    st, m = get(port, "/metrics?format=json")
    check(st == 200 and m.get("last_score", {}).get("score_id") == a["score_id"],
          "%d /metrics shows the last score" % port)
    return perfect


def test_rule(port, events, fr, to):
    flagged = [e for e in events if e["amount"] > 10000]
    inwin = [e for e in events if fr <= e["timestamp"] < to]
    fl_in = [e for e in flagged if fr <= e["timestamp"] < to]
    tp = sum(1 for e in fl_in if e["is_anomaly"])
    fp = len(fl_in) - tp
    fn = sum(1 for e in inwin if e["is_anomaly"]) - tp
    tn = sum(1 for e in inwin if not e["is_anomaly"]) - fp
    incs = by_incident(inwin, "transaction_id")
    found = sum(1 for evs in incs.values() if any(e["amount"] > 10000 for e in evs))
    st, a = post(port, {"detections": [{"transaction_id": e["transaction_id"]} for e in flagged],
                        "from": fr, "to": to})
    e, i = a.get("overall", {}).get("event", {}), a.get("overall", {}).get("incident", {})
    want = {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    check(st == 200 and all(e[k] == v for k, v in want.items()),
          "amount > 10000: event counts %s (got %s)" % (want, {k: e.get(k) for k in want}))
    check(st == 200 and i["tp"] == found and i["fn"] == len(incs) - found,
          "amount > 10000: incidents found %d of %d" % (found, len(incs)))
    out = len(flagged) - len(fl_in)
    d = a.get("detections", {})
    check(st == 200 and d["outside_window"]["count"] == out and d["scored"] == len(fl_in)
          and len(d["outside_window"]["first"]) == min(out, 5),
          "amount > 10000: %d ids outside the window reported" % out)


def test_bad(port, some_id, fr, to):
    cases = [
        ("unknown id", {"detections": [{"event_id": "no-such-event"}]}, 422, "detections"),
        ("over 100,000", {"detections": [{"event_id": some_id}] * 100001}, 422, "detections"),
        ("from after to", {"detections": [], "from": to, "to": fr}, 422, "from"),
        ("before the store", {"detections": [], "from": "2020-01-01T00:00:00Z"}, 422, "from"),
        ("after the store", {"detections": [], "to": "2030-01-01T00:00:00Z"}, 422, "to"),
        ("bad time", {"detections": [], "from": "yesterday"}, 422, "from"),
        ("unknown field", {"detections": [], "foo": 1}, 422, "foo"),
        ("two ids", {"detections": [{"event_id": some_id, "incident_id": "x"}]}, 422,
         "detections[0]"),
        ("unknown type", {"detections": [{"event_id": some_id, "type": "nope"}]}, 422,
         "detections[0].type"),
        ("no detections", {"from": fr}, 422, "detections"),
    ]
    for name, body, status, field in cases:
        st, a = post(port, body)
        err = a.get("error", {})
        check(st == status and err.get("field") == field,
              "bad input (%s): %d field %s (got %d %s)" % (name, status, field, st,
                                                         err.get("field")))
    st, a = post(port, None, raw=b"{\"detections\": [")
    check(st == 400 and a["error"]["code"] == "invalid_json", "malformed body: 400")
    # Announced over the cap: answered before any of it is sent.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.putrequest("POST", "/score")
    c.putheader("Content-Type", "application/json")
    c.putheader("Content-Length", str(16 * 1024 * 1024 + 1))
    c.endheaders()
    r = c.getresponse()
    check(r.status == 413 and json.loads(r.read())["error"]["code"] == "payload_too_large",
          "a body over 16 MiB: 413")
    c.close()


def test_gateway(gw, ports, all_events, fr, to):
    dets = []
    for (svc, idf), evs in zip(SERVICES, all_events):
        anom = [e for e in evs if e["is_anomaly"]]
        norm = [e for e in evs if not e["is_anomaly"]]
        dets += [{"event_id": e[idf]} for e in anom[::2]] + [{"event_id": e[idf]}
                                                           for e in norm[:20]]
    body = {"detections": dets, "from": fr, "to": to}
    st, g = post(gw, body)
    check(st == 200, "gateway POST /score: 200 (got %d %s)" % (st, str(g)[:200]))
    if st != 200:
        return
    total = {k: 0 for k in ("tp", "fp", "fn", "tn")}
    inc = {k: 0 for k in ("total", "tp", "fn")}
    for p in ports:
        st, a = post(p, dict(body, unknown_ids="report"))
        for k in total:
            total[k] += a["overall"]["event"][k]
        for k in inc:
            inc[k] += a["overall"]["incident"][k]
    check(all(g["overall"]["event"][k] == v for k, v in total.items()),
          "gateway event counts are the services' summed: %s" % total)
    check(all(g["overall"]["incident"][k] == v for k, v in inc.items()),
          "gateway incident counts are the services' summed: %s" % inc)
    check(g["detections"]["received"] == len(dets) and g["detections"]["unknown"] == 0,
          "gateway: every detection found its service")
    st, k = get(gw, "/score/" + g["score_id"])
    check(st == 200 and k == g, "gateway GET /score/{id} returns the kept result")
    st, a = post(gw, {"detections": [{"event_id": "nobody-has-this"}]})
    check(st == 422 and a["error"]["field"] == "detections", "gateway: unknown id is 422")
    st, m = get(gw, "/metrics?format=json")
    check(m.get("last_score", {}).get("score_id") == g["score_id"],
          "gateway /metrics shows the last score")


def test_detector(gw):
    r = subprocess.run([sys.executable, os.path.join(SOURCE, "examples", "detector.py"),
                        "--gateway", "http://127.0.0.1:%d" % gw, "--duration", "2"],
                       capture_output=True, text=True, timeout=120)
    print(r.stdout)
    check(r.returncode == 0, "examples/detector.py exits 0 (stderr: %s)" % r.stderr[-300:])
    check("overall" in r.stdout and "suspicious_high_amount" in r.stdout
          and "score " in r.stdout, "examples/detector.py prints the table")


def main():
    bindir = os.path.join(BUILD, "bin")
    if not os.path.exists(os.path.join(bindir, "api-gateway")):
        print("no binaries in %s" % bindir)
        return 77
    tmp = tempfile.mkdtemp(prefix="bm-score-")
    procs = []
    ports = [free_port() for _ in SERVICES]
    gw = free_port()
    try:
        for (svc, _), port in zip(SERVICES, ports):
            procs.append(subprocess.Popen(
                [os.path.join(bindir, svc + "-service"), "--port", str(port), "--bind",
                 "127.0.0.1", "--db", os.path.join(tmp, svc + ".db"), "--seed", "11",
                 "--start-time", "2026-01-05T00:00:00Z", "--backfill", "10m"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(
            [os.path.join(bindir, "api-gateway"), "--port", str(gw), "--bind", "127.0.0.1"] +
            sum([["--%s-url" % s, "http://127.0.0.1:%d" % p]
                 for (s, _), p in zip(SERVICES, ports)], []),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for p in ports + [gw]:
            if not wait_backfilled(p, p == gw):
                check(False, "process on port %d up (and backfilled)" % p)
                return 1
        fr, to = "2026-01-05T00:01:00.000Z", "2026-01-05T00:08:00.000Z"
        all_events = [events_of(os.path.join(tmp, s + ".db"), "2026-01-05T00:10:00.000Z")
                      for s, _ in SERVICES]
        for (svc, idf), p, evs in zip(SERVICES, ports, all_events):
            test_service(p, evs, idf, fr, to)
        test_rule(ports[0], all_events[0], fr, to)
        test_bad(ports[0], all_events[0][0]["transaction_id"], fr, to)
        test_gateway(gw, ports, all_events, fr, to)
        test_detector(gw)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d check(s) failed" % len(FAILED) if FAILED else "all checks passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
