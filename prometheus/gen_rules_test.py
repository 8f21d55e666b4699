#!/usr/bin/env python3
# Generates redismw.rules.test.yml, the promtool unit tests of the shipped
# rules, from the timelines of the incidents below:
#
#   cd prometheus && python3 gen_rules_test.py > redismw.rules.test.yml && promtool test rules redismw.rules.test.yml
#
# Each incident is a function of time (1 s steps) for every series the rules
# read, shaped like what examples/basic exports through the same incident
# (5 s read_timeout, 2 s AttemptTimeout, 5 s Breaker.Timeout, 20 requests/s).

APP = 'job="app", instance="app-1:8080"'
POOL = 'db_client_connection_pool_name="redis:6379/0"'
CONN = 'db_system_name="redis", server_address="redis", server_port="6379"'
REASONS = ["circuit_open", "connect_failed", "wait_budget", "closed", "deadline", "command_failed", "pool_timeout", "overload"]
FTYPES = ["timeout", "connection_refused"]  # the others exist at 0 too; two suffice here

def enc(vals):
    """Encodes a list of per-sample values in promtool's notation."""
    out = []
    i = 0
    n = len(vals)
    while i < n:
        v = vals[i]
        if v == "stale":
            j = i
            while j < n and vals[j] == "stale":
                j += 1
            out.append("stale")  # one marker: the series stays absent after it
            break
        # arithmetic run
        j = i + 1
        if j < n and vals[j] != "stale":
            d = vals[j] - v
            while j < n and vals[j] != "stale" and vals[j] - vals[j - 1] == d:
                j += 1
        else:
            d = 0
        L = j - i
        if L == 1:
            out.append(fmt(v))
        elif d == 0:
            out.append(f"{fmt(v)}x{L-1}")
        else:
            out.append(f"{fmt(v)}{'+' if d >= 0 else ''}{fmt(d)}x{L-1}")
        i = j
    return " ".join(out)

def fmt(x):
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    return str(x)

def cumulative(per_second):
    c, out = 0, []
    for v in per_second:
        c += v
        out.append(c)
    return out

def series(name, labels, vals):
    return f"      - series: '{name}{{{labels}}}'\n        values: '{enc(vals)}'\n"

def app_series(T, unusable, start, nextprobe, state, failures, admitted, rejected, reasons, used, timeouts, up=None, stale_from=None, app=APP,
               shed=lambda t: 0, limit=lambda t: 20, inflight=lambda t: 2):
    """Every series the rules read, for one instance. Arguments are
    functions of t (seconds); shed is how many commands and requests load
    shedding refused in second t, limit and inflight its gauges."""
    def col(f):
        v = [f(t) for t in range(T + 1)]
        if stale_from is not None:
            v = [x if t < stale_from else "stale" for t, x in enumerate(v)]
        return v
    s = ""
    if up is not None:
        s += series("up", app, [up(t) for t in range(T + 1)])
    L = f"{app}, {POOL}, {CONN}"
    s += series("redismw_unusable", L, col(unusable))
    s += series("redismw_unusable_start_time_seconds", L, col(start))
    s += series("redismw_circuit_next_probe_time_seconds", L, col(nextprobe))
    for st in ["closed", "half-open", "open"]:
        s += series("redismw_circuit_state", f'{L}, redismw_circuit_current="{st}"', col(lambda t, st=st: 1 if state(t) == st else 0))
    for et in FTYPES:
        s += series("redismw_connect_attempts_total", f'{L}, redismw_outcome="failure", error_type="{et}"', col(lambda t, et=et: failures(t).get(et, 0)))
    s += series("redismw_connect_attempts_total", f'{L}, redismw_outcome="success"', col(lambda t: 1))
    ML = f"{app}, {POOL}"
    s += series("redismw_middleware_requests_total", f'{ML}, redismw_request_outcome="admitted"', col(cum(admitted)))
    s += series("redismw_middleware_requests_total", f'{ML}, redismw_request_outcome="rejected"', col(cum(rejected)))
    for r in REASONS:
        s += series("redismw_middleware_rejections_total", f'{ML}, redismw_rejection_reason="{r}"', col(cum(lambda t, r=r: reasons(t).get(r, 0))))
    s += series("db_client_connection_count", f'{L}, db_client_connection_state="used"', col(used))
    s += series("db_client_connection_count", f'{L}, db_client_connection_state="idle"', col(lambda t: 20 - used(t) if used(t) < 20 else 0))
    s += series("db_client_connection_max", L, col(lambda t: 20))
    s += series("db_client_connection_timeouts_total", L, col(timeouts))
    s += series("redismw_overload_shed_total", L, col(cum(shed)))
    s += series("redismw_overload_limit", L, col(limit))
    s += series("redismw_overload_inflight", L, col(inflight))
    return s

