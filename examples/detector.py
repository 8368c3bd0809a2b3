#!/usr/bin/env python3
"""A toy anomaly detector for bankmock: a starting point to copy.

It follows the api-gateway's merged stream (GET /events?since=<cursor>),
flags events by three simple rules, posts its detections to the gateway's
POST /score, and prints the scores as a table.

Rules:
  - a transaction over 10,000 (any currency)        -> suspicious_high_amount
  - the 5th auth failure from one IP within 60 s    -> brute_force
  - a monitoring metric_value over 90 (a percentage) -> no type given

Python standard library only.

  python3 examples/detector.py --gateway http://localhost:8080 --duration 30
"""

import argparse
import collections
import json
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

PAGE = 1000
FAILS_PER_IP = 5
FAIL_WINDOW_S = 60.0


def parse_ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def call(url, body=None, token=None, timeout=60):
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


class Detector:
    def __init__(self):
        self.detections = []
        self.fails = collections.defaultdict(collections.deque)  # ip -> failure times
        self.first = None
        self.last = None

    def flag(self, ev, typ=None):
        d = {"event_id": ev.get("transaction_id") or ev["event_id"],
             "detected_at": ev["timestamp"]}
        if typ:
            d["type"] = typ
        self.detections.append(d)

    def see(self, ev):
        ts = parse_ts(ev["timestamp"])
        self.first = ts if self.first is None or ts < self.first else self.first
        self.last = ts if self.last is None or ts > self.last else self.last
        if "transaction_id" in ev:
            if (ev.get("amount") or 0) > 10000:
                self.flag(ev, "suspicious_high_amount")
        elif "username" in ev:
            if ev.get("result") == "failure" and ev.get("ip_address"):
                q = self.fails[ev["ip_address"]]
                q.append(ts)
                while q and (ts - q[0]).total_seconds() > FAIL_WINDOW_S:
                    q.popleft()
                if len(q) >= FAILS_PER_IP:
                    self.flag(ev, "brute_force")
        elif "metric_value" in ev:
            if (ev.get("metric_value") or 0) > 90 and ev.get("unit") == "percent":
                self.flag(ev)


def follow(args, det):
    cursor = 0
    seen = 0
    end = time.monotonic() + args.duration
    while True:
        page = call("%s/events?since=%d&limit=%d" % (args.gateway, cursor, PAGE))
        for ev in page["events"]:
            det.see(ev)
        seen += page["count"]
        cursor = page["next_since"]
        if time.monotonic() >= end:
            return seen
        if page["count"] < PAGE:
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))


def fmt(v, pct=False):
    if v is None:
        return "-"
    return "%.3f" % v


def table(ans):
    rows = [("overall", ans["overall"])] + sorted(ans["by_type"].items())
    head = "%-24s %7s %7s %7s %6s %6s %6s %9s %8s %7s" % (
        "type", "TP", "FP", "FN", "prec", "recall", "F1", "incidents", "ttd_p50", "NAB")
    print(head)
    print("-" * len(head))
    for name, r in rows:
        e, i, t = r["event"], r["incident"], r["time_to_detect"]
        print("%-24s %7d %7d %7d %6s %6s %6s %9s %8s %7s" % (
            name, e["tp"], e["fp"], e["fn"], fmt(e["precision"]), fmt(e["recall"]),
            fmt(e["f1"]), "%d/%d" % (i["tp"], i["total"]),
            "-" if t["median_s"] is None else "%.1fs" % t["median_s"],
            "-" if r["nab"]["score"] is None else "%.1f" % r["nab"]["score"]))
    d = ans["detections"]
    print("score %s: %d detections, %d scored, %d outside the window, %.2f FP/hour"
          % (ans["score_id"], d["received"], d["scored"], d["outside_window"]["count"],
             ans["overall"]["false_positives_per_hour"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gateway", default="http://127.0.0.1:8080", help="api-gateway base URL")
    ap.add_argument("--duration", type=float, default=30.0,
                    help="seconds to follow the stream before scoring")
    ap.add_argument("--token", default=None, help="ADMIN_TOKEN, if the gateway has one")
    args = ap.parse_args()
    args.gateway = args.gateway.rstrip("/")

    det = Detector()
    try:
        seen = follow(args, det)
        if det.first is None:
            print("no events seen", file=sys.stderr)
            return 1
        print("followed %d events, flagged %d" % (seen, len(det.detections)))
        body = {"detections": det.detections, "from": iso(det.first),
                "to": iso(det.last + timedelta(milliseconds=1))}
        ans = call(args.gateway + "/score", body, args.token)
    except urllib.error.HTTPError as e:
        print("HTTP %d: %s" % (e.code, e.read().decode(errors="replace")), file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, ValueError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    table(ans)
    return 0


if __name__ == "__main__":
    sys.exit(main())