def cum(f):
    cache = {}
    def g(t):
        if t not in cache:
            cache[t] = (g(t - 1) if t > 0 else 0) + f(t)
        return cache[t]
    return g

def steps(times):
    """A counter that goes up by one at each of times."""
    return lambda t: sum(1 for x in times if x <= t)

def between(a, b):
    """True from a (included) to b (excluded)."""
    return lambda t: a <= t < b

def openstate(t, trip, close, half):
    if t < trip or t >= close:
        return "closed"
    return "half-open" if t in half else "open"

AL = 'job: app\n              instance: app-1:8080\n              db_client_connection_pool_name: redis:6379/0'

def alert(name, t, exp):
    s = f"      - eval_time: {t}s\n        alertname: {name}\n"
    if not exp:
        return s + "        exp_alerts: []\n"
    s += "        exp_alerts:\n"
    for labels, ann in exp:
        s += "          - exp_labels:\n"
        for k, v in labels.items():
            s += f"              {k}: {v}\n"
        s += "            exp_annotations:\n"
        for k, v in ann.items():
            s += f"              {k}: \"{v}\"\n"
    return s

RUN = "https://github.com/ankitoon/redismw/blob/main/docs/operating.md#"
BASE = {"job": "app", "instance": "app-1:8080", "db_client_connection_pool_name": "redis:6379/0"}

def unusable_alert(instance="app-1:8080"):
    return (dict(BASE, severity="critical"), {
        "summary": "Redis redis:6379/0 is unusable for app on app-1:8080",
        "description": "For 30 s or more every request that needs this Redis gets 503 (or no client when failing open). redismw_unusable_start_time_seconds says when it began, redismw_circuit_next_probe_time_seconds when the connector probes next.",
        "runbook_url": RUN + "redismwunusable"})

def connect_alert():
    return (dict(BASE, severity="warning"), {
        "summary": "Connects to Redis redis:6379/0 failed for app on app-1:8080",
        "description": "Connect attempts failed in the last 5 minutes; redismw:connect_failures:increase5m has them by error_type.",
        "runbook_url": RUN + "redismwconnectfailures"})

def ratio_alert(reason):
    return ({"job": "app", "db_client_connection_pool_name": "redis:6379/0", "redismw_rejection_reason": reason, "severity": "warning"}, {
        "summary": f"app rejects more than 5 % of its requests for {reason} (Redis redis:6379/0)",
        "description": "redismw:rejections:ratio_rate5m is the share of requests rejected with this reason over 5 minutes.",
        "runbook_url": RUN + "redismwrejectionratiohigh"})

def missing_alert(instance):
    return ({"job": "app", "instance": instance, "severity": "warning"}, {
        "summary": f"app on {instance} no longer exports redismw metrics",
        "description": "The alerts above cannot fire for this instance while its redismw metrics are missing.",
        "runbook_url": RUN + "redismwmetricsmissing"})

def shedding_alert():
    return (dict(BASE, severity="warning"), {
        "summary": "Redis redis:6379/0 is slower than the load of app on app-1:8080: requests are shed",
        "description": SHEDDING_DESCRIPTION,
        "runbook_url": RUN + "redismwshedding"})

SHEDDING_DESCRIPTION = ("For 5 minutes Redis has served this connector's commands more slowly than they arrived, and every minute some were refused at once "
    "(503 + Retry-After, reason overload). Redis is up and the circuit closed: this is overload, not an outage. Find what slows Redis "
    "(SLOWLOG GET, its CPU, big keys, a BGSAVE or AOF rewrite fork: INFO persistence) or what raised the load; "
    "redismw_overload_limit is how many commands Redis is let have in flight now, redismw_overload_inflight how many it has.")

ALERTS = ["RedismwUnusable", "RedismwConnectFailures", "RedismwRejectionRatioHigh", "RedismwPoolExhausted", "RedismwMetricsMissing", "RedismwShedding"]

def silent(times, names=ALERTS):
    return "".join(alert(n, t, []) for t in times for n in names)

W = 400  # warm-up: the service has run for longer than every rule's window
RATE = 20  # requests per second

def test(title, T, series_text, alerts_text, promql=""):
    s = f"  # {title}\n  - interval: 1s\n    input_series:\n{series_text}"
    s += "    alert_rule_test:\n" + alerts_text
    if promql:
        s += "    promql_expr_test:\n" + promql
    return s

out = []

# 1. A 50 s hang (Redis accepts, never answers) with probes. The commands
# load shedding admitted (the first second's) wait and time out after
# read_timeout (5 s); the others are shed at once (reason overload) until
# the check trips the circuit, 10 s (2 × read_timeout) into the hang;
# then one probe per open period (100 ms doubling to 5 s), each holding the
# circuit half-open for its 2 s attempt, so that circuit_state{open} is 1 in
# only some samples; the probe after the hang closes it.
h0, trip = W, W + 10
probes = [trip + x for x in (0.1, 2.3, 4.7, 7.5, 11.1, 16.3, 23.3, 30.3, 37.3)]  # each hangs 2 s and fails
close = W + 55  # the probe at W+44.3 succeeds: the hang ended at W+50
half = set()
for p in probes:
    half |= {int(p) + 1, int(p) + 2} if p - int(p) > 0.5 else {int(p) + 1}
fails = [int(p + 2) for p in probes]
def nextprobe_hang(t):
    if t < trip or t >= close or t in half:
        return 0
    later = [p for p in probes + [W + 44.3] if p > t]
    return later[0] if later else 0
T = W + 450
txt = app_series(T,
    unusable=lambda t: 1 if trip <= t < close else 0,
    start=lambda t: trip if trip <= t < close else 0,
    nextprobe=nextprobe_hang,
    state=lambda t: openstate(t, trip, close, half),
    failures=lambda t: {"timeout": steps(fails)(t)},
    admitted=lambda t: RATE if not (h0 + 1 <= t < close) else 0,
    rejected=lambda t: RATE if h0 + 1 <= t < close else 0,
    reasons=lambda t: {"circuit_open": RATE} if trip <= t < close else ({"overload": RATE} if h0 + 1 <= t < trip else {}) | ({"command_failed": RATE} if t == h0 + 5 else {}),
    used=lambda t: 20 if h0 + 1 <= t < trip else 2,
    timeouts=lambda t: 0,
    up=lambda t: 1,
    shed=lambda t: RATE if h0 + 1 <= t < trip else 0,
    inflight=lambda t: 20 if h0 + 1 <= t < h0 + 5 else 2)
al = silent([trip - 1])
al += alert("RedismwUnusable", trip + 25, [])          # pending, not firing yet
al += alert("RedismwUnusable", trip + 31, [unusable_alert()])
al += alert("RedismwUnusable", close + 5, [])          # resolved
al += alert("RedismwConnectFailures", fails[0] + 65, [connect_alert()])
al += alert("RedismwRejectionRatioHigh", trip + 160, [ratio_alert("circuit_open")])  # overload (180 of 6 000) and command_failed (20) stay below 5 %
al += silent([trip + 31, trip + 160, close + 200], ["RedismwPoolExhausted", "RedismwMetricsMissing", "RedismwShedding"])
pq = f"""      - expr: redismw:outage_duration:seconds
        eval_time: {trip + 20}s
        exp_samples:
          - labels: 'redismw:outage_duration:seconds{{{APP}, {POOL}, {CONN}}}'
            value: 20
      - expr: redismw:outage_duration:seconds
        eval_time: {close + 1}s
        exp_samples: []
      - expr: redismw:unusable:max
        eval_time: {trip + 20}s
        exp_samples:
          - labels: 'redismw:unusable:max{{job="app", {POOL}}}'
            value: 1
      - expr: redismw:connect_failures:increase5m{{error_type="timeout"}}
        eval_time: {close + 1}s
        exp_samples:
          - labels: 'redismw:connect_failures:increase5m{{job="app", {POOL}, error_type="timeout"}}'
            value: 9
      - expr: redismw:connect_failures:increase5m{{error_type="connection_refused"}}
        eval_time: {close + 1}s
        exp_samples:
          - labels: 'redismw:connect_failures:increase5m{{job="app", {POOL}, error_type="connection_refused"}}'
            value: 0
"""
out.append(test("A 50 s hang with probes: RedismwUnusable (after 30 s), RedismwConnectFailures and RedismwRejectionRatioHigh{circuit_open} fire; the pool and metrics alerts stay silent, and so does RedismwShedding (9 s of sheds before the trip).", T, txt, al, pq))

# 2. Redis killed for 45 s, then restarted. Commands fail at once (refused),
# the check confirms within a second and trips the circuit; probes are
# refused at once (never half-open for a whole sample), growing from 100 ms
# to 5 s apart; the first probe after the restart closes the circuit.
def kill(length):
    k0, trip = W, W + 1
    probes = [trip + x for x in (0.1, 0.3, 0.7, 1.5, 3.1, 6.3, 11.3, 16.3, 21.3, 26.3, 31.3, 36.3, 41.3, 46.3)]
    back = k0 + length
    ok = [p for p in probes if p >= back][0]
    fails = [int(p) for p in probes if p < back]
    close = int(ok) + 1
    def nextprobe(t):
        if t < trip or t >= close:
            return 0
        return [p for p in probes if p > t][0]
    return trip, close, fails, app_series(W + 450,
        unusable=lambda t: 1 if trip <= t < close else 0,
        start=lambda t: trip if trip <= t < close else 0,
        nextprobe=nextprobe,
        state=lambda t: openstate(t, trip, close, set()),
        failures=lambda t: {"connection_refused": steps(fails)(t)},
        admitted=lambda t: RATE if not (k0 <= t < close) else 0,
        rejected=lambda t: RATE if trip <= t < close else 0,
        reasons=lambda t: {"circuit_open": RATE} if trip <= t < close else ({"command_failed": RATE} if t == k0 else {}),
        used=lambda t: 2,
        timeouts=lambda t: 0,
        up=lambda t: 1)
trip, close, fails, txt = kill(45)
al = alert("RedismwUnusable", trip + 31, [unusable_alert()])
al += alert("RedismwUnusable", close + 5, [])
al += alert("RedismwConnectFailures", fails[0] + 65, [connect_alert()])
al += alert("RedismwRejectionRatioHigh", trip + 160, [ratio_alert("circuit_open")])
al += silent([trip + 31, trip + 160], ["RedismwPoolExhausted", "RedismwMetricsMissing", "RedismwShedding"])
out.append(test("Redis killed for 45 s: RedismwUnusable, RedismwConnectFailures and RedismwRejectionRatioHigh{circuit_open} fire.", W + 450, txt, al))

trip, close, fails, txt = kill(10)
al = silent([trip + 31, close + 30], ["RedismwUnusable"])
al += alert("RedismwConnectFailures", fails[0] + 65, [connect_alert()])
al += silent([trip + 160, close + 200], ["RedismwRejectionRatioHigh", "RedismwPoolExhausted", "RedismwMetricsMissing", "RedismwShedding"])
out.append(test("Redis killed for 10 s: too short to page (RedismwUnusable stays pending and resolves; 240 rejections of 6 000 requests stay under 5 %), but RedismwConnectFailures warns.", W + 450, txt, al))

# 3. The app starts while Redis hangs. The first connect's three attempts
# (2 s each) fail while the circuit stays closed; the next connect's two
# more trip it at 10 s; then probes as in the hang, until Redis answers at
# 120 s. redismw_unusable is 1 from the first failed attempt (2 s), while
# circuit_state{closed} is still 1, and its start stays there across the
# trip.
T = 450
first, trip = 2, 11
probes = [10.5 + x for x in (0, 2.2, 4.6, 7.4, 11.0, 16.2, 23.2, 30.2, 37.2, 44.2, 51.2, 58.2, 65.2, 72.2, 79.2, 86.2, 93.2, 100.2, 107.2)]
ok_at = [p for p in probes if p >= 120][0] if [p for p in probes if p >= 120] else 121
close = 123
half = set()
for p in probes:
    if p < 120:
        half |= {int(p) + 1, int(p) + 2}
fails = [2, 4, 6, 8, 10] + [int(p + 2) for p in probes if p + 2 < 120]
def np_cold(t):
    if t < trip or t >= close or t in half:
        return 0
    later = [p for p in probes if p > t]
    return later[0] if later else 0
txt = app_series(T,
    unusable=lambda t: 1 if first <= t < close else 0,
    start=lambda t: first if first <= t < close else 0,
    nextprobe=np_cold,
    state=lambda t: openstate(t, trip, close, half),
    failures=lambda t: {"timeout": steps(fails)(t)},
    admitted=lambda t: RATE if t >= close else 0,
    rejected=lambda t: RATE if t < close else 0,
    reasons=lambda t: ({"connect_failed": RATE} if t < trip else {"circuit_open": RATE}) if t < close else {},
    used=lambda t: 0 if t < close else 2,
    timeouts=lambda t: 0,
    up=lambda t: 1)
al = alert("RedismwUnusable", first + 31, [unusable_alert()])
al += alert("RedismwConnectFailures", first + 65, [connect_alert()])
al += alert("RedismwRejectionRatioHigh", 140, [ratio_alert("circuit_open"), ratio_alert("connect_failed")])
al += silent([first + 31, 140], ["RedismwPoolExhausted", "RedismwMetricsMissing", "RedismwShedding"])
pq = f"""      - expr: redismw_circuit_state{{redismw_circuit_current="closed"}} == 1 and on (job, instance, db_client_connection_pool_name) redismw_unusable == 1
        eval_time: 8s
        exp_samples:
          - labels: 'redismw_circuit_state{{{APP}, {POOL}, {CONN}, redismw_circuit_current="closed"}}'
            value: 1
      - expr: redismw:outage_duration:seconds
        eval_time: 40s
        exp_samples:
          - labels: 'redismw:outage_duration:seconds{{{APP}, {POOL}, {CONN}}}'
            value: 38
"""
out.append(test("A failing cold start (Redis hung from the start for 120 s): RedismwUnusable fires though the circuit stayed closed for the first 11 s; RedismwConnectFailures and RedismwRejectionRatioHigh for connect_failed and circuit_open fire.", T, txt, al, pq))

# 4. A 2 s stall the service rides out (a Lua script): every connection is
# in use for 2 s, the commands admitted wait, none times out, no failure,
# the circuit stays closed; what arrives past the limit in the stall's
# second second is shed (reason overload). Nothing fires.
T = W + 400
txt = app_series(T,
    unusable=lambda t: 0, start=lambda t: 0, nextprobe=lambda t: 0,
    state=lambda t: "closed", failures=lambda t: {},
    admitted=lambda t: RATE if t != W + 1 else 0, rejected=lambda t: RATE if t == W + 1 else 0,
    reasons=lambda t: {"overload": RATE} if t == W + 1 else {},
    used=lambda t: 20 if W <= t < W + 2 else 2,
    timeouts=lambda t: 0, up=lambda t: 1,
    shed=lambda t: RATE if t == W + 1 else 0,
    inflight=lambda t: 20 if W <= t < W + 2 else 2)
al = silent([W + 1, W + 3, W + 35, W + 70, W + 130, W + 300])
out.append(test("A 2 s stall that the service rides out: every connection in use for 2 s, no timeout, 20 requests shed: every alert stays silent.", T, txt, al))

# 5. Metrics missing. app-1's scrapes fail from 400 s (up 0, its series go
# stale); app-2 is scaled down at 400 s (its up series goes too); app-3 is
# scraped but exports no redismw metrics from 400 s (its connector was
# closed). app-1 and app-3 fire after 5 minutes; app-2 does not.
T = W + 400
healthy = dict(unusable=lambda t: 0, start=lambda t: 0, nextprobe=lambda t: 0,
    state=lambda t: "closed", failures=lambda t: {},
    admitted=lambda t: RATE, rejected=lambda t: 0, reasons=lambda t: {},
    used=lambda t: 2, timeouts=lambda t: 0)
txt = app_series(T, up=lambda t: 1 if t < W else 0, stale_from=W, app='job="app", instance="app-1:8080"', **healthy)
txt += app_series(T, up=lambda t: 1 if t < W else "stale", stale_from=W, app='job="app", instance="app-2:8080"', **healthy)
txt += app_series(T, up=lambda t: 1, stale_from=W, app='job="app", instance="app-3:8080"', **healthy)
al = alert("RedismwMetricsMissing", W - 1, [])
al += alert("RedismwMetricsMissing", W + 200, [])  # pending
al += alert("RedismwMetricsMissing", W + 310, [missing_alert("app-1:8080"), missing_alert("app-3:8080")])
al += silent([W + 310], ["RedismwUnusable", "RedismwConnectFailures", "RedismwRejectionRatioHigh", "RedismwPoolExhausted", "RedismwShedding"])
out.append(test("Metrics missing: a failing scrape (app-1) and a process without redismw metrics (app-3) fire after 5 minutes; a scaled-down instance (app-2) does not.", T, txt, al))

# 6. The pool exhausted: commands time out waiting for a connection.
T = W + 200
txt = app_series(T, up=lambda t: 1,
    unusable=lambda t: 0, start=lambda t: 0, nextprobe=lambda t: 0,
    state=lambda t: "closed", failures=lambda t: {},
    admitted=lambda t: RATE, rejected=lambda t: 0,
    reasons=lambda t: {"pool_timeout": 5} if W <= t < W + 90 else {},
    used=lambda t: 20 if W <= t < W + 90 else 2,
    timeouts=lambda t: 0 if t < W + 6 else 5 * min(t - W - 5, 85))
al = alert("RedismwPoolExhausted", W + 30, [])
al += alert("RedismwPoolExhausted", W + 70, [(dict(BASE, severity="warning"), {
    "summary": "The Redis pool redis:6379/0 of app on app-1:8080 is exhausted",
    "description": "Commands found no free connection within pool_timeout, or every connection has been in use for a minute.",
    "runbook_url": RUN + "redismwpoolexhausted"})])
al += alert("RedismwRejectionRatioHigh", W + 100, [])  # pending: above 5 % since W+60
al += alert("RedismwRejectionRatioHigh", W + 190, [ratio_alert("pool_timeout")])
al += silent([W + 70, W + 190], ["RedismwUnusable", "RedismwConnectFailures", "RedismwMetricsMissing", "RedismwShedding"])
out.append(test("The pool exhausted for 90 s (a traffic burst): RedismwPoolExhausted, and RedismwRejectionRatioHigh{pool_timeout} (450 of 6 000); Redis itself is fine.", T, txt, al))

# 7. Redis slower than the load for 8 minutes (a CPU-starved node, a big
# key read by every request): it serves 12 of the 20 requests a second in
# time; the limit sinks from 20 to 4 and stays full; the 8 others are
# refused at once by the middleware (reason overload). The circuit stays
# closed, nothing fails. RedismwShedding fires after 5 minutes and
# resolves a minute after the shedding ends; RedismwRejectionRatioHigh
# {overload} (40 %) fires too.
T = W + 700
S, E = W, W + 480
slow = between(S, E)
txt = app_series(T, up=lambda t: 1,
    unusable=lambda t: 0, start=lambda t: 0, nextprobe=lambda t: 0,
    state=lambda t: "closed", failures=lambda t: {},
    admitted=lambda t: 12 if slow(t) else RATE, rejected=lambda t: 8 if slow(t) else 0,
    reasons=lambda t: {"overload": 8} if slow(t) else {},
    used=lambda t: 4 if slow(t) else 2, timeouts=lambda t: 0,
    shed=lambda t: 8 if slow(t) else 0,
    limit=lambda t: 4 if slow(t) else 20,
    inflight=lambda t: 4 if slow(t) else 2)
al = alert("RedismwShedding", S + 290, [])  # pending
al += alert("RedismwShedding", S + 310, [shedding_alert()])
al += alert("RedismwShedding", E - 1, [shedding_alert()])
al += alert("RedismwShedding", E + 70, [])
al += alert("RedismwRejectionRatioHigh", S + 200, [ratio_alert("overload")])
al += silent([S + 310, E + 70], ["RedismwUnusable", "RedismwConnectFailures", "RedismwPoolExhausted", "RedismwMetricsMissing"])
out.append(test("Redis slower than the load for 8 minutes, 8 of 20 requests a second shed: RedismwShedding fires after 5 minutes and resolves after; RedismwRejectionRatioHigh{overload} fires; the circuit and outage alerts stay silent.", T, txt, al))

# 8. Shedding too little to show in the rejection ratio: one request a
# second of 40 refused (2.5 %) for 8 minutes, Redis just at its capacity.
# RedismwShedding fires; RedismwRejectionRatioHigh does not.
txt = app_series(T, up=lambda t: 1,
    unusable=lambda t: 0, start=lambda t: 0, nextprobe=lambda t: 0,
    state=lambda t: "closed", failures=lambda t: {},
    admitted=lambda t: 39 if slow(t) else RATE, rejected=lambda t: 1 if slow(t) else 0,
    reasons=lambda t: {"overload": 1} if slow(t) else {},
    used=lambda t: 8 if slow(t) else 2, timeouts=lambda t: 0,
    shed=lambda t: 1 if slow(t) else 0,
    limit=lambda t: 8 if slow(t) else 20,
    inflight=lambda t: 8 if slow(t) else 2)
al = alert("RedismwShedding", S + 310, [shedding_alert()])
al += silent([S + 310, E - 1], ["RedismwRejectionRatioHigh", "RedismwUnusable", "RedismwPoolExhausted"])
out.append(test("Redis just at its capacity for 8 minutes, 1 request of 40 shed a second (2.5 %): RedismwShedding fires, RedismwRejectionRatioHigh stays silent.", T, txt, al))

# 9. A 30 s episode (a BGSAVE fork of a big dataset stalls Redis): 8 of 20
# requests a second shed for 30 s, then none. Too short to warn about:
# RedismwShedding stays pending and resolves; the rejection ratio (240 of
# 6 000) stays under 5 %.
E = S + 30
slow = between(S, E)
txt = app_series(T, up=lambda t: 1,
    unusable=lambda t: 0, start=lambda t: 0, nextprobe=lambda t: 0,
    state=lambda t: "closed", failures=lambda t: {},
    admitted=lambda t: 12 if slow(t) else RATE, rejected=lambda t: 8 if slow(t) else 0,
    reasons=lambda t: {"overload": 8} if slow(t) else {},
    used=lambda t: 4 if slow(t) else 2, timeouts=lambda t: 0,
    shed=lambda t: 8 if slow(t) else 0,
    limit=lambda t: 4 if slow(t) else 20,
    inflight=lambda t: 4 if slow(t) else 2)
al = silent([S + 60, S + 200, S + 310, S + 400])
out.append(test("A 30 s shedding episode (a fork): RedismwShedding stays pending and resolves; every alert stays silent.", T, txt, al))

print("""# promtool test rules redismw.rules.test.yml — the shipped rules against
# series shaped like the real ones, one test per incident: each series is
# what examples/basic exports (names and labels as its exporter writes
# them) through that incident, sampled every second. Generated by
# gen_rules_test.py, where each incident's timeline is described: edit it
# and regenerate. Series values use promtool's expanding notation: "a+bxn"
# is a, a+b, … a+n·b; "axn" is a repeated n+1 times; "stale" ends a series.
rule_files:
  - redismw.rules.yml
evaluation_interval: 1s
tests:
""" + "\n".join(out), end="")
